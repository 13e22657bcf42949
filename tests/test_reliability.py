"""Reliability (issue 5): crash-safe checkpoints and exact resume after SIGKILL, SIGINT/SIGTERM,
safe loading through the CLI, the non-finite guard, and one line for every user mistake.

Processes are started through small wrapper scripts written here, which patch the code under test
(a save that stalls half-written, a signal at a chosen iteration, NaN batches) before running
train.py, so that each fault lands where the test wants it.
"""
import importlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
import torch

from conftest import REPO_ROOT, SMALL, random_batch
from test_train_cli import SMALL_FLAGS, dirs, run, synthetic_root  # noqa: F401  (synthetic_root: a fixture)
from utils.core.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from utils.core.cli import check_writable, run_command
from utils.tools.crash_check import first_difference, logged_losses
from utils.training.options import OptionError, parse_eval_options, parse_train_options


def train_args(root, tmp_path, name, *extra):
    """train.py arguments of a tiny CPU run (exact resume is a CPU promise) through every task; `extra` overrides."""
    return ["--dataset", "synthetic", "--dataroot", str(root), "--exp_name", name, *SMALL_FLAGS, *dirs(tmp_path),
            "--pretrain_iters", "2", "--print_freq", "3", "--val_freq", "3", "--save_freq", "100",
            "--val_batches", "1", "--crop", "--cont_ratio_start", "0.3", "--cont_ratio_end", "0.3",
            "--motion_ratio_start", "0.5", "--motion_ratio_end", "0.5", "--seed", "5", "--total_iters", "9",
            "--device", "cpu", *extra]


WRAPPER = """\
import os, runpy, sys
sys.path.insert(0, {repo!r})
import torch
{patch}
sys.argv = ["train.py"] + sys.argv[1:]
runpy.run_path({train!r}, run_name="__main__")
"""


def wrapped_train(tmp_path, patch):
    """Path of a script that applies `patch` (Python source), then runs train.py with its arguments."""
    path = tmp_path / "wrapped_train.py"
    path.write_text(WRAPPER.format(repo=str(REPO_ROOT), train=str(REPO_ROOT / "train.py"),
                                   patch=textwrap.dedent(patch)))
    return str(path)


def run_wrapped(tmp_path, patch, args, **env):
    """Run train.py under `patch` to the end; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **env)
    return subprocess.run([sys.executable, wrapped_train(tmp_path, patch), *args], cwd=REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=600)


def assert_same_run(reference_dir, other_dir, log_a, log_b):
    """Same final checkpoint (all but the options) and the same losses logged at every print/validation."""
    a = load_checkpoint(checkpoint_path(reference_dir, "latest"))
    b = load_checkpoint(checkpoint_path(other_dir, "latest"))
    a.pop("config"), b.pop("config")
    assert first_difference(a, b) is None, first_difference(a, b)
    assert logged_losses(log_a) == logged_losses(log_b)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, synthetic_root):
    """An uninterrupted 9-iteration run: `(checkpoint folder, log file)`."""
    base = tmp_path_factory.mktemp("straight")
    result = run(["train.py", *train_args(synthetic_root, base, "straight")])
    assert result.returncode == 0, result.stderr[-3000:]
    return base / "ckpt" / "straight", base / "logs" / "straight" / "log.txt"


# --- SIGKILL while a checkpoint is being written ----------------------------------------------------

STALL_SECOND_SAVE = """
import io, time
real_save = torch.save
calls = []
def half_written_then_stalled(obj, handle, *args, **kwargs):
    calls.append(1)
    if len(calls) != 2:
        return real_save(obj, handle, *args, **kwargs)
    buffer = io.BytesIO()
    real_save(obj, buffer, *args, **kwargs)
    handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    open(os.environ["STALL_MARKER"], "w").close()
    time.sleep(600)
