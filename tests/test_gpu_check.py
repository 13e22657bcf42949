"""The GPU check (bashes/misc/gpu_check.bash, utils/tools/gpu_check.py) on the CPU: argument handling, the import
check and its vendored wheels, the summary and JSON with the GPU steps skipped, failures, timeouts, the
deadline, exit statuses, and the parsers of the GPU steps' outputs."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT
from utils.tools import gpu_check, gpu_check_steps as steps

WRAPPER = REPO_ROOT / "bashes" / "misc" / "gpu_check.bash"


def _python312():
    """A working Python 3.12 (the GPU machine's version) that is not a venv, or None."""
    for candidate in [*sorted(Path("/root/.pyenv/versions").glob("3.12*/bin/python3")), shutil.which("python3.12")]:
        if candidate and subprocess.run([str(candidate), "-c", "import sys; assert sys.version_info[:2] == (3, 12) "
                                         "and sys.prefix == sys.base_prefix"], capture_output=True).returncode == 0:
            return candidate
    return None


PY312 = _python312()
no_cuda_here = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU behaviour (no CUDA device)")


def wrapper(*args, env=None):
    full = {k: v for k, v in os.environ.items() if k != "OUT"}
    full.update({"PYTHON": sys.executable, **(env or {})})
    return subprocess.run(["bash", str(WRAPPER), *args], capture_output=True, text=True, env=full, timeout=600)


def summary(out):
    data = json.loads((out / "summary.json").read_text())
    return data, {s["step"]: s for s in data["steps"]}


# --------------------------------------------------------------------------- usage

@pytest.mark.parametrize("argv,words", [
    (["--only", "foo"], "--only: unknown step 'foo' (expected one of environment, imports, cuda-tests"),
    (["--skip", "imports"], "--skip imports: environment and imports always run"),
    (["--timeout", "5"], "--timeout: expected STEP=SECONDS, got '5'"),
    (["--timeout", "nostep=5"], "--timeout: nostep=5: unknown step 'nostep'"),
    (["--timeout", "install=-1"], "--timeout: install=-1: expected a positive number of seconds"),
    (["--deadline", "soon"], "--deadline: expected a positive number of seconds, got 'soon'"),
    (["--only", "install", "--skip", "install"], "--only and --skip both name install"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line_with_exit_2(capsys, argv, words):
    assert gpu_check.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("gpu_check: error: ") and words in captured.err


def test_wrapper_usage_error_and_bad_interpreter():
    result = wrapper("--only", "nothing")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--only" in result.stderr
    result = wrapper("--list", env={"PYTHON": "/nonexistent/python3"})
    assert result.returncode == 2 and result.stderr == ("gpu_check.bash: error: PYTHON=/nonexistent/python3 is "
                                                        "not an executable interpreter\n")


def test_list_names_every_step_with_budget(capsys):
    assert gpu_check.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [s[0] for s in gpu_check.STEPS]
    assert all(re.search(r"\d+ s", line) for line in lines)
    assert sum("  GPU  " in line for line in lines) == sum(s[2] for s in gpu_check.STEPS) == 9


# --------------------------------------------------------------------------- the runner with stand-in steps

def fake_steps(cuda=True, sleep=0.0, fail=None, goal=None):
    """Stand-in steps exercising the runner: a fake environment (CUDA or not), then four GPU steps."""
    def environment(ctx):
        ctx.facts.update(cuda_available=cuda, device_count=int(cuda), python="3", torch="x")
        return steps.Result("PASS", "fake environment")

    def ok(ctx):
        time.sleep(sleep)
        return steps.Result("PASS", "fine", {"n": 1}, goal)

    def broken(ctx):
        raise RuntimeError("the step has a bug")

    def hangs(ctx):
        ctx.run(["sleep", "30"])
        return steps.Result("PASS", "never")

    functions = {"broken": broken, "hangs": hangs}
    return [("environment", 5, False, environment), ("imports", 5, False, lambda ctx: steps.Result("PASS", "ok")),
            ("first", 5, True, ok), ("second", 5, True, functions.get(fail, ok)), ("third", 5, True, ok)]


def run_fake(monkeypatch, tmp_path, argv, **kw):
    monkeypatch.setattr(gpu_check, "STEPS", fake_steps(**kw))
    status = gpu_check.main(["--out", str(tmp_path), *argv])
    return status, *summary(tmp_path)


def test_all_passing_exit_0_and_table_matches_json(monkeypatch, tmp_path, capsys):
    status, data, by_step = run_fake(monkeypatch, tmp_path, [])
    assert status == 0 and data["exit_status"] == 0
    assert [s["status"] for s in data["steps"]] == ["PASS"] * 5
    table = (tmp_path / "summary.txt").read_text()
    assert capsys.readouterr().out.endswith("\n" + table)
    assert table.splitlines()[0].split() == ["step", "status", "seconds", "budget", "result"]
    assert "exit status 0: every step passed" in table


def test_failing_step_exit_1_others_still_run(monkeypatch, tmp_path):
    status, data, by_step = run_fake(monkeypatch, tmp_path, [], fail="broken")
    assert status == 1
    assert by_step["second"]["status"] == "FAIL"
    assert by_step["second"]["note"] == "RuntimeError: the step has a bug"
    assert by_step["third"]["status"] == "PASS"


def test_step_timeout_is_a_failure(monkeypatch, tmp_path):
    start = time.monotonic()
    status, data, by_step = run_fake(monkeypatch, tmp_path, ["--timeout", "second=0.5"], fail="hangs")
    assert time.monotonic() - start < 15
    assert status == 1 and by_step["second"]["status"] == "FAIL"
    assert by_step["second"]["note"].startswith("timed out after") and "limit 0.5 s" in by_step["second"]["note"]
    assert "$ sleep 30" in Path(by_step["second"]["log"]).read_text()


def test_sigterm_stops_the_check_and_its_children_and_still_writes_the_summary(monkeypatch, tmp_path):
    pidfile = tmp_path / "pid"

    def hangs(ctx):
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
        ctx.run(["bash", "-c", f"sleep 60 & echo $! > {pidfile}; wait"])
        return steps.Result("PASS", "never")

    fakes = fake_steps()
    fakes[2] = ("first", 30, True, hangs)
    monkeypatch.setattr(gpu_check, "STEPS", fakes)
    before = signal.getsignal(signal.SIGTERM)
    start = time.monotonic()
    status = gpu_check.main(["--out", str(tmp_path / "out")])
    assert time.monotonic() - start < 15 and signal.getsignal(signal.SIGTERM) == before
    data, by_step = summary(tmp_path / "out")
    assert status == 1 and by_step["first"]["status"] == "FAIL" and by_step["first"]["note"].startswith("interrupted")
    assert by_step["second"]["note"] == by_step["third"]["note"] == "the check was interrupted"
    assert process_state(int(pidfile.read_text())) in ("gone", "Z")


def process_state(pid):
    """The state letter of a process ('Z': a zombie) or 'gone'."""
    time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    return stat.read_text().rsplit(")", 1)[1].split()[0] if stat.exists() else "gone"


def test_deadline_skips_what_is_left(monkeypatch, tmp_path):
    status, data, by_step = run_fake(monkeypatch, tmp_path, ["--deadline", "5.5"], sleep=0.6)
    assert [by_step[n]["status"] for n in ("first", "second", "third")] == ["PASS", "SKIP", "SKIP"]
    assert by_step["third"]["note"] == "the deadline of 5.5 s was reached" and status == 0


def test_only_and_skip(monkeypatch, tmp_path):
    status, data, by_step = run_fake(monkeypatch, tmp_path, ["--only", "second"])
    assert {n: s["status"] for n, s in by_step.items()} == {"environment": "PASS", "imports": "PASS",
                                                           "first": "SKIP", "second": "PASS", "third": "SKIP"}
    assert by_step["first"]["note"] == "not in --only"
    status, data, by_step = run_fake(monkeypatch, tmp_path, ["--skip", "first"])
    assert by_step["first"]["note"] == "--skip" and by_step["second"]["status"] == "PASS" and status == 0


def test_no_cuda_skips_gpu_steps_exit_3(monkeypatch, tmp_path):
    status, data, by_step = run_fake(monkeypatch, tmp_path, [], cuda=False)
    assert status == 3 and all(by_step[n]["note"] == "no CUDA device" for n in ("first", "second", "third"))
    assert "exit status 3: no failure, but no CUDA device" in (tmp_path / "summary.txt").read_text()


def test_missed_goal_fails_only_with_strict_goals(monkeypatch, tmp_path):
    status, data, by_step = run_fake(monkeypatch, tmp_path, [], goal="missed")
    assert status == 0 and "[goal missed]" in (tmp_path / "summary.txt").read_text()
    status, data, by_step = run_fake(monkeypatch, tmp_path, ["--strict-goals"], goal="missed")
    assert status == 1


def test_exit_status_rules():
    rec = lambda status, note="", goal=None: {"status": status, "note": note, "goal": goal}  # noqa: E731
    assert gpu_check.exit_status([rec("PASS"), rec("SKIP", "--skip")]) == 0
    assert gpu_check.exit_status([rec("PASS"), rec("SKIP", "no CUDA device")]) == 3
    assert gpu_check.exit_status([rec("FAIL"), rec("SKIP", "no CUDA device")]) == 1
    assert gpu_check.exit_status([rec("PASS", goal="missed")], strict_goals=True) == 1


def test_timeout_kills_the_whole_process_group(tmp_path):
    ctx = steps.Context(sys.executable, tmp_path, tmp_path)
    ctx.begin("probe", 1.0)
    pidfile = tmp_path / "pid"
    with pytest.raises(steps.StepTimeout):
        ctx.run(["bash", "-c", f"sleep 60 & echo $! > {pidfile}; wait"])
    assert process_state(int(pidfile.read_text())) in ("gone", "Z")   # a zombie until its new parent reaps it


# --------------------------------------------------------------------------- real runs on this machine

@pytest.mark.slow
@no_cuda_here
def test_cpu_run_skips_every_gpu_step_exit_3(tmp_path):
    result = wrapper("--out", str(tmp_path))
    assert result.returncode == 3, result.stdout + result.stderr
    data, by_step = summary(tmp_path)
    assert by_step["environment"]["status"] == by_step["imports"]["status"] == "PASS"
    gpu_steps = [s[0] for s in gpu_check.STEPS if s[2]]
    assert all(by_step[n]["status"] == "SKIP" and by_step[n]["note"] == "no CUDA device" for n in gpu_steps)
    assert data["environment"]["torch"] == torch.__version__ and data["environment"]["cuda_available"] is False
    assert result.stdout.endswith((tmp_path / "summary.txt").read_text())
    assert (tmp_path / "logs" / "imports.log").read_text().startswith("$ ")


def shim(tmp_path, *modules):
    """A PYTHONPATH folder whose `modules` fail to import (simulating their absence)."""
    for name in modules:
        (tmp_path / "shim" / name).mkdir(parents=True)
        (tmp_path / "shim" / name / "__init__.py").write_text(f"raise ImportError('simulated: no {name} here')\n")
    return {"PYTHONPATH": str(tmp_path / "shim")}


@pytest.mark.slow
def test_missing_modules_are_named_and_fail_exit_1(tmp_path):
    result = wrapper("--out", str(tmp_path / "out"), "--no-wheels", env=shim(tmp_path, "cv2", "tensorboardX"))
    assert result.returncode == 1
    data, by_step = summary(tmp_path / "out")
    note = by_step["imports"]["note"]
    assert note.startswith("missing: cv2 (pip opencv-python-headless: ImportError: simulated: no cv2 here)")
    assert "tensorboardX (pip tensorboardX: ImportError: simulated" in note
    assert all(s["note"] == "imports did not pass" for s in data["steps"][2:])


@pytest.mark.slow
def test_vendored_wheel_stands_in_for_a_missing_module(tmp_path):
    result = wrapper("--out", str(tmp_path / "out"), "--only", "install", env=shim(tmp_path, "tensorboardX"))
    data, by_step = summary(tmp_path / "out")
    assert by_step["imports"]["status"] == "PASS", by_step["imports"]["note"]
    assert by_step["imports"]["numbers"]["wheels"] == ["tensorboardx-2.6.5-py3-none-any.whl"]
    assert result.returncode == (0 if torch.cuda.is_available() else 3)


@pytest.mark.skipif(PY312 is None, reason="no Python 3.12 interpreter here")
def test_wheels_go_to_a_user_site_that_subprocesses_see(tmp_path, monkeypatch):
    """Python 3.12 (the GPU machine's) without torch: protobuf is missing, gets unpacked into a throwaway
    user site, and a grandchild whose PYTHONPATH is reset (as test subprocesses do) still imports it, and
    still imports what the interpreter's own user site holds."""
    own = tmp_path / "own" / "lib" / "python3.12" / "site-packages"
    own.mkdir(parents=True)
    (own / "own_user_module.py").write_text("VALUE = 7\n")
    monkeypatch.setenv("PYTHONUSERBASE", str(tmp_path / "own"))
    ctx = steps.Context(str(PY312), tmp_path, tmp_path)
    ctx.begin("imports", 60)
    result = steps.step_imports(ctx)
    assert result.status == "FAIL" and "torch (pip torch)" in result.note
    assert "protobuf-7.36.2-py3-none-any.whl" in result.numbers["wheels"] and ctx.user_base is not None
    assert result.numbers["modules"]["google.protobuf"] == "7.36.2"
    code = ("import os, subprocess, sys; env = dict(os.environ, PYTHONPATH=''); sys.exit(subprocess.run("
            "[sys.executable, '-c', 'import google.protobuf, own_user_module'], env=env).returncode)")
    assert ctx.python_run("-c", code)[0] == 0, ctx.log.read_text()[-2000:]
    assert subprocess.run([str(PY312), "-c", "import google.protobuf"], capture_output=True).returncode != 0


# --------------------------------------------------------------------------- vendored wheels

def wheel_metadata(path):
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode()


def test_vendored_wheels_are_pure_and_match_the_pins():
    wheels = sorted(p.name for p in steps.WHEELS.glob("*.whl"))
    assert all(name.endswith("-py3-none-any.whl") for name in wheels) and len(wheels) == 2
    pin = re.search(r"^tensorboardX==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M).group(1)
    board = steps.WHEELS / f"tensorboardx-{pin}-py3-none-any.whl"
    assert steps.wheel_modules(board) == {"tensorboardX"}
    protobuf = next(steps.WHEELS.glob("protobuf-*.whl"))
    assert steps.wheel_modules(protobuf) == {"google"}
    needed = re.search(r"^Requires-Dist: protobuf>=([\d.]+)", wheel_metadata(board), re.M).group(1)
    have = re.search(r"^Version: ([\d.]+)", wheel_metadata(protobuf), re.M).group(1)
    assert tuple(map(int, have.split("."))) >= tuple(map(int, needed.split(".")))
    assert "Requires-Python: >=3.10" in wheel_metadata(protobuf)   # the GPU machine has 3.12


# --------------------------------------------------------------------------- parsers of the GPU steps

def test_sepconv_benchmark_rows_give_speedups(capsys):
    from sepconv import benchmark
    for (c, size), kernel_ms in zip(benchmark.SHAPES, (0.1, 0.2, 0.25, 0.4)):
        benchmark._row(f"[16,{c},{size},{size}]", "kernel", kernel_ms / 2, kernel_ms, 1e6, 2e6, 1e12)
        benchmark._row(f"[16,{c},{size},{size}]", "reference", 1.0, 1.5, 1e6, 2e6, 1e12)
    rows = steps.parse_sepconv_benchmark("kernel: cuda-nvrtc (x)\n" + capsys.readouterr().out)
    ups = steps.speedups(rows)
    assert ups == {"[16,16,8,8]": 15.0, "[16,128,16,16]": 7.5, "[16,32,32,32]": 6.0, "[16,3,64,64]": 3.75}
    assert steps.speedups(steps.parse_sepconv_benchmark("[16,3,64,64]  reference  1.0  2.0  1 1 1% 1%")) == {}


def test_pytest_summary_and_skip_reasons(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok():\n    pass\n"
        "def test_bad():\n    assert False\n"
        "@pytest.mark.skip(reason='needs two CUDA devices')\ndef test_two():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test_sample.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    counts, reasons = steps.parse_pytest(result.stdout)
    assert counts == {"failed": 1, "passed": 1, "skipped": 1} and reasons == ["needs two CUDA devices"]


def test_demo_arguments_come_from_demotrain_bash(tmp_path):
    args = steps.demo_train_args(dataroot=tmp_path)
    assert args[:4] == ["--dataset", "synthetic", "--dataroot", str(tmp_path)]
    assert "--exp_name" in args and args[args.index("--exp_name") + 1] == "Demo"
    assert not [a for a in args if "$" in a]
    odd = tmp_path / "Odd.bash"
    odd.write_text('exec "$PYTHON" "$ROOT/train.py" --dataset synthetic \\\n  --batch_size "$BATCH" "$@"\n')
    with pytest.raises(ValueError, match="cannot resolve '\\$BATCH'"):
        steps.demo_train_args(odd)


@pytest.mark.slow
def test_demo_arguments_are_accepted_by_train_py(tmp_path):
    args = steps.demo_train_args(dataroot=tmp_path / "data")
    result = subprocess.run([sys.executable, "train.py", *args, "--device", "cpu", "--dry_run",
                             "--log_dir", str(tmp_path / "l"), "--checkpoint_dir", str(tmp_path / "c"),
                             "--output_dir", str(tmp_path / "o")], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert result.returncode == 0, result.stderr
    assert re.search(r"^params generator=\d+", result.stdout, re.M)


@pytest.mark.slow
def test_cuda_tests_cover_the_issues_cases():
    """`pytest -m cuda` (the cuda-tests step) holds the kernel at the four fusion shapes at batch 16, odd sizes,
    K = 3, 5, 7, a non-default stream and a training step."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "cuda",
                             "-p", "no:cacheprovider", "tests"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    ids = result.stdout
    for case in ("16-16-8-8-5", "16-128-16-16-5", "16-32-32-32-5", "16-3-64-64-5", "3-5-7-9-3", "2-3-13-11-7"):
        assert f"test_gpu_kernels_match_reference[{case}-" in ids, case
    for name in ("test_gpu_runs_on_the_current_stream", "test_gpu_autocast_and_half",
                 "test_training_gpu.py::test_kernel_step_matches_reference_step[video]",
                 "test_resume_on_cuda_continues_from_the_checkpoint"):
        assert name in ids, name


# --------------------------------------------------------------------------- GPU steps' command lines, on the CPU

GPU_STEP_ON_CPU = {   # step -> what its note says when its commands run here and stop at the missing CUDA device
    "nvrtc": "active backend reference, expected cuda-nvrtc: torch.cuda is not available",
    "sepconv-bench": "kernel rows for 0 of 4 shapes",
    "bench-fp32": "--device cuda: CUDA is not available on this machine",
    "bench-bf16": "--device cuda: CUDA is not available on this machine",
    "bench-tf32": "--device cuda: CUDA is not available on this machine",
    "demo-train": "first run (to iteration 30) exit 2: train.py: error: --device cuda: CUDA is not available",
    "torchrun": "torchrun x1 exit 1",
}


@pytest.fixture(scope="module")
def cpu_work(tmp_path_factory):
    return tmp_path_factory.mktemp("work")


@pytest.mark.slow
@no_cuda_here
@pytest.mark.parametrize("name", ["install", *GPU_STEP_ON_CPU])
def test_gpu_steps_run_their_commands_up_to_the_missing_device(name, cpu_work, tmp_path):
    """Each GPU step, told that there is a GPU, runs its real commands here: they must get as far as the CUDA
    check (so the arguments of install.bash, the probes, the benchmarks, train.py and torchrun are accepted)."""
    if name == "install" and steps.find_nvcc() is None:
        pytest.skip("no nvcc here")
    ctx = steps.Context(sys.executable, tmp_path, cpu_work)
    ctx.facts.update(cuda_available=True, device_count=1, gpus=[{"name": "fake", "capability": "9.0",
                                                                  "memory_gib": 1.0}])
    ctx.begin(name, 300)
    function = next(s[3] for s in gpu_check.STEPS if s[0] == name)
    result = function(ctx)
    assert result.status == "FAIL"
    if name == "install":   # install.bash compiled sm_90 for real; then no device to load it on
        assert result.note.startswith("install.bash sm_90: ok; active backend reference, expected cuda-precompiled")
        assert list((cpu_work / "sepconv-bin").glob("sepconv_kernels.sm_90.*.cubin"))
    else:
        assert GPU_STEP_ON_CPU[name] in result.note, result.note
    if name == "torchrun":
        assert "--device cuda: CUDA is not available" in ctx.log.read_text()
