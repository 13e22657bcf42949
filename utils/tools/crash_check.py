"""Crash-and-resume acceptance check: SIGKILL a demo training run at random moments, resume it
each time, and compare the end with an uninterrupted run.

    python -m utils.tools.crash_check [--total_iters 40] [--kills 5] [--seed 0] [--workdir DIR]

Both runs use the options of `bashes/TwoStreamVAN/DemoTrain.bash` (started through it) with a
shorter schedule, frequent saves and `--device cpu`. The interrupted run is killed `--kills` times,
at seeded random moments spread over the reference run's training time (every other kill then
waits for a checkpoint write in progress), and resumed with `--resume` from whatever `latest.pth`
survived (or started afresh when none did). Compared at the end: the final checkpoint
(iteration, counters, every network tensor, the six optimisers, the random states, the data order,
the loss window) and the losses logged at every print and validation (the last occurrence of
each, since iterations after the last save are recomputed). Prints `identical` (exit 0) or the
first difference (exit 1).
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import torch

from utils.core.checkpoint import SUFFIX, TMP_PREFIX, TMP_SUFFIX, CheckpointError, checkpoint_path, load_checkpoint
from utils.core.config import REPO_ROOT

LAUNCHER = REPO_ROOT / "bashes" / "TwoStreamVAN" / "DemoTrain.bash"
LOG_LINE = re.compile(r"^\S+ \S+ (?:it (\d+)/\d+ \S+s/it \| (.*)|val (\d+) (\w+): (.*))$")


def parse_args(argv):
    """Options of the check."""
    p = argparse.ArgumentParser(prog="python -m utils.tools.crash_check", description=__doc__.split("\n")[0])
    p.add_argument("--total_iters", type=int, default=40, help="iterations of each run")
    p.add_argument("--pretrain_iters", type=int, default=15, help="content pre-training iterations")
    p.add_argument("--val_freq", type=int, default=5, help="validation, `latest` and log line every N iterations")
    p.add_argument("--save_freq", type=int, default=10, help="numbered checkpoint every N iterations")
    p.add_argument("--kills", type=int, default=5, help="SIGKILLs of the interrupted run")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads of both runs")
    p.add_argument("--device", default="cpu", help="device of both runs (exact resume is promised on the CPU)")
    p.add_argument("--workdir", default=None, help="where data and runs go (default: a temporary folder, removed)")
    p.add_argument("--dataroot", default=None, help="existing synthetic data (default: generated in the workdir)")
    return p.parse_args(argv)


def train_command(args, exp_name):
    """The launcher call of one run: the demo options with a short schedule and frequent saves."""
    return ["bash", str(LAUNCHER), "--exp_name", exp_name, "--total_iters", str(args.total_iters),
            "--pretrain_iters", str(args.pretrain_iters), "--print_freq", str(args.val_freq),
            "--val_freq", str(args.val_freq), "--save_freq", str(args.save_freq), "--threads", str(args.threads),
            "--device", args.device]


def unfinished_saves(directory):
    """Names of checkpoint temporaries (a write in progress, or one killed mid-way) in `directory`."""
    if not os.path.isdir(directory):
        return []
    return sorted(n for n in os.listdir(directory)
                  if n.startswith(TMP_PREFIX) and n.endswith(TMP_SUFFIX) and SUFFIX + "." in n)


def start(command, env, out_path, resume):
    """Start one training process (console output to `out_path`); returns the Popen."""
    with open(out_path, "a") as out:
        return subprocess.Popen(command + (["--resume"] if resume else []), env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO_ROOT)


def file_size(path):
    """Size of `path` in bytes (0 when absent)."""
    return os.path.getsize(path) if os.path.exists(path) else 0


def kill_at(process, log_path, delay, ckpt_dir, during_save, patience):
    """SIGKILL `process` `delay` s after it logged its start (with `during_save`: then at the first
    checkpoint write in progress, waiting at most `patience` s more). Returns `(seconds since the
    launch, checkpoint temporaries being written at the kill)`, or None if the process ended first."""
    launched, logged = time.time(), file_size(log_path)
    stale = set(unfinished_saves(ckpt_dir))  # leftovers of the previous kill

    def writing():
        return [name for name in unfinished_saves(ckpt_dir) if name not in stale]
    while file_size(log_path) == logged and process.poll() is None:
        time.sleep(0.01)
    deadline = time.time() + delay
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    give_up, seen = time.time() + patience, writing()
    while during_save and not seen and time.time() < give_up and process.poll() is None:
        time.sleep(0.0005)
        seen = writing()
    if process.poll() is not None:
        return None
    os.kill(process.pid, signal.SIGKILL)
    elapsed = time.time() - launched
    process.wait()
    return elapsed, seen


def reference_timeline(log_path):
    """Seconds after its start at which the reference run logged each print iteration: dict
    iteration -> seconds (0 -> 0), and the seconds to its end."""
    stamps, timeline, end = None, {0: 0.0}, None
    with open(log_path) as f:
        for line in f:
            try:
                clock = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                continue
            stamps = clock if stamps is None else stamps
            match = LOG_LINE.match(line.rstrip("\n"))
            if match and match.group(1):
                timeline[int(match.group(1))] = clock - stamps
            end = clock - stamps
    return timeline, end


def first_difference(a, b, where="checkpoint"):
    """Description of the first difference between two nested checkpoint values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{where}: keys {sorted(map(str, set(a) ^ set(b)))} in only one of them"
        for key in a:
            found = first_difference(a[key], b[key], f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if torch.is_tensor(a) and torch.is_tensor(b):
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
        if not torch.equal(a, b):
            if a.is_floating_point():
                return f"{where}: max abs difference {float((a - b).abs().max()):.3g}"
            return f"{where}: values differ"
        return None
    return None if type(a) is type(b) and a == b else f"{where}: {a!r} vs {b!r}"


def logged_losses(log_path):
    """Dict 'it N' / 'val N task' -> the losses logged there (the last occurrence of each)."""
    found = {}
    with open(log_path) as f:
        for line in f:
            match = LOG_LINE.match(line.rstrip("\n"))
            if match and match.group(1):
                found[f"it {match.group(1)}"] = match.group(2)
            elif match:
                found[f"val {match.group(3)} {match.group(4)}"] = match.group(5)
    return found


def compare_runs(workdir, reference, resumed):
    """`(first difference or None, summary of what was compared)` of two runs' final state and logs."""
    dirs = [run_dirs(workdir, name) for name in (reference, resumed)]
    a, b = (load_checkpoint(checkpoint_path(d["checkpoints"], "latest")) for d in dirs)
    a.pop("config"), b.pop("config")
    difference = first_difference(a, b)
    logs = [logged_losses(os.path.join(d["logs"], "log.txt")) for d in dirs]
    if difference is None:
        difference = first_difference(logs[0], logs[1], "logged losses")
    prints = sum(key.startswith("it ") for key in logs[0])
    summary = (f"iteration {a['iteration']}, counters {a['counters']}, {len(a['networks'])} network tensors, "
               f"{len(a['optimizers'])} optimisers, random states, data order, loss window; "
               f"losses logged at {prints} print iterations and {len(logs[0]) - prints} validations")
    return difference, summary


def run_dirs(workdir, name):
    """Per-run folders as the launcher lays them out under EXP_ROOT = workdir."""
    return {kind: os.path.join(workdir, kind, name) for kind in ("checkpoints", "logs")}


def check(args, workdir):
    """Run the reference and the interrupted run; print the report; returns the exit status."""
    dataroot = args.dataroot or os.path.join(workdir, "data")
    if not args.dataroot:
        subprocess.run([sys.executable, "-m", "datasets.synthetic", "--out", dataroot], check=True,
                       cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    env = dict(os.environ, DATAROOT=dataroot, EXP_ROOT=workdir)
    print(f"crash/resume check: {LAUNCHER.relative_to(REPO_ROOT)} " + " ".join(train_command(args, "X")[4:]))
    began = time.time()
    reference = start(train_command(args, "reference"), env, os.path.join(workdir, "reference.out"), False)
    if reference.wait() != 0:
        print(f"the reference run failed (exit {reference.returncode}); see {workdir}/reference.out")
        return 1
    duration = time.time() - began
    reference_latest = checkpoint_path(run_dirs(workdir, "reference")["checkpoints"], "latest")
    if load_checkpoint(reference_latest)["iteration"] != args.total_iters:
        print(f"the reference run did not save iteration {args.total_iters}; see {workdir}/logs/reference/log.txt")
        return 1
    print(f"reference run: {args.total_iters} iterations uninterrupted in {duration:.0f} s")

    timeline, training_time = reference_timeline(os.path.join(run_dirs(workdir, "reference")["logs"], "log.txt"))
    rng = random.Random(args.seed)
    # kill k lands near moment k of the reference's training time: kills spread over the run
    moments = sorted(rng.uniform(0.05, 0.95) * training_time for _ in range(args.kills))
    command, dirs = train_command(args, "interrupted"), run_dirs(workdir, "interrupted")
    latest, log_path = checkpoint_path(dirs["checkpoints"], "latest"), os.path.join(dirs["logs"], "log.txt")
    out = os.path.join(workdir, "interrupted.out")
    patience = 2 * training_time * args.val_freq / args.total_iters + 5
    resumed_at = 0
    for kill, moment in enumerate(moments, 1):
        reached = timeline[max(i for i in timeline if i <= resumed_at)]
        delay = max(moment - reached, rng.uniform(0.5, 3.0))
        during_save = kill % 2 == 0
        process = start(command, env, out, os.path.exists(latest))
        killed = kill_at(process, log_path, delay, dirs["checkpoints"], during_save, patience)
        if killed is None:
            print(f"  kill {kill}: the run ended (exit {process.returncode}) before the kill")
            break
        elapsed, writing = killed
        when = f"while {', '.join(writing)} was being written" if writing else "between checkpoint writes"
        try:
            resumed_at = load_checkpoint(latest)["iteration"] if os.path.exists(latest) else 0
        except CheckpointError as error:
            print(f"  kill {kill}: {error}\nnot resumable")
            return 1
        survived = f"latest.pth loads, iteration {resumed_at}" if os.path.exists(latest) \
            else "no checkpoint yet (the next start is a fresh one)"
        print(f"  kill {kill}: SIGKILL {elapsed:.1f} s after the launch, {when}; {survived}")
    process = start(command, env, out, os.path.exists(latest))
    if process.wait() != 0:
        print(f"the last resumed run failed (exit {process.returncode}); see {out}")
        return 1
    print(f"interrupted run: resumed to iteration {load_checkpoint(latest)['iteration']} "
          f"in {time.time() - began - duration:.0f} s in all")
    difference, summary = compare_runs(workdir, "reference", "interrupted")
    print(f"compared: {summary}")
    print("identical" if difference is None else f"first difference: {difference}")
    return 0 if difference is None else 1


def main(argv=None):
    """Command-line entry; returns the exit status."""
    args = parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="crash_resume_check.")
    os.makedirs(workdir, exist_ok=True)
    try:
        return check(args, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