torch.save = half_written_then_stalled
"""


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_save_leaves_a_resumable_run(tmp_path, synthetic_root, straight_run):
    marker, args = tmp_path / "stalled", train_args(synthetic_root, tmp_path, "killed")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), STALL_MARKER=str(marker))
    with open(tmp_path / "output.txt", "w") as output:
        process = subprocess.Popen([sys.executable, wrapped_train(tmp_path, STALL_SECOND_SAVE), *args],
                                   cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while not marker.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists(), (tmp_path / "output.txt").read_text()[-3000:]
        process.send_signal(signal.SIGKILL)
        process.wait()
    ckpt = tmp_path / "ckpt" / "killed"
    leftovers = [name for name in os.listdir(ckpt) if name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".latest.pth.")   # the write of iteration 6
    assert (ckpt / leftovers[0]).stat().st_size > 0
    assert load_checkpoint(str(ckpt / "latest.pth"))["iteration"] == 3        # the previous save, intact

    resumed = run(["train.py", *args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not [name for name in os.listdir(ckpt) if name.endswith(".tmp")]
    log = tmp_path / "logs" / "killed" / "log.txt"
    assert "removed 1 unfinished checkpoint file(s)" in log.read_text()
    assert_same_run(straight_run[0], ckpt, straight_run[1], log)


# --- SIGINT / SIGTERM --------------------------------------------------------------------------------

SIGNAL_AT_STEP = """
import signal
import utils.training.loop as loop
real_step, real_save = loop.train_step, loop.save_checkpoint
steps = []
def signalling_step(*args, **kwargs):
    result = real_step(*args, **kwargs)
    steps.append(1)
    if len(steps) == int(os.environ["SIGNAL_AT"]):
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_NAME"]))
    return result
def recording_save(path, state):
    real_save(path, state)
    with open(os.environ["SAVES_FILE"], "a") as saves:
        saves.write(f"{os.path.basename(path)} {state['iteration']}\\n")
loop.train_step, loop.save_checkpoint = signalling_step, recording_save
"""


@pytest.mark.slow
@pytest.mark.parametrize("name,at", [("SIGTERM", 5), ("SIGINT", 6)])
def test_signal_stops_after_the_iteration_saves_latest_once_and_exits_0(tmp_path, synthetic_root, straight_run,
                                                                        name, at):
    args, saves = train_args(synthetic_root, tmp_path, "signalled"), tmp_path / "saves.txt"
    stopped = run_wrapped(tmp_path, SIGNAL_AT_STEP, args, SIGNAL_AT=str(at), SIGNAL_NAME=name,
                          SAVES_FILE=str(saves))
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    assert saves.read_text().splitlines() == ["latest.pth 3", f"latest.pth {at}"]  # 6: the regular save only
    ckpt, log = tmp_path / "ckpt" / "signalled", tmp_path / "logs" / "signalled" / "log.txt"
    assert load_checkpoint(str(ckpt / "latest.pth"))["iteration"] == at
    assert f"{name} received: stopping at iteration {at}" in log.read_text()
    assert f"stopped at iteration {at}" in log.read_text()

    resumed = run(["train.py", *args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(straight_run[0], ckpt, straight_run[1], log)


@pytest.mark.slow
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_cuda_continues_from_the_checkpoint(tmp_path, synthetic_root):
    args = train_args(synthetic_root, tmp_path, "gpu", "--device", "cuda")
    first = run(["train.py", *args, "--total_iters", "3"])
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run(["train.py", *args, "--resume"])  # the random states are restored on the CPU side
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    state = load_checkpoint(str(tmp_path / "ckpt" / "gpu" / "latest.pth"))
    assert state["iteration"] == 9 and "cuda" in state["rng"] and all_finite(state)


# --- damaged checkpoints through the CLI ------------------------------------------------------------

def damage(path, kind):
    """Replace the checkpoint at `path` by a truncated, garbage or foreign file."""
    if kind == "truncated":
        save_checkpoint(str(path), {"iteration": 3, "networks": {"w": torch.arange(10000.0)}})
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "garbage":
        path.write_bytes(os.urandom(5000))
    else:
        torch.save({"model": torch.zeros(3)}, str(path))


@pytest.mark.slow
@pytest.mark.parametrize("program", ["train.py", "eval.py"])
@pytest.mark.parametrize("kind,words", [("truncated", "truncated or corrupt"), ("garbage", "truncated or corrupt"),
                                        ("foreign", "not a TwoStreamVAN checkpoint")])
def test_damaged_checkpoint_is_one_line_and_exit_2(tmp_path, synthetic_root, program, kind, words):
    ckpt = tmp_path / "ckpt" / "run"
    ckpt.mkdir(parents=True)
    damage(ckpt / "latest.pth", kind)
    before = snapshot(tmp_path / "ckpt")
    if program == "train.py":
        args = ["train.py", *train_args(synthetic_root, tmp_path, "run"), "--resume"]
    else:
        args = ["eval.py", "--dataset", "synthetic", "--dataroot", str(synthetic_root), "--exp_name", "run",
                *dirs(tmp_path), "--num_per_class", "1", "--val_num", "1"]
    result = run(args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert str(ckpt / "latest.pth") in lines[0] and words in lines[0]
    assert snapshot(tmp_path / "ckpt") == before
    assert not (tmp_path / "logs").exists() and not (tmp_path / "results").exists()


# --- non-finite losses --------------------------------------------------------------------------------

NAN_BATCHES = """
import utils.core.data_stream as data_stream
real_next = data_stream.EpochBatchStream.next
served = []
def sometimes_nan(self):
    batch = real_next(self)
    served.append(1)
    if int(os.environ["NAN_FROM"]) <= len(served) <= int(os.environ["NAN_TO"]):
        batch["video"] = torch.full_like(batch["video"], float("nan"))
    return batch
