"""eval.py with scoring: outputs, results line, stats cache, --i3d errors and FVD (a tiny run, mostly in-process)."""
import importlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from datasets import synthetic
from test_eval_scoring import SMALL, save_fake_i3d, save_tiny_classifier
from utils.core.cli import run_command
from utils.training.options import OptionError, parse_eval_options

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

METRIC_NAMES = ("acc=", "I_score=", "intra_E=", "inter_E=", "class_intra_E=", "frechet=")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny generator trained 2 iterations on synthetic data (5 videos per class), and a tiny classifier."""
    import train
    root = tmp_path_factory.mktemp("evalcli")
    synthetic.generate(str(root / "data"), seed=0, videos_per_class=5, n_frames=12)
    train.main(["--dataset", "synthetic", "--dataroot", str(root / "data"), "--exp_name", "tiny", *SMALL,
                *locations(root), "--total_iters", "2", "--val_freq", "100", "--print_freq", "100",
                "--pretrain_iters", "1"])
    save_tiny_classifier(root / "clf.pth")
    return root


def locations(root):
    return ["--log_dir", str(root / "logs"), "--checkpoint_dir", str(root / "ckpt"), "--output_dir",
            str(root / "results")]


def evaluate(root, *extra):
    """Run eval.py in-process on the tiny run; returns its exit status."""
    evaluation = importlib.import_module("eval")
    argv = ["--dataset", "synthetic", "--dataroot", str(root / "data"), "--exp_name", "tiny", *locations(root),
            "--num_per_class", "2", "--eval_batch", "2", "--val_num", "1", "--threads", "1", *extra]
    return run_command("eval.py", lambda args: evaluation.run(parse_eval_options(args)), argv)


def metrics_json(root, protocol="unconditional"):
    return json.loads((root / "results" / "tiny" / "iter_2" / protocol / "metrics.json").read_text())


def test_eval_scores_both_protocols_and_caches_real_statistics(run_dir, capsys):
    assert evaluate(run_dir, "--classifier", str(run_dir / "clf.pth")) == 0
    out = capsys.readouterr().out
    assert "unconditional metrics:" in out and "conditional metrics:" in out
    iter_dir = run_dir / "results" / "tiny" / "iter_2"
    for protocol, count in (("unconditional", 8), ("conditional", 4)):
        folder = iter_dir / protocol
        for name in ("samples.gif", "samples.png", "confusion.png", "metrics.json", "right.npy", "down.npy"):
            assert (folder / name).is_file(), (protocol, name)
        data = metrics_json(run_dir, protocol)
        assert data["videos"] == count and data["iteration"] == 2 and np.sum(data["confusion_matrix"]) == count
        assert set(data["metrics"]) == {"acc", "I_score", "intra_E", "inter_E", "class_intra_E", "frechet"}
        groups = data["class_intra_E_per_action"]                        # one value per predicted action
        predicted = [name for name, column in zip(data["classes"], np.sum(data["confusion_matrix"], 0)) if column]
        assert sorted(groups) == sorted(predicted)
        assert np.mean(list(groups.values())) == pytest.approx(data["metrics"]["class_intra_E"])
    assert metrics_json(run_dir, "unconditional")["stats_cache"] == {"classifier": "miss"}
    assert metrics_json(run_dir, "conditional")["stats_cache"] == {"classifier": "miss"}  # same scorer, computed once
    lines = (run_dir / "logs" / "tiny" / "results.txt").read_text().splitlines()
    assert len(lines) == 2 and "protocol=unconditional" in lines[0] and "protocol=conditional" in lines[1]
    for line in lines:
        assert all(name in line for name in METRIC_NAMES) and "iter=2" in line and "fvd=" not in line
        assert "class_intra_E[" in line

    assert evaluate(run_dir, "--classifier", str(run_dir / "clf.pth"), "--protocol", "unconditional") == 0
    assert metrics_json(run_dir)["stats_cache"] == {"classifier": "hit"}

    cache = run_dir / "results" / "stats_cache"
    (entry,) = list(cache.iterdir())
    entry.write_bytes(b"garbage")
    assert evaluate(run_dir, "--classifier", str(run_dir / "clf.pth"), "--protocol", "unconditional") == 0
    assert "warning: stats cache" in capsys.readouterr().out
    assert metrics_json(run_dir)["stats_cache"] == {"classifier": "miss"}

    save_tiny_classifier(run_dir / "clf.pth", seed=3)  # a retrained classifier must not reuse the statistics
    assert evaluate(run_dir, "--classifier", str(run_dir / "clf.pth"), "--protocol", "unconditional") == 0
    assert metrics_json(run_dir)["stats_cache"] == {"classifier": "miss"} and len(list(cache.iterdir())) == 2


def test_eval_without_classifier_says_scoring_is_off(run_dir, capsys, tmp_path):
    assert evaluate(run_dir, "--protocol", "unconditional", "--output_dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert out.count("scoring is off") == 1 and "--classifier" in out
    assert not (tmp_path / "tiny" / "iter_2" / "unconditional" / "metrics.json").exists()


def test_fvd_with_a_torchscript_i3d(run_dir, tmp_path, capsys):
    i3d = save_fake_i3d(tmp_path / "i3d.pt")
    assert evaluate(run_dir, "--classifier", str(run_dir / "clf.pth"), "--i3d", i3d, "--protocol",
                    "unconditional", "--output_dir", str(tmp_path / "out"), "--log_dir", str(tmp_path / "logs")) == 0
    data = json.loads((tmp_path / "out" / "tiny" / "iter_2" / "unconditional" / "metrics.json").read_text())
    assert data["metrics"]["fvd"] > 0 and data["i3d"] == i3d and data["stats_cache"]["i3d"] == "miss"
    assert "fvd=" in (tmp_path / "logs" / "tiny" / "results.txt").read_text()


def test_i3d_mistakes_are_one_line(run_dir, tmp_path, capsys):
    assert evaluate(run_dir, "--classifier", str(run_dir / "clf.pth"), "--i3d", str(tmp_path / "none.pt")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--i3d" in err[0] and "no such file" in err[0]
    (tmp_path / "weights.pt").write_bytes(b"PK\x03\x04 not torchscript")
    result = subprocess.run([sys.executable, "eval.py", "--dataset", "synthetic", "--dataroot", str(run_dir / "data"),
                             "--exp_name", "tiny", *locations(tmp_path), "--checkpoint_dir", str(run_dir / "ckpt"),
                             "--classifier", str(run_dir / "clf.pth"), "--i3d", str(tmp_path / "weights.pt"),
                             "--threads", "1"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "weights.pt is not a TorchScript file" in lines[0]
    assert not (tmp_path / "results" / "tiny").exists()  # refused before generating anything


@pytest.mark.slow
def test_demo_plumbing_prints_the_metrics(tmp_path):
    """bashes/demo.bash with a few iterations: trains the classifier, then reuses it; ends with the metric lines."""
    synthetic.generate(str(tmp_path / "data"), seed=0, videos_per_class=5, n_frames=12)
    env = dict(os.environ, EXP_ROOT=str(tmp_path / "exp"), DATAROOT=str(tmp_path / "data"), OMP_NUM_THREADS="1",
               DEMO_CLASSIFIER_ARGS="--total_iters 2 --val_freq 2 --threads 1",
               DEMO_EVAL_ARGS="--num_per_class 1 --eval_batch 1 --threads 1")
    train_args = ["--total_iters", "2", "--val_freq", "100", "--pretrain_iters", "1", "--threads", "1"]
    for attempt in range(2):
        result = subprocess.run(["bash", str(REPO_ROOT / "bashes" / "demo.bash"), *train_args], env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert ("reusing the demo classifier" in result.stdout) == (attempt == 1)
        last = result.stdout.strip().splitlines()[-2:]
        assert last[0].startswith("unconditional (4 videos, iteration 2): accuracy ") and "Fréchet" in last[0]
        assert last[1].startswith("conditional   (4 videos, iteration 2): accuracy ") and "IS " in last[1]
    assert len((tmp_path / "exp" / "logs" / "Demo" / "results.txt").read_text().splitlines()) == 4



@pytest.mark.slow
def test_learning_check_plumbing_prints_the_verdict(tmp_path):
    """bashes/misc/learning_check.bash with a few iterations: its own classifier, the real clips' scores,
    the verdict lines, exit status 1 (a 2-iteration run meets no goal)."""
    synthetic.generate(str(tmp_path / "data"), seed=0, videos_per_class=5, n_frames=12, design="large")
    env = dict(os.environ, EXP_ROOT=str(tmp_path / "check"), DATAROOT=str(tmp_path / "data"), OMP_NUM_THREADS="1",
               CHECK_ITERS="2", DEMO_CLASSIFIER_ARGS="--total_iters 2 --val_freq 2 --threads 1",
               DEMO_EVAL_ARGS="--num_per_class 1 --eval_batch 1 --threads 1")
    result = subprocess.run(["bash", str(REPO_ROOT / "bashes" / "misc" / "learning_check.bash"), "--val_freq", "100",
                             "--pretrain_iters", "1", "--threads", "1"], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "goals not met", result.stderr[-2000:]
    assert lines[-5].startswith("NOT met  unconditional accuracy ≥ 80 % with IS ≥ 2.5: ") and "(real test clips: IS " in lines[-5]
    assert "conditional accuracy ≥ 70 %" in lines[-4] and "classifier on the real test clips ≥ 90 %" in lines[-3]
    assert "(utils.evaluation.motion_direction)" in lines[-2]
    assert f"learning curve:  {tmp_path / 'check' / 'logs' / 'Demo' / 'learning_curve.png'}" in result.stdout
    assert (tmp_path / "check" / "classifiers" / "checkpoints" / "Demo" / "results.txt").is_file()

@pytest.mark.slow
def test_schedule_check_plumbing_runs_the_miniature_and_its_branches(tmp_path):
    """bashes/misc/schedule_check.bash with a few iterations: the miniature, its branches continued from the
    ramp's start (ε held at 1; --detach_feedback), all scored, all curves in one PNG."""
    synthetic.generate(str(tmp_path / "data"), seed=0, videos_per_class=5, n_frames=12, design="large")
    env = dict(os.environ, EXP_ROOT=str(tmp_path / "check"), DATAROOT=str(tmp_path / "data"), OMP_NUM_THREADS="1",
               SCHEDULE_SCALE="100000", SCHEDULE_PRETRAIN="2",
               DEMO_CLASSIFIER_ARGS="--total_iters 2 --val_freq 2 --threads 1",
               DEMO_EVAL_ARGS="--num_per_class 1 --eval_batch 1 --threads 1")
    result = subprocess.run(["bash", str(REPO_ROOT / "bashes" / "misc" / "schedule_check.bash"), "--threads", "1",
                             "--batch_size", "2"], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    root = tmp_path / "check"
    main = json.load(open(root / "checkpoints" / "Schedule" / "options.json"))
    assert main["video_iter_end"] == 4 and not main["detach_feedback"]
    held = json.load(open(root / "checkpoints" / "Schedule_eps1" / "options.json"))
    assert held["video_iter_start"] == 10 ** 9 and held["resume"] and held["which_iter"] == "3"   # 2 + 150000 // 100000
    assert not held["detach_feedback"]
    detached = json.load(open(root / "checkpoints" / "Schedule_detach" / "options.json"))
    assert detached["detach_feedback"] and detached["video_iter_start"] == 1 and detached["which_iter"] == "3"
    for run in ("Schedule", "Schedule_eps1", "Schedule_detach"):
        assert (root / "checkpoints" / run / "latest.pth").is_file()
        assert (root / "results" / run / "iter_7" / "unconditional" / "metrics.json").is_file()
        if run != "Schedule":
            assert f"resuming {run} at iteration 3" in (root / "logs" / run / "log.txt").read_text()
    assert (root / "logs" / "schedule_runs.png").read_bytes()[:4] == b"\x89PNG"
    assert re.search(r"^miniature trained in \d+ s, with its evaluation \d+ s", result.stdout, re.M)
    assert result.stdout.count("unconditional (") == 3 and "== Schedule_detach (" in result.stdout
    refused = subprocess.run(["bash", str(REPO_ROOT / "bashes" / "misc" / "schedule_check.bash")],
                             env=dict(env, SCHEDULE_BRANCHES="eps1 sideways"), capture_output=True, text=True)
    assert refused.returncode == 2 and "unknown branch 'sideways' (expected eps1, detach)" in refused.stderr


def test_the_run_options_come_from_the_checkpoint(capsys):
    import eval as evaluation
    from utils.training.options import RUN_DATA_OPTIONS
    trained = {"every_nth": 2, "split_rule": "videos", "identity_labels": False, "crop": True, "miniclip": False,
               "video_length": 16, "image_size": 64}                       # n_channels not recorded (older run)
    config = parse_eval_options(["--dataset", "synthetic", "--dataroot", "/nowhere", "--n_channels", "3"])
    evaluation.apply_run_options(config, trained)
    assert {k: config[k] for k in trained} == trained and config["n_channels"] == 3
    assert "the checkpoint does not record --n_channels" in capsys.readouterr().out
    assert set(RUN_DATA_OPTIONS) == set(trained) | {"n_channels"}
    same = parse_eval_options(["--dataset", "synthetic", "--dataroot", "/x", "--every_nth", "2", "--crop"])
    evaluation.apply_run_options(same, trained)                              # the run's own values are fine
    with pytest.raises(OptionError, match=r"^--video_length 10 differs from the run's \(16\)"):
        evaluation.apply_run_options(parse_eval_options(["--dataset", "synthetic", "--dataroot", "/x",
                                                         "--video_length", "10"]), trained)


def test_a_different_data_option_is_refused_in_one_line(run_dir, capsys, tmp_path):
    assert evaluate(run_dir, "--every_nth", "2", "--protocol", "unconditional", "--output_dir", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--every_nth 2 differs from the run's (1)" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "tiny").exists()                                  # refused before generating anything
    assert evaluate(run_dir, "--every_nth", "1", "--protocol", "unconditional", "--output_dir", str(tmp_path)) == 0


def test_eval_help_says_which_options_come_from_the_checkpoint(capsys):
    with pytest.raises(SystemExit):
        parse_eval_options(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.count("eval.py: the run's value from the checkpoint (a different value is refused)") == 8
    assert text.count("eval.py: may differ from the run's (a location: the data may have moved)") == 2
