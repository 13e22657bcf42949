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


def test_schedule_launcher_scales_every_published_window_by_one_factor(tmp_path):
    from datasets import synthetic
    data = str(tmp_path / "synthetic")
    synthetic.generate(data, seed=0, videos_per_class=5, n_frames=12, design="large")
    env = {"DATAROOT": data, "EXP_ROOT": str(tmp_path / "exp")}
    for scale in (1000, 500):
        result = bash(LAUNCHERS / "ScheduleTrain.bash", "--dry_run", env=dict(env, SCHEDULE_SCALE=str(scale)))
        assert result.returncode == 0, result.stderr[-3000:]
        config = json.loads(result.stdout.rsplit("\nparams ", 1)[0])
        # TRAINING.md §3/§6 (MUG): total 500 000, ε and video KL over [150 000, 400 000], motion ratio
        # 0.1 -> 0.9 over [0, 150 000], content ratio 0.4 over [0, 200 000], c_kl window 100 000
        assert config["total_iters"] == 2000 + 500000 // scale and config["pretrain_iters"] == 2000
        assert (config["video_iter_start"], config["video_iter_end"]) == (150000 // scale, 400000 // scale)
        assert (config["motion_ratio_iter_start"], config["motion_ratio_iter_end"]) == (0, 150000 // scale)
        assert (config["motion_ratio_start"], config["motion_ratio_end"]) == (0.1, 0.9)
        assert (config["cont_ratio_start"], config["cont_ratio_end"], config["cont_ratio_iter_end"]) == (0.4, 0.4,
                                                                                                          200000 // scale)
        assert config["c_kl_iter_end"] == 100000 // scale
        assert (config["vid_m_kl_start"], config["vid_m_kl_end"]) == (1000.0, 5000.0)        # x5, as MUG's 5 -> 25
        assert config["save_freq"] == 2000 + 150000 // scale                            # the ramp's start is kept
        assert config["detach_feedback"] is False and config["grad_clip"] == 0.0          # the published gradients
    stabilised = bash(LAUNCHERS / "ScheduleTrain.bash", "--detach_feedback", "--dry_run", env=env)
    assert json.loads(stabilised.stdout.rsplit("\nparams ", 1)[0])["detach_feedback"] is True
    for bad in ("0", "x", "200000"):
        refused = bash(LAUNCHERS / "ScheduleTrain.bash", "--dry_run", env=dict(env, SCHEDULE_SCALE=bad))
        assert refused.returncode == 2 and "SCHEDULE_SCALE must be an integer from 1 to 150000" in refused.stderr