data_stream.EpochBatchStream.next = sometimes_nan
"""


def all_finite(state):
    """True when every floating-point network tensor of a checkpoint is finite."""
    return all(bool(torch.isfinite(t).all()) for t in state["networks"].values() if t.is_floating_point())


@pytest.mark.slow
def test_transient_nonfinite_steps_are_skipped_counted_and_leave_no_trace(tmp_path, synthetic_root):
    args = train_args(synthetic_root, tmp_path, "blip", "--use_bn", "--max_nonfinite", "3")
    result = run_wrapped(tmp_path, NAN_BATCHES, args, NAN_FROM="5", NAN_TO="6")
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(str(tmp_path / "ckpt" / "blip" / "latest.pth"))
    assert state["iteration"] == 9 and state["counters"]["nonfinite_skipped"] == 2
    assert all_finite(state)  # the NaN batches' BatchNorm statistics were undone
    log = (tmp_path / "logs" / "blip" / "log.txt").read_text()
    assert "iteration 5: non-finite" in log and "step skipped (2 in a row): the batch's frames were not finite" in log
    assert "not saving latest at iteration 6: the last 2 step(s) had non-finite losses" in log


@pytest.mark.slow
def test_a_run_of_nonfinite_steps_stops_with_the_last_good_checkpoint_intact(tmp_path, synthetic_root):
    args = train_args(synthetic_root, tmp_path, "diverged", "--use_bn", "--max_nonfinite", "3")
    result = run_wrapped(tmp_path, NAN_BATCHES, args, NAN_FROM="5", NAN_TO="1000")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len([line for line in lines if "error" in line]) == 1
    message = lines[-1]
    assert message.startswith("train.py: error: 3 consecutive non-finite losses (iterations 5-7")
    assert "at iteration 5: the batch's frames were not finite (the data)" in message
    assert "stopped without saving" in message and "latest.pth (iteration 3)" in message
    ckpt = tmp_path / "ckpt" / "diverged"
    state = load_checkpoint(str(ckpt / "latest.pth"))
    assert state["iteration"] == 3 and all_finite(state)
    assert sorted(os.listdir(ckpt)) == ["latest.pth", "options.json"]


@pytest.mark.slow
def test_max_nonfinite_0_never_stops_but_never_saves_a_poisoned_state(tmp_path, synthetic_root):
    args = train_args(synthetic_root, tmp_path, "endless", "--max_nonfinite", "0")
    result = run_wrapped(tmp_path, NAN_BATCHES, args, NAN_FROM="5", NAN_TO="1000")
    assert result.returncode == 0, result.stderr[-3000:]
    assert load_checkpoint(str(tmp_path / "ckpt" / "endless" / "latest.pth"))["iteration"] == 3
    log = (tmp_path / "logs" / "endless" / "log.txt").read_text()
    assert "step skipped (5 in a row)" in log and "not saving latest at iteration 9" in log


@pytest.mark.parametrize("task", ["pretrain", "content", "frame", pytest.param("video", marks=pytest.mark.slow)])
def test_skipped_step_restores_batchnorm_buffers_and_changes_nothing(task):
    from models import TwoStreamNetworks
    from utils.core.data_stream import Batch
    from utils.training.loop import train_step
    from utils.training.optimization import build_optimizers
    from utils.training.tasks import run_task
    values = dict(c_kl=1.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=1.0, pred_scale_feat=100.0,
                  video_scale_feat=100.0, epsilon=0.5, m_kl=1.0)
    nets = TwoStreamNetworks(3, joint=True, use_bn=True, **SMALL).train()
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    good = random_batch(2, 3)
    bad = Batch(torch.full_like(good.images, float("nan")), good.labels, good.onehot)
    buffers = {k: v.clone() for k, v in nets.state_dict().items()}

    import random
    *_, updated = train_step(task, nets, groups, optimizers, bad, values, random.Random(0))
    assert updated is None
    assert all(torch.equal(v, buffers[k]) for k, v in nets.state_dict().items())
    assert all(not opt.state for opt in optimizers.values())

    run_task(task, nets, bad, values, random.Random(0))  # the forward alone poisons the statistics
    assert any(not bool(torch.isfinite(v).all()) for v in nets.buffers() if v.is_floating_point())
    nets.load_state_dict(buffers)
    *_, updated = train_step(task, nets, groups, optimizers, good, values, random.Random(0))
    assert updated and any(not torch.equal(v, buffers[k]) for k, v in nets.named_buffers())


def test_weights_are_finite_sees_a_nan_weight_and_a_nan_batchnorm_statistic():
    from models import TwoStreamNetworks
    from utils.training.loop import weights_are_finite
    nets = TwoStreamNetworks(3, joint=True, **SMALL)
    assert weights_are_finite(nets)
    statistic = next(b for b in nets.video_discriminator.buffers() if b.is_floating_point())
    statistic[0] = float("inf")
    assert not weights_are_finite(nets)
    statistic[0] = 0.0
    with torch.no_grad():
        next(nets.generator.parameters())[0].fill_(float("nan"))
    assert not weights_are_finite(nets)


# --- one line for every user mistake (in-process: the same `run_command` the scripts exit with) ------

def snapshot(folder):
    """Every file below `folder` with its size and modification time (empty if `folder` is absent)."""
    found = {}
    for base, _, names in os.walk(folder):
        for name in names:
            stat = os.stat(os.path.join(base, name))
            found[os.path.relpath(os.path.join(base, name), folder)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def workspace(tmp_path, synthetic_root, monkeypatch):
    """Data, a regular file, an empty folder and a saved run 'made' (latest and 3) in `tmp_path`."""
    monkeypatch.delenv("DATAROOT", raising=False)
    monkeypatch.setenv("EXP_ROOT", str(tmp_path / "exp"))
    threads = torch.get_num_threads()
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    from utils.core.data_stream import EpochBatchStream, build_split
    from utils.training.loop import LossWindow, checkpoint_state
    from utils.training.optimization import build_optimizers
    from models import TwoStreamNetworks
    config = parse_train_options(train_args(synthetic_root, tmp_path, "made"))
    train_set = build_split(config, "train")
    nets = TwoStreamNetworks.from_config(config, len(train_set.classes))
    state = checkpoint_state(config, nets, build_optimizers(nets.parameter_groups()), 3, Counter(pretrain=2),
                             EpochBatchStream(train_set, 2, 5), train_set.classes, LossWindow())
    save_checkpoint(checkpoint_path(str(tmp_path / "ckpt" / "made"), "latest"), state)
    shutil.copy(tmp_path / "ckpt" / "made" / "latest.pth", tmp_path / "ckpt" / "made" / "3.pth")
    yield tmp_path
    torch.set_num_threads(threads)


def refit(tmp_path, **changes):
    """Rewrite the saved run's `latest` with changed stored options (a checkpoint that no longer fits)."""
    path = checkpoint_path(str(tmp_path / "ckpt" / "made"), "latest")
    state = load_checkpoint(path)
    state["config"].update(changes)
    save_checkpoint(path, state)


