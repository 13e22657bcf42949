"""The GPU check of issue 16: one command that verifies on a GPU machine what a CPU cannot, prints a summary
table and exits non-zero on any failure.

    bash bashes/misc/gpu_check.bash [--only STEP]... [--skip STEP]... [--timeout STEP=SECONDS]...
                                    [--deadline SECONDS] [--out DIR] [--keep] [--no-wheels] [--strict-goals] [--list]

Every step runs in child processes of the interpreter under test ($PYTHON, else <repo>/.venv/bin/python,
else python3) with a time limit: min(its budget, what is left of --deadline). A step is PASS, FAIL or
SKIP (with the reason); the table and `summary.json` go to stdout and --out (default $OUT, else a new
temporary folder), each step's full output to `<out>/logs/<step>.log`.

Exit status: 0 every step passed or was skipped on request; 1 a step failed (or, with --strict-goals, a
speed goal was missed); 2 a usage error; 3 nothing failed but there was no CUDA device, so the GPU steps
were skipped and nothing was verified on a GPU.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from utils.tools import gpu_check_steps as steps

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_GPU = 0, 1, 2, 3
DEFAULT_DEADLINE = 480   # seconds: the 8 minutes
MIN_STEP_SECONDS = 5     # a step is skipped when less than this is left of the deadline

# name, budget (s), needs a GPU, function; in the order they run (correctness before speed)
STEPS = [("environment", 60, False, steps.step_environment),
         ("imports", 120, False, steps.step_imports),
         ("cuda-tests", 240, True, steps.step_cuda_tests),
         ("install", 90, True, steps.step_install),
         ("nvrtc", 90, True, steps.step_nvrtc),
         ("sepconv-bench", 90, True, steps.step_sepconv_benchmark),
         ("demo-train", 180, True, steps.step_demo_train),
         ("torchrun", 150, True, steps.step_torchrun),
         ("bench-fp32", 150, True, steps.step_bench_fp32),
         ("bench-bf16", 120, True, steps.step_bench_bf16),
         ("bench-tf32", 120, True, steps.step_bench_tf32)]
ALWAYS = ("environment", "imports")   # every other step needs their findings


class UsageError(Exception):
    """A bad command line (one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _step_name(value):
    names = [step[0] for step in STEPS]
    if value not in names:
        raise argparse.ArgumentTypeError(f"unknown step {value!r} (expected one of {', '.join(names)})")
    return value


def _step_seconds(value):
    name, sep, seconds = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected STEP=SECONDS, got {value!r}")
    try:
        return _step_name(name), _positive(seconds)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{value}: {error}") from None


def _positive(value):
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return number


def parse_args(argv):
    """The command line -> argparse namespace; UsageError (one line) for anything malformed."""
    p = _Parser(prog="gpu_check", add_help=True, description=__doc__.split("\n")[0])
    p.add_argument("--only", action="append", type=_step_name, default=[], metavar="STEP",
                   help="run only these steps (and environment, imports); repeatable")
    p.add_argument("--skip", action="append", type=_step_name, default=[], metavar="STEP",
                   help="do not run this step; repeatable")
    p.add_argument("--timeout", action="append", type=_step_seconds, default=[], metavar="STEP=SECONDS",
                   help="a step's time budget instead of its default; repeatable")
    p.add_argument("--deadline", type=_positive, default=DEFAULT_DEADLINE, metavar="SECONDS",
                   help=f"time for the whole check (default {DEFAULT_DEADLINE})")
    p.add_argument("--out", default=None, metavar="DIR", help="summary and logs (default $OUT, else a temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (data, checkpoints, binaries)")
    p.add_argument("--no-wheels", action="store_true", help="do not unpack bashes/misc/wheels for missing modules")
    p.add_argument("--strict-goals", action="store_true", help="a missed speed goal fails the check")
    p.add_argument("--list", action="store_true", help="list the steps and their budgets, then exit")
    args = p.parse_args(argv)
    for name in set(args.skip) & set(ALWAYS):
        raise UsageError(f"--skip {name}: environment and imports always run (the other steps need them)")
    if set(args.only) & set(args.skip):
        raise UsageError(f"--only and --skip both name {', '.join(sorted(set(args.only) & set(args.skip)))}")
    return args


def planned_skip(name, args):
    """Why `name` is not run by request (str), or None."""
    if name in args.skip:
        return "--skip"
    if args.only and name not in args.only and name not in ALWAYS:
        return "not in --only"
    return None


def exit_status(records, strict_goals=False):
    """The exit status of a finished check (see the module docstring) from its step records (list of dicts)."""
    if any(r["status"] == "FAIL" for r in records) or (strict_goals and any(r.get("goal") == "missed"
                                                                           for r in records)):
        return EXIT_FAILED
    if any(r["status"] == "SKIP" and r["note"] == "no CUDA device" for r in records):
        return EXIT_NO_GPU
    return EXIT_OK


EXIT_MEANING = {EXIT_OK: "every step passed or was skipped on request",
                EXIT_FAILED: "a step failed", EXIT_NO_GPU: "no failure, but no CUDA device: nothing was verified "
                                                            "on a GPU"}


def format_table(records, facts, status):
    """The summary table (str)."""
    width = max(len(r["step"]) for r in records)
    lines = [f"{'step':<{width}}  status  {'seconds':>7}  {'budget':>6}  result"]
    for r in records:
        goal = f" [goal {r['goal']}]" if r.get("goal") else ""
        lines.append(f"{r['step']:<{width}}  {r['status']:<6}  {r['seconds']:>7.1f}  {r['budget']:>6.0f}  "
                     f"{r['note']}{goal}")
    lines.append(f"environment: {steps.describe_environment(facts) if facts else 'unknown'}")
    lines.append(f"exit status {status}: {EXIT_MEANING[status]}")
    return "\n".join(lines)


def run_check(args, python=sys.executable):
    """Run the steps; print progress and the table; write summary.json/.txt; return the exit status."""
    out = Path(args.out or os.environ.get("OUT") or tempfile.mkdtemp(prefix="gpu_check."))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_check_work."))
    ctx = steps.Context(python, out, work, use_wheels=not args.no_wheels)
    budgets = dict(args.timeout)
    deadline = time.monotonic() + args.deadline
    records, failed_prerequisite = [], None
    print(f"gpu_check: {python}; summary and logs in {out}; deadline {args.deadline:g} s", flush=True)
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM: stop like Ctrl-C
    try:
        for index, (name, budget, needs_gpu, function) in enumerate(STEPS, 1):
            budget = budgets.get(name, budget)
            left = deadline - time.monotonic()
            reason = planned_skip(name, args)
            if reason is None and failed_prerequisite:
                reason = failed_prerequisite
            if reason is None and needs_gpu and not ctx.facts.get("cuda_available"):
                reason = "no CUDA device"
            if reason is None and left < MIN_STEP_SECONDS:
                reason = f"the deadline of {args.deadline:g} s was reached"
            start = time.monotonic()
            if reason:
                result = steps.Result("SKIP", reason)
            else:
                print(f"[{index}/{len(STEPS)}] {name} (up to {min(budget, left):.0f} s) ...", flush=True)
                ctx.begin(name, min(budget, left))
                try:
                    result = function(ctx)
                except KeyboardInterrupt:
                    result = steps.Result("FAIL", "interrupted (SIGINT or SIGTERM); the later steps were not run")
                    failed_prerequisite = "the check was interrupted"
                except steps.StepTimeout as error:
                    result = steps.Result("FAIL", f"timed out after {time.monotonic() - start:.1f} s "
                                                  f"(limit {min(budget, left):g} s): {error}")
                except Exception as error:   # a bug or an unexpected file state: reported, not raised
                    result = steps.Result("FAIL", f"{type(error).__name__}: {error}")
            record = {"step": name, "status": result.status, "note": result.note, "goal": result.goal,
                      "seconds": round(time.monotonic() - start, 1), "budget": budget, "numbers": result.numbers,
                      "log": str(ctx.log) if not reason else None}
            records.append(record)
            if not reason:
                print(f"    {result.status} {record['seconds']:.1f} s  {result.note}", flush=True)
            if name in ALWAYS and result.status != "PASS":
                failed_prerequisite = failed_prerequisite or f"{name} did not pass"
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    status = exit_status(records, args.strict_goals)
    table = format_table(records, ctx.facts, status)
    summary = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "python": python, "environment": ctx.facts, "steps": records, "exit_status": status,
               "work": str(work) if args.keep else None}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.txt").write_text(table + "\n")
    print("\n" + table, flush=True)
    return status


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    if sys.version_info < (3, 10):
        print(f"gpu_check: error: Python >= 3.10 needed, this is {sys.version.split()[0]}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"gpu_check: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        for name, budget, needs_gpu, function in STEPS:
            print(f"{name:<14} {budget:>4} s  {'GPU' if needs_gpu else '   '}  {function.__doc__.splitlines()[0]}")
        return EXIT_OK
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
