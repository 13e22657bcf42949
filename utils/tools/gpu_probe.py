"""Probes that `utils.tools.gpu_check` runs in a child process of the interpreter under test; each prints one
JSON object on its last line of stdout.

    python -m utils.tools.gpu_probe environment        the interpreter, torch, CUDA, the GPUs, CuPy
    python -m utils.tools.gpu_probe imports            every module the project needs, with versions or errors
    python -m utils.tools.gpu_probe backend --expect cuda-precompiled|cuda-nvrtc [--no-binaries]
                                                 sepconv.active_backend on cuda:0 and one kernel result
                                                 against the float64 reference
    python -m utils.tools.gpu_probe tf32-benchmark [utils.tools.benchmark options]
                                                 the training benchmark with `--tf32` applied as train.py does

Only the standard library is imported at module level, so a missing torch is reported, not raised.
"""
import importlib
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# (module, pip distribution, what needs it); cupy is required only where CUDA is available
REQUIRED = [("torch", "torch", "everything"), ("numpy", "numpy", "everything"),
            ("cv2", "opencv-python-headless", "datasets"), ("PIL", "pillow", "datasets, visualisation"),
            ("scipy", "scipy", "metrics"), ("sklearn", "scikit-learn", "metrics"),
            ("matplotlib", "matplotlib", "evaluation figures"), ("tqdm", "tqdm", "progress bars"),
            ("packaging", "packaging", "tensorboardX"), ("google.protobuf", "protobuf", "tensorboardX"),
            ("tensorboardX", "tensorboardX", "logging"), ("pytest", "pytest", "the CUDA tests")]
PROJECT = ["models", "datasets", "utils.training.options", "sepconv", "train"]


def _version(module):
    return str(getattr(module, "__version__", "") or "present")


def _try_import(name):
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return None, f"{type(exc).__name__}: {exc}".strip()


def environment():
    """Facts of this interpreter: Python, torch, CUDA, cuDNN, NCCL, the GPUs and CuPy (a dict)."""
    facts = {"python": platform.python_version(), "executable": sys.executable,
             "platform": f"{platform.system()} {platform.machine()}"}
    torch, error = _try_import("torch")
    if torch is None:
        facts["torch"], facts["torch_error"] = "missing", error
        facts["cuda_available"] = False
        return facts
    facts["torch"] = torch.__version__
    facts["torch_cuda"] = torch.version.cuda
    facts["cuda_available"] = bool(torch.cuda.is_available())
    facts["device_count"] = torch.cuda.device_count() if facts["cuda_available"] else 0
    facts["gpus"] = []
    for index in range(facts["device_count"]):
        props = torch.cuda.get_device_properties(index)
        facts["gpus"].append({"name": props.name, "capability": f"{props.major}.{props.minor}",
                              "memory_gib": round(props.total_memory / 2 ** 30, 1)})
    if facts["cuda_available"]:
        facts["cudnn"] = torch.backends.cudnn.version()
        try:
            facts["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
        except Exception as exc:
            facts["nccl"] = f"unknown ({type(exc).__name__})"
    cupy, error = _try_import("cupy")
    if cupy is None:
        facts["cupy"], facts["cupy_error"] = "missing", error
    else:
        facts["cupy"] = cupy.__version__
        if facts["cuda_available"]:
            try:
                facts["cupy_cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
                facts["cuda_driver_api"] = cupy.cuda.runtime.driverGetVersion()
            except Exception as exc:
                facts["cupy_cuda_runtime"] = f"unknown ({type(exc).__name__}: {exc})"
    return facts


def imports():
    """Import every module the project needs: a dict with `modules` (name -> version, path or error) and
    `missing` (dicts: module, pip distribution, what needs it, error)."""
    modules, missing = {}, []
    torch, _ = _try_import("torch")
    cuda = bool(torch is not None and torch.cuda.is_available())
    wanted = REQUIRED + ([("cupy", "cupy-cuda13x (or the build for this CUDA)", "the SepConv kernel")] if cuda else [])
    for name, dist, purpose in wanted:
        module, error = _try_import(name)
        modules[name] = _version(module) if module else f"missing ({error})"
        if module is None:
            missing.append({"module": name, "pip": dist, "for": purpose, "error": error})
    if not missing:  # the project's own packages, which generic PyPI names ('utils', 'datasets') may shadow
        for name in PROJECT:
            module, error = _try_import(name)
            origin = Path(getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), "?"))
            if module is None:
                missing.append({"module": name, "pip": None, "for": "this repository", "error": error})
            elif ROOT not in origin.resolve().parents:
                missing.append({"module": name, "pip": None, "for": "this repository",
                                "error": f"resolves to {origin}, not under {ROOT}"})
            modules[name] = "missing" if module is None else str(origin)
    return {"cuda": cuda, "modules": modules, "missing": missing}


def _relative_error(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def backend(expect, no_binaries=False):
    """sepconv's backend on cuda:0 and the relative errors of one forward/backward against the reference."""
    import torch
    import sepconv
    from sepconv import cuda_backend
    if no_binaries:  # the run-time compilation path even where sepconv/ holds precompiled binaries
        cuda_backend.binary_dirs = lambda: []
    os.environ.pop(sepconv.ENV_VAR, None)
    active = sepconv.active_backend("cuda:0")
    result = {"backend": str(active), "reason": active.reason, "expected": expect}
    if active == expect:
        g = torch.Generator().manual_seed(0)
        b, c, size, k = 4, 16, 16, 5
        shapes = [(b, c, size + k - 1, size + k - 1), (b, k, size, size), (b, k, size, size)]
        inputs = [torch.randn(s, generator=g).cuda().requires_grad_() for s in shapes]
        out = sepconv.separable_conv(*inputs)
        gout = torch.randn_like(out)
        grads = torch.autograd.grad(out, inputs, gout)
        ref_in = [t.detach().double().requires_grad_() for t in inputs]
        ref = sepconv.separable_conv_reference(*ref_in)
        ref_grads = torch.autograd.grad(ref, ref_in, gout.double())
        result["max_rel_err"] = max(_relative_error(a, e) for a, e in zip((out, *grads), (ref, *ref_grads)))
    return result


def tf32_benchmark(argv):
    """Run utils.tools.benchmark with TF32 allowed the way train.py's `--tf32` allows it (prints its JSON line)."""
    import torch
    from utils.tools import benchmark
    from utils.training.loop import configure_precision
    args = benchmark.parse_args(argv)
    configure_precision({"tf32": True}, torch.device(args.device))
    if not (torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32):
        raise SystemExit("tf32-benchmark: --tf32 did not enable TF32 (is --device a CUDA device?)")
    benchmark.main(argv)


def main(argv=None):
    """Dispatch on the probe's name; print its JSON line (returns the exit status)."""
    argv = sys.argv[1:] if argv is None else argv
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    name, rest = (argv[0], argv[1:]) if argv else ("", [])
    if name == "environment":
        print(json.dumps(environment()))
    elif name == "imports":
        result = imports()
        print(json.dumps(result))
        return 1 if result["missing"] else 0
    elif name == "backend" and len(rest) >= 2 and rest[0] == "--expect":
        result = backend(rest[1], no_binaries="--no-binaries" in rest[2:])
        print(json.dumps(result))
        return 0 if result["backend"] == result["expected"] else 1
    elif name == "tf32-benchmark":
        tf32_benchmark(rest)
    else:
        print("gpu_probe: expected environment, imports, backend --expect NAME [--no-binaries] or "
              f"tf32-benchmark [options], got {' '.join(argv) or 'nothing'}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