TRAIN_MISTAKES = {
    "unknown dataset": (lambda t, d: ["--dataset", "Kinetics"], ["unknown dataset", "Kinetics"]),
    "missing dataroot": (lambda t, d: ["--dataroot", str(t / "nowhere")], ["nowhere", "no synthetic data"]),
    "missing folder dataroot": (lambda t, d: ["--dataset", "folder", "--dataroot", str(t / "nowhere")],
                                ["nowhere", "does not exist"]),
    "empty dataroot": (lambda t, d: ["--dataroot", str(t / "empty")], ["empty", "no synthetic data"]),
    "empty folder dataroot": (lambda t, d: ["--dataset", "folder", "--dataroot", str(t / "empty")], ["empty"]),
    "dataroot is a file": (lambda t, d: ["--dataset", "folder", "--dataroot", str(t / "a_file")],
                           ["a_file", "is not a folder"]),
    "synthetic dataroot is a file": (lambda t, d: ["--dataroot", str(t / "a_file")], ["a_file", "no synthetic data"]),
    "short video_length": (lambda t, d: ["--video_length", "9"], ["--video_length", "at least 10"]),
    "even ac_kernel": (lambda t, d: ["--ac_kernel", "4"], ["--ac_kernel", "odd"]),
    "kernel_layer 0": (lambda t, d: ["--kernel_layer", "0"], ["--kernel_layer", "1..4"]),
    "kernel_layer 5": (lambda t, d: ["--kernel_layer", "5"], ["--kernel_layer", "1..4"]),
    "negative weight": (lambda t, d: ["--vid_m_kl_end", "-2"], ["--vid_m_kl_end", "non-negative"]),
    "negative frequency": (lambda t, d: ["--save_freq", "-5"], ["--save_freq", "positive"]),
    "zero frequency": (lambda t, d: ["--print_freq", "0"], ["--print_freq", "positive"]),
    "negative max_nonfinite": (lambda t, d: ["--max_nonfinite", "-1"], ["--max_nonfinite", "non-negative"]),
    "unknown device": (lambda t, d: ["--device", "gpu"], ["--device", "cuda"]),
    "batch larger than the split": (lambda t, d: ["--batch_size", "500"], ["--batch_size 500", "training split"]),
    "resume without checkpoint": (lambda t, d: ["--exp_name", "fresh", "--resume"],
                                  ["--resume", "'latest'", "available: none"]),
    "resume a missing which_iter": (lambda t, d: ["--exp_name", "made", "--resume", "--which_iter", "7"],
                                    ["'7'", "available: latest, 3"]),
    "unwritable checkpoint_dir": (lambda t, d: ["--checkpoint_dir", str(t / "a_file" / "sub")],
                                  ["--checkpoint_dir", "a_file is not a folder"]),
    "unwritable log_dir": (lambda t, d: ["--log_dir", str(t / "a_file" / "sub")], ["--log_dir", "not a folder"]),
    "resume with a changed schedule": (lambda t, d: ["--exp_name", "made", "--resume", "--pretrain_iters", "4"],
                                       ["different options", "--pretrain_iters 2 (now 4)"]),
    "forced resume into another model": (lambda t, d: ["--exp_name", "made", "--resume", "--gf_dim", "8",
                                                       "--force_resume_config"], ["does not fit", "latest.pth"]),
}

