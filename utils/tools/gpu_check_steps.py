"""The steps of `utils.tools.gpu_check`: each runs commands of the interpreter under test (with a time limit),
reads their output and returns a `Result` (PASS / FAIL / SKIP, a one-line note, key numbers, goal).

Standard library only: the checks themselves run in child processes (`utils.tools.gpu_probe`, pytest,
install.bash, sepconv.benchmark, utils.tools.benchmark, train.py, torchrun).
"""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / "bashes" / "misc" / "wheels"
SEPCONV_SPEEDUP_GOAL = 5.0   # kernel vs reference, forward+backward, every fusion shape
MUG_HOURS_GOAL = 4.0         # mug_500k_hours of the training benchmark
DEMO_ITERS = (30, 50)        # the demo run stops at the first, the resumed run at the second
TORCHRUN_ITERS = 8


class StepTimeout(Exception):
    """A command ran past its step's time limit (it and its process group were killed)."""


@dataclass
class Result:
    """What a step found: status PASS/FAIL/SKIP, a one-line note, numbers, and whether its goal was met."""
    status: str
    note: str
    numbers: dict = field(default_factory=dict)
    goal: str = None   # None (no goal), "met" or "missed"


class Context:
    """Runs a step's commands with the interpreter under test, logging to `<out>/logs/<step>.log`."""

    def __init__(self, python, out, work, use_wheels=True):
        self.python, self.out, self.work, self.use_wheels = python, Path(out), Path(work), use_wheels
        self.facts = {}          # the environment step's findings (cuda_available, gpus, ...)
        self.wheel_site = None   # where vendored wheels were unpacked, when some were needed
        self.user_base = None    # PYTHONUSERBASE whose user site is wheel_site (seen by every child process)
        self.step, self.step_end, self.log = None, None, None

    def begin(self, step, seconds):
        """Start a step that may run for `seconds`."""
        self.step, self.step_end = step, time.monotonic() + seconds
        self.log = self.out / "logs" / f"{step}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")

    def env(self, extra=None):
        """The children's environment: the repository and any unpacked wheels before the caller's PYTHONPATH."""
        paths = [str(ROOT)] + ([str(self.wheel_site)] if self.wheel_site and not self.user_base else [])
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONUNBUFFERED="1")
        if self.user_base:
            env["PYTHONUSERBASE"] = str(self.user_base)
        return dict(env, **(extra or {}))

    def run(self, args, extra_env=None):
        """Run `args` (list) in the repository; return (exit status, its output). Raises StepTimeout."""
        remaining = self.step_end - time.monotonic()
        if remaining <= 0:
            raise StepTimeout("no time left in this step")
        with open(self.log, "a") as log:
            log.write(f"$ {shlex.join(str(a) for a in args)}\n")
            log.flush()
            start = log.tell()
            proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=self.env(extra_env), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                rc = proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                raise StepTimeout(f"{Path(str(args[0])).name} {' '.join(str(a) for a in args[1:3])} ran past "
                                  f"the step's limit") from None
            except BaseException:   # interrupted (SIGINT, or SIGTERM turned into KeyboardInterrupt)
                kill_group(proc)
                raise
        with open(self.log) as log:
            log.seek(start)
            text = log.read()
        with open(self.log, "a") as log:
            log.write(f"[exit status {rc}]\n")
        return rc, text

    def python_run(self, *args, extra_env=None):
        """`run` with the interpreter under test."""
        return self.run([self.python, *args], extra_env)

    def probe(self, *args, extra_env=None):
        """Run `python -m utils.tools.gpu_probe ARGS`; return (exit status, its JSON object or None, output)."""
        rc, text = self.python_run("-m", "utils.tools.gpu_probe", *args, extra_env=extra_env)
        return rc, last_json(text), text


