"""The published training launchers on tiny data in each authors' layout (bashes/misc/launcher_check.bash),
and the VoxCeleb launchers' settings."""
import json
import os
import re
import subprocess

import pytest

from conftest import REPO_ROOT
from datasets import tiny_layouts

CHECK = REPO_ROOT / "bashes" / "misc" / "launcher_check.bash"
LAUNCHERS = REPO_ROOT / "bashes" / "TwoStreamVAN"


def bash(script, *args, env=None, timeout=1800):
    """Run `bash script args...` with extra environment `env`; returns the CompletedProcess."""
    return subprocess.run(["bash", str(script), *args], env=dict(os.environ, **(env or {})), capture_output=True,
                          text=True, timeout=timeout)


def test_unknown_launcher_name_is_a_usage_error():
    result = bash(CHECK, "Kinetics")
    assert result.returncode == 2 and "unknown argument 'Kinetics'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Weizmann", "MUG", "SynAction", "VoxCeleb"])
def test_launcher_trains_two_iterations_on_tiny_data(tmp_path, name):
    result = bash(CHECK, "--keep", name, env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(rf"^{name}Train\.bash +ok +[0-9.]+ s ", result.stdout, re.M), result.stdout
    assert "\n1 ok, 0 failed\n" in result.stdout
    work = re.search(r"^kept (.+)$", result.stdout, re.M).group(1)
    exp = os.path.join(work, name, "exp")
    assert os.path.isfile(os.path.join(exp, "checkpoints", name, "latest.pth"))
    options = json.load(open(os.path.join(exp, "checkpoints", name, "options.json")))
    assert (options["total_iters"], options["batch_size"], options["crop"]) == (2, 16, True)
    if name == "VoxCeleb":  # the eval launcher on the run just trained
        data = os.path.join(work, name, "data")
        evaluated = bash(LAUNCHERS / "VoxCelebEval.bash", "--which_iter", "latest", "--num_per_class", "2",
                         "--eval_batch", "2", "--val_num", "1", env={"DATAROOT": data, "EXP_ROOT": exp})
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        out = os.path.join(exp, "results", "VoxCeleb", "iter_2")
        for protocol in ("unconditional", "conditional"):
            assert os.path.isfile(os.path.join(out, protocol, "video.npy"))


@pytest.mark.slow
def test_a_failing_launcher_is_reported(tmp_path):
    result = bash(CHECK, "MUG", "--", "--batch_size", "1000", env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 1
    assert re.search(r"^MUGTrain\.bash +failed ", result.stdout, re.M), result.stdout
    assert "--batch_size 1000 is larger than the training split" in result.stdout  # the end of its output
    assert "0 ok, 1 failed" in result.stdout and "kept " in result.stdout


@pytest.mark.slow
def test_voxceleb_launcher_settings_and_pass_through(tmp_path):
    data = tiny_layouts.generate("voxceleb", str(tmp_path / "VoxCeleb"))["root"]
    env = {"DATAROOT": data, "EXP_ROOT": str(tmp_path / "exp")}
    result = bash(LAUNCHERS / "VoxCelebTrain.bash", "--dry_run", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads(result.stdout.rsplit("\nparams ", 1)[0])
    expected = dict(dataset="VoxCeleb", dataroot=data, exp_name="VoxCeleb", every_nth=1, crop=True, joint=True,
                    batch_size=16, cont_dim=512, gf_dim=16, motion_dim=64, total_iters=500000, pretrain_iters=0,
                    c_kl_start=5.0, c_kl_end=5.0, img_m_kl=5.0, xp_vs_xtilde=1.0, vid_m_kl_start=5.0,
                    vid_m_kl_end=25.0, identity_labels=False,
                    checkpoint_dir=str(tmp_path / "exp" / "checkpoints"))
    assert {k: config[k] for k in expected} == expected
    one_class = int(re.search(r"params generator=(\d+)", result.stdout).group(1))

    result = bash(LAUNCHERS / "VoxCelebTrain.bash", "--identity_labels", "--batch_size", "4", "--dry_run", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads(result.stdout.rsplit("\nparams ", 1)[0])
    assert config["identity_labels"] is True and config["batch_size"] == 4
    assert int(re.search(r"params generator=(\d+)", result.stdout).group(1)) > one_class  # 4 identity classes