EVAL_MISTAKES = {
    "unknown dataset": (lambda t, d: ["--dataset", "Kinetics"], ["unknown dataset", "Kinetics"]),
    "no checkpoint": (lambda t, d: ["--exp_name", "fresh"], ["--which_iter latest", "available: none"]),
    "a missing which_iter": (lambda t, d: ["--which_iter", "7"], ["--which_iter 7", "available: latest, 3"]),
    "bad which_iter": (lambda t, d: ["--which_iter", "best-ever"], ["--which_iter", "'latest' or an iteration"]),
    "unwritable output_dir": (lambda t, d: ["--output_dir", str(t / "a_file" / "sub")],
                              ["--output_dir", "a_file is not a folder"]),
    "missing dataroot": (lambda t, d: ["--dataroot", str(t / "nowhere")], ["nowhere", "no synthetic data"]),
    "no dataroot for the conditional protocol": (lambda t, d: ["--protocol", "conditional"],
                                                 ["--dataroot is required"]),
    "another dataset's checkpoint": (lambda t, d: ["--dataset", "folder"], ["trained on --dataset synthetic"]),
    "state that does not fit": (lambda t, d: refit(t, gf_dim=8) or [], ["does not match the model", "latest.pth"]),
    "zero videos": (lambda t, d: ["--num_per_class", "0"], ["--num_per_class", "positive"]),
}