def kill_group(proc):
    """SIGTERM the process group of `proc` (started with start_new_session), SIGKILL what is left after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def last_json(text):
    """The last line of `text` that parses as a JSON object (dict), or None."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def tail(text, lines=3):
    """The last non-empty lines of `text`, joined by ' | ' (for a one-line note)."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-400:]


# --------------------------------------------------------------------------- wheels and imports

def wheel_modules(path):
    """Top-level import names a wheel provides (its paths' first parts, .dist-info/.data excluded): set."""
    with zipfile.ZipFile(path) as archive:
        names = {n.split("/")[0] for n in archive.namelist()}
    return {n[:-3] if n.endswith(".py") else n for n in names if not n.endswith((".dist-info", ".data"))}


def unpack_wheels(missing_modules, site):
    """Unpack the vendored wheels that provide any of `missing_modules` into `site`; the wheel names."""
    tops = {m.split(".")[0] for m in missing_modules}
    used = []
    for wheel in sorted(WHEELS.glob("*.whl")):
        if wheel_modules(wheel) & tops:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
            used.append(wheel.name)
    return used


def step_environment(ctx):
    """The interpreter, torch, CUDA, the GPUs, driver, CuPy and nvcc."""
    rc, facts, text = ctx.probe("environment")
    if facts is None:
        return Result("FAIL", f"the environment probe failed (exit {rc}): {tail(text)}")
    if shutil.which("nvidia-smi"):
        smi_rc, smi = ctx.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        facts["driver"] = smi.strip().splitlines()[0] if smi_rc == 0 and smi.strip() else f"nvidia-smi exit {smi_rc}"
    nvcc = find_nvcc()
    if nvcc:
        _, version = ctx.run([nvcc, "--version"])
        found = re.search(r"release ([\d.]+)", version)
        facts["nvcc"] = f"{found.group(1) if found else '?'} ({nvcc})"
    ctx.facts.update(facts)
    cuda = f"CUDA {facts['torch_cuda']}" if facts.get("torch_cuda") else "no CUDA build"
    return Result("PASS", f"{facts.get('device_count', 0)} CUDA device(s); torch {facts['torch']} ({cuda}); "
                  f"Python {facts['python']}")


def describe_environment(facts):
    """One line: GPUs, driver, CUDA, torch, CuPy, Python."""
    gpus = facts.get("gpus") or []
    names = ", ".join(sorted({f"{g['name']} (sm_{g['capability'].replace('.', '')}, {g['memory_gib']} GiB)"
                              for g in gpus})) or "no CUDA device"
    parts = [f"{names} x{len(gpus)}" if gpus else names, f"driver {facts['driver']}" if "driver" in facts else None,
             f"CUDA {facts['torch_cuda']} (torch)" if facts.get("torch_cuda") else None,
             f"torch {facts.get('torch')}", f"CuPy {facts['cupy']}" if "cupy" in facts else None,
             f"nvcc {facts['nvcc']}" if "nvcc" in facts else None, f"Python {facts.get('python')}"]
    return "; ".join(p for p in parts if p)


def wheel_site(ctx):
    """Where to unpack wheels: (folder, PYTHONUSERBASE or None).

    The interpreter's user site under a throwaway PYTHONUSERBASE when it has one enabled (not in a venv):
    child processes that reset PYTHONPATH, as some tests' subprocesses do, still see it. A `.pth` file
    there adds the interpreter's own user site (as `site` would have), so nothing installed with
    `pip --user` is hidden. Else a folder that goes on PYTHONPATH."""
    user_base = ctx.work / "userbase"
    code = "import json, site; print(json.dumps([site.ENABLE_USER_SITE, site.getusersitepackages()]))"
    found = []
    for extra in ({"PYTHONUSERBASE": str(user_base)}, None):
        rc, text = ctx.python_run("-c", code, extra_env=extra)
        found.append(json.loads(text.strip().splitlines()[-1]) if rc == 0 else [False, None])
    (enabled, site), (_, own) = found
    if enabled is not True or not site:
        return ctx.work / "wheel-site", None
    Path(site).mkdir(parents=True, exist_ok=True)
    if own and Path(own).is_dir():
        (Path(site) / "zz_own_user_site.pth").write_text(f"import site; site.addsitedir({own!r})\n")
    return Path(site), user_base


def describe_missing(item):
    """`module (pip NAME)`, with the error when it is not the plain 'No module named <module>'."""
    where = f"pip {item['pip']}" if item["pip"] else item["for"]
    plain = f"No module named '{item['module'].split('.')[0]}'"
    detail = "" if item["error"].endswith(plain) else f": {item['error']}"
    return f"{item['module']} ({where}{detail})"


def step_imports(ctx):
    """Every module the project needs imports (vendored wheels unpacked for the missing ones)."""
    rc, found, text = ctx.probe("imports")
    if found is None:
        return Result("FAIL", f"the import probe failed (exit {rc}): {tail(text)}")
    used = []
    if found["missing"] and ctx.use_wheels:
        names = [m["module"] for m in found["missing"]]
        site, user_base = wheel_site(ctx)
        used = unpack_wheels(names, site)
        if used:
            ctx.wheel_site, ctx.user_base = site, user_base
            rc, found, text = ctx.probe("imports")
            if found is None:
                return Result("FAIL", f"the import probe failed after unpacking {', '.join(used)}: {tail(text)}")
    numbers = {"modules": found["modules"]}
    if used:
        numbers["wheels"] = used
    if found["missing"]:
        numbers["missing"] = found["missing"]
        note = "missing: " + ", ".join(describe_missing(m) for m in found["missing"])
        if used:
            note += f" (after unpacking {', '.join(used)})"
        return Result("FAIL", note, numbers)
    note = f"{len(found['modules'])} modules import"
    if used:
        numbers["wheel_site"] = str(ctx.wheel_site)
        note += f"; from bashes/misc/wheels: {', '.join(used)}"
        if not ctx.user_base:
            note += " (on PYTHONPATH only: this interpreter has no user site, so subprocesses that reset " \
                    "PYTHONPATH do not see them)"
    return Result("PASS", note, numbers)


# --------------------------------------------------------------------------- CUDA tests and kernel paths

def parse_pytest(text):
    """Counts of pytest's closing line and the reasons of `-rs` skips: (dict, list of str)."""
    counts = {}
    closing = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|skipped|error|deselected)", line)]
    if closing:
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)",
                                       closing[-1]):
            counts["errors" if word.startswith("error") else word] = int(number)
    reasons = re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", text, flags=re.M)
    return counts, reasons


