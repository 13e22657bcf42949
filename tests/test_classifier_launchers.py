"""The classifier launchers (bashes/classifier/) on tiny data: their flags are accepted, user flags win,
--resume passes through, and the eval launcher scores the run the train launcher wrote."""
import json
import os
import subprocess

import pytest

from conftest import REPO_ROOT
from datasets import synthetic

LAUNCHERS = REPO_ROOT / "bashes" / "classifier"
TINY = ["--ndf", "2", "--batch_size", "4", "--total_iters", "2", "--val_freq", "1", "--threads", "1"]


def bash(script, *args, env):
    """Run `bash <LAUNCHERS>/script args...` with extra environment `env`; returns the CompletedProcess."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", **env)
    return subprocess.run(["bash", str(LAUNCHERS / script), *args], env=environment, capture_output=True,
                          text=True, timeout=600)


def test_every_launcher_is_valid_bash():
    names = sorted(p.name for p in LAUNCHERS.glob("*.bash"))
    for dataset in ("Weizmann", "MUG", "SynAction", "Demo"):
        assert f"{dataset}_train.bash" in names and f"{dataset}_eval.bash" in names
    for name in names:
        assert subprocess.run(["bash", "-n", str(LAUNCHERS / name)]).returncode == 0, name


@pytest.mark.slow
def test_demo_launchers_train_resume_and_score(tmp_path):
    data, exp = str(tmp_path / "data"), str(tmp_path / "exp")
    synthetic.generate(data, seed=0, videos_per_class=5, n_frames=12)
    env = {"DATAROOT": data, "EXP_ROOT": exp}
    first = bash("Demo_train.bash", *TINY, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = bash("Demo_train.bash", "--resume", *TINY[:-4], "--total_iters", "3", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = os.path.join(exp, "classifiers", "checkpoints", "Demo")
    assert {"1.pth", "2.pth", "3.pth", "best.pth", "latest.pth"} <= set(os.listdir(run))
    options = json.load(open(os.path.join(run, "options.json")))
    assert (options["lr"], options["ndf"], options["resume"], options["total_iters"]) == (2e-3, 2, True, 3)
    assert os.path.isfile(os.path.join(exp, "classifiers", "logs", "Demo", "log.txt"))
    scored = bash("Demo_eval.bash", "--which", "latest", env=env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "iter=3 dataset=synthetic split=test clips=4 acc=" in scored.stdout


@pytest.mark.slow
@pytest.mark.parametrize("dataset, layout, run_name, expected", [
    ("Weizmann", "weizmann", "Weizmann_actor", {"model_is_actor": True, "every_nth": 2, "lr": 1e-4, "lr_decay": 0.999}),
    ("MUG", "mug", "MUG", {"model_is_actor": False, "every_nth": 1, "lr": 5e-4, "lr_decay": 0.995}),
    ("SynAction", "synaction", "SynAction", {"model_is_actor": False, "print_freq": 20, "lr": 5e-4}),
])
def test_published_launchers_on_tiny_layouts(tmp_path, dataset, layout, run_name, expected):
    tiny_layouts = pytest.importorskip("datasets.tiny_layouts")
    data, exp = str(tmp_path / "data"), str(tmp_path / "exp")
    tiny_layouts.generate(layout, data)
    env = {"DATAROOT": data, "EXP_ROOT": exp}
    trained = bash(f"{dataset}_train.bash", *TINY, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    options = json.load(open(os.path.join(exp, "classifiers", "checkpoints", run_name, "options.json")))
    for key, value in dict(expected, batch_size=4, keep_checkpoints=10, ndf=2).items():
        assert options[key] == value, key
    scored = bash(f"{dataset}_eval.bash", env=env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert f"dataset={dataset} split=test clips=" in scored.stdout and " acc=" in scored.stdout