def assert_one_line_and_nothing_written(status, capsys, words, tmp_path, before):
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    assert snapshot(tmp_path / "ckpt") == before
    for folder in ("logs", "results", "exp"):
        assert not (tmp_path / folder).exists(), folder


@pytest.mark.parametrize("case", list(TRAIN_MISTAKES))
def test_train_mistake_is_one_line_exit_2_and_writes_nothing(workspace, synthetic_root, capsys, case):
    import train
    make_args, words = TRAIN_MISTAKES[case]
    argv = train_args(synthetic_root, workspace, "run", *make_args(workspace, synthetic_root))
    before = snapshot(workspace / "ckpt")
    status = run_command("train.py", train.main, argv)
    assert_one_line_and_nothing_written(status, capsys, words, workspace, before)


@pytest.mark.parametrize("case", list(EVAL_MISTAKES))
def test_eval_mistake_is_one_line_exit_2_and_writes_nothing(workspace, synthetic_root, capsys, case):
    evaluate = importlib.import_module("eval")
    make_args, words = EVAL_MISTAKES[case]
    extra = make_args(workspace, synthetic_root)
    base = ["--dataset", "synthetic", "--exp_name", "made", *dirs(workspace), "--num_per_class", "1", "--val_num", "1"]
    if "--protocol" not in extra:
        base += ["--dataroot", str(synthetic_root)]
    before = snapshot(workspace / "ckpt")
    status = run_command("eval.py", lambda argv: evaluate.run(parse_eval_options(argv)), base + extra)
    assert_one_line_and_nothing_written(status, capsys, words, workspace, before)


def test_check_writable_creates_nothing_and_names_the_blocking_file(tmp_path):
    check_writable(str(tmp_path / "new" / "deeper"), "log_dir")
    assert not (tmp_path / "new").exists()
    (tmp_path / "plain").write_text("")
    with pytest.raises(OptionError, match=r"--log_dir: cannot write to .*plain is not a folder"):
        check_writable(str(tmp_path / "plain" / "run"), "log_dir")


# --- the crash check's comparison helpers --------------------------------------------------------------

def test_first_difference_names_the_first_differing_tensor_and_value():
    a = {"iteration": 5, "networks": {"w": torch.zeros(3), "v": torch.ones(2)}, "counters": {"video": 1}}
    b = {"iteration": 5, "networks": {"w": torch.zeros(3), "v": torch.tensor([1.0, 1.5])}, "counters": {"video": 1}}
    assert first_difference(a, a) is None
    assert first_difference(a, b) == "checkpoint['networks']['v']: max abs difference 0.5"
    assert first_difference(a, dict(a, iteration=6)) == "checkpoint['iteration']: 5 vs 6"


def test_logged_losses_keep_the_last_occurrence_of_recomputed_iterations(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("2026-01-01 00:00:00 starting Demo at iteration 0 on cpu\n"
                   "2026-01-01 00:00:01 it 5/10 0.300s/it | pretrain[5] mse=0.5 kl=1\n"
                   "2026-01-01 00:00:02 val 5 content: mse=0.4\n"
                   "2026-01-01 00:00:03 it 10/10 0.300s/it | content[5] mse=0.9\n"
                   "2026-01-01 00:00:09 resuming Demo at iteration 5 on cpu\n"
                   "2026-01-01 00:00:10 it 10/10 0.700s/it | content[5] mse=0.3\n")
    assert logged_losses(log) == {"it 5": "pretrain[5] mse=0.5 kl=1", "val 5 content": "mse=0.4",
                                  "it 10": "content[5] mse=0.3"}