def step_cuda_tests(ctx):
    """`pytest -m cuda`: the kernel against the reference (fusion shapes, odd sizes, K, streams), GPU steps."""
    rc, text = ctx.python_run("-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider", "tests")
    counts, reasons = parse_pytest(text)
    allowed = "needs two CUDA devices"
    unexpected = [r for r in reasons if not (allowed in r and ctx.facts.get("device_count", 0) < 2)]
    note = ", ".join(f"{v} {k}" for k, v in counts.items()) or f"no pytest summary (exit {rc})"
    if rc != 0 or not counts.get("passed") or unexpected:
        extra = f"; skipped on a GPU: {'; '.join(sorted(set(unexpected)))}" if unexpected else ""
        return Result("FAIL", f"{note}{extra}; see the log", counts)
    if reasons:
        note += f" (skipped: {allowed})"
    return Result("PASS", note, counts)


def find_nvcc():
    """nvcc from $CUDA_HOME, PATH or /usr/local/cuda (str), or None."""
    candidates = [Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"] if os.environ.get("CUDA_HOME") else []
    on_path = shutil.which("nvcc")
    candidates += [Path(on_path)] if on_path else []
    candidates.append(Path("/usr/local/cuda/bin/nvcc"))
    return next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def gpu_arch(facts):
    """`sm_XY` of cuda:0 from the environment facts."""
    return "sm_" + facts["gpus"][0]["capability"].replace(".", "")


def _backend_result(rc, found, text, expect):
    if found is None:
        return Result("FAIL", f"backend probe failed (exit {rc}): {tail(text)}")
    if found["backend"] != expect:
        return Result("FAIL", f"active backend {found['backend']}, expected {expect}: {found['reason']}")
    err = found["max_rel_err"]
    numbers = {"backend": found["backend"], "max_rel_err": err}
    if not err < 1e-5:
        return Result("FAIL", f"{expect} active but its result differs from the reference (rel. err {err:.2e})",
                      numbers)
    return Result("PASS", f"{expect} active, rel. err {err:.1e} vs float64 reference", numbers)


def step_install(ctx):
    """install.bash for the GPU's architecture, then the precompiled binary active (and right)."""
    nvcc, arch = find_nvcc(), gpu_arch(ctx.facts)
    if nvcc is None:
        return Result("FAIL", "no nvcc ($CUDA_HOME/bin, PATH, /usr/local/cuda/bin): install.bash cannot compile; "
                      "use --skip install on a machine without the CUDA toolkit")
    bindir = ctx.work / "sepconv-bin"
    rc, text = ctx.run(["bash", ROOT / "bashes" / "misc" / "install.bash", arch, "--out-dir", bindir],
                       {"CUDA_HOME": str(Path(nvcc).parents[1])})
    if rc != 0:
        return Result("FAIL", f"install.bash {arch} exit {rc}: {tail(text)}")
    rc, found, text = ctx.probe("backend", "--expect", "cuda-precompiled",
                                extra_env={"TWOSTREAMVAN_SEPCONV_BINDIR": str(bindir)})
    result = _backend_result(rc, found, text, "cuda-precompiled")
    if result.status == "PASS" and str(bindir) not in found["reason"]:
        return Result("FAIL", f"a precompiled binary loaded, but not the one install.bash wrote: {found['reason']}")
    result.numbers["arch"] = arch
    result.note = f"install.bash {arch}: ok; " + result.note
    return result


def step_nvrtc(ctx):
    """The run-time (NVRTC) compilation path active (binaries hidden) and right."""
    rc, found, text = ctx.probe("backend", "--expect", "cuda-nvrtc", "--no-binaries")
    return _backend_result(rc, found, text, "cuda-nvrtc")


def parse_sepconv_benchmark(text):
    """Forward+backward ms per shape and backend from sepconv.benchmark's table: {shape: {backend: ms}}."""
    rows = {}
    for shape, backend, _fwd, fwd_bwd in re.findall(
            r"^(\[[\d,]+\]|total)\s+(kernel|reference)\s+([\d.]+)\s+([\d.]+)", text, flags=re.M):
        rows.setdefault(shape, {})[backend] = float(fwd_bwd)
    return rows


def speedups(rows):
    """Reference ÷ kernel forward+backward time per shape (only shapes with both): {shape: float}."""
    return {s: round(t["reference"] / t["kernel"], 2) for s, t in rows.items()
            if "kernel" in t and "reference" in t and t["kernel"] > 0}


def step_sepconv_benchmark(ctx):
    """sepconv.benchmark on cuda:0: kernel vs reference, forward+backward speed-up per fusion shape."""
    rc, text = ctx.python_run("-m", "sepconv.benchmark", "--device", "cuda:0", "--iters", "20")
    ups = speedups(parse_sepconv_benchmark(text))
    shapes = [s for s in ups if s != "total"]
    if rc != 0 or len(shapes) < 4:
        kernel_line = next((line for line in text.splitlines() if line.startswith("kernel:")), "")
        return Result("FAIL", f"exit {rc}, kernel rows for {len(shapes)} of 4 shapes; {kernel_line or tail(text)}")
    goal = "met" if all(ups[s] >= SEPCONV_SPEEDUP_GOAL for s in shapes) else "missed"
    note = "f+b speed-up " + ", ".join(f"{s} {ups[s]:.1f}x" for s in shapes)
    if "total" in ups:
        note += f", total {ups['total']:.1f}x"
    return Result("PASS", f"{note} (goal >= {SEPCONV_SPEEDUP_GOAL:g}x each)", {"speedup_fwd_bwd": ups}, goal)


# --------------------------------------------------------------------------- training benchmark, training runs

BENCHMARK_KEYS = ("content_s", "frame_s", "video_s", "video_eps0_s", "generate_s", "mug_500k_hours", "torch")


def _benchmark(ctx, args):
    rc, text = ctx.python_run(*args)
    found = last_json(text)
    if rc != 0 or found is None or "mug_500k_hours" not in found:
        return Result("FAIL", f"exit {rc}: {tail(text)}")
    numbers = {k: found[k] for k in BENCHMARK_KEYS if k in found}
    hours = found["mug_500k_hours"]
    goal = "met" if hours <= MUG_HOURS_GOAL else "missed"
    note = (f"mug_500k_hours {hours:.2f} (goal <= {MUG_HOURS_GOAL:g} h); video {found['video_s']:.3f} s, "
            f"eps0 {found['video_eps0_s']:.3f} s, frame {found['frame_s']:.3f} s, content {found['content_s']:.3f} s")
    return Result("PASS", note, numbers, goal)


def step_bench_fp32(ctx):
    """utils.tools.benchmark --device cuda (float32; FLOPs counted)."""
    return _benchmark(ctx, ["-m", "utils.tools.benchmark", "--device", "cuda"])


def step_bench_bf16(ctx):
    """utils.tools.benchmark --device cuda --amp bf16."""
    return _benchmark(ctx, ["-m", "utils.tools.benchmark", "--device", "cuda", "--amp", "bf16", "--no_flops"])


def step_bench_tf32(ctx):
    """utils.tools.benchmark --device cuda with --tf32 applied as train.py applies it."""
    return _benchmark(ctx, ["-m", "utils.tools.gpu_probe", "tf32-benchmark", "--device", "cuda", "--no_flops"])


def demo_train_args(launcher=ROOT / "bashes" / "TwoStreamVAN" / "DemoTrain.bash", dataroot="$DATAROOT"):
    """train.py's arguments in DemoTrain.bash (list of str), `$DATAROOT` replaced, locations, scoring and `$@` left out.

    Raises ValueError when the launcher has no `exec ... train.py` command or another shell expansion."""
    joined = re.sub(r"\\\n", " ", Path(launcher).read_text())
    line = next((ln for ln in joined.splitlines() if ln.strip().startswith("exec") and "train.py" in ln), None)
    if line is None:
        raise ValueError(f"{launcher}: no `exec ... train.py` line")
    words = shlex.split(line)
    args = []
    for word in words[next(i for i, w in enumerate(words) if w.endswith("train.py")) + 1:]:
        if word == "$DATAROOT":
            args.append(str(dataroot))
        elif word in ("${LOCATIONS[@]}", "$@", "${DEMO_SCORING[@]+${DEMO_SCORING[@]}}"):
            continue   # locations and validation scoring are the GPU check's own (no demo classifier there)
        elif "$" in word:
            raise ValueError(f"{launcher}: cannot resolve {word!r} outside the shell")
        else:
            args.append(word)
    return args


def _synthetic_data(ctx):
    data = ctx.work / "synthetic"
    if not (data / "synthetic.json").is_file():
        rc, text = ctx.python_run("-m", "datasets.synthetic", "--out", data)
        if rc != 0:
            raise RuntimeError(f"datasets.synthetic exit {rc}: {tail(text)}")
    return data


def _locations(ctx, name):
    base = ctx.work / name
    return ["--log_dir", base / "logs", "--checkpoint_dir", base / "checkpoints", "--output_dir", base / "results"]


def _log_text(ctx, name, exp_name):
    path = ctx.work / name / "logs" / exp_name / "log.txt"
    return path.read_text() if path.is_file() else ""


def step_demo_train(ctx):
    """The demo configuration (DemoTrain.bash) on cuda: 30 iterations, then resumed to 50."""
    try:
        data = _synthetic_data(ctx)
    except RuntimeError as error:
        return Result("FAIL", str(error))
    first, second = DEMO_ITERS
    base = ["train.py", *demo_train_args(dataroot=data), *_locations(ctx, "demo"), "--device", "cuda",
            "--pretrain_iters", "10", "--print_freq", "10", "--val_freq", "15", "--save_freq", "15"]
    numbers = {}
    for label, extra, iters in (("first", [], first), ("resumed", ["--resume"], second)):
        start = time.monotonic()
        rc, text = ctx.python_run(*base, *extra, "--total_iters", str(iters))
        numbers[f"{label}_s"] = round(time.monotonic() - start, 1)
        log = _log_text(ctx, "demo", "Demo")
        began = f"{'resuming' if extra else 'starting'} Demo at iteration {first if extra else 0} on cuda"
        if rc != 0 or began not in log or f"finished at iteration {iters};" not in log:
            return Result("FAIL", f"{label} run (to iteration {iters}) exit {rc}: {tail(text)}", numbers)
    note = f"trained to {first} on cuda, resumed to {second}"
    if "non-finite" in _log_text(ctx, "demo", "Demo"):
        note += "; the log reports non-finite steps"
    return Result("PASS", note, numbers)


def step_torchrun(ctx):
    """torchrun --nproc_per_node <all GPUs> train.py (NCCL when more than one) for a few iterations."""
    try:
        data = _synthetic_data(ctx)
    except RuntimeError as error:
        return Result("FAIL", str(error))
    n = ctx.facts.get("device_count", 0)
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), "train.py",
            *demo_train_args(dataroot=data), *_locations(ctx, "torchrun"), "--exp_name", "torchrun",
            "--device", "cuda", "--batch_size", str(8 * n), "--pretrain_iters", "2", "--print_freq", "4",
            "--val_freq", str(TORCHRUN_ITERS), "--save_freq", str(TORCHRUN_ITERS),
            "--total_iters", str(TORCHRUN_ITERS)]
    rc, text = ctx.python_run(*args)
    log = _log_text(ctx, "torchrun", "torchrun")
    numbers = {"processes": n}
    if rc != 0 or f"finished at iteration {TORCHRUN_ITERS};" not in log:
        return Result("FAIL", f"torchrun x{n} exit {rc}: {tail(text)}", numbers)
    if n > 1:
        if f"x {n} processes" not in log:
            return Result("FAIL", f"torchrun x{n} finished but the log does not say {n} processes", numbers)
        return Result("PASS", f"{n} processes with NCCL, {TORCHRUN_ITERS} iterations", numbers)
    return Result("PASS", f"1 process (one GPU), {TORCHRUN_ITERS} iterations: NCCL with several processes "
                  "remains unverified", numbers)
