"""Training-step benchmark: `python -m utils.tools.benchmark [options]` prints one JSON line.

Builds the networks of a dataset's launcher configuration (default MUG: batch 16,
10 frames of 64x64, published model options) on random data, and times warm steps
of each task — forward, losses, the groups' gradients and the Adam steps, every
group updated — plus test-time generation. Each step's FLOPs are counted with
`torch.utils.flop_counter` (SepConv, a custom op, is not counted), and a large
float32 matrix product measured in the same process gives `matmul_gflops`.
Costs are in units of the published structure's FLOP counts (issue 6):
`cost = seconds × matmul_gflops ÷ published GFLOP`.

`--implementation reference` times the straightforward implementation that
`utils.training.reference_tasks` keeps (the correctness reference of the fast one).
`--compare_host_memory TASK` instead times `--host_memory retain` against glibc's default in one
process, step pairs alternating (utils/SPEED.md item 9).
"""
import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import sepconv
from models import TwoStreamNetworks, motion, sample_videos
from models.blocks import one_hot
from utils.core.data_stream import Batch
from utils.core.host_memory import GLIBC_SETTLED, RETAIN, configure_host_memory, set_malloc
from utils.training.optimization import apply_gradients, build_optimizers
from utils.training.options import parse_train_options
from utils.training.reference_tasks import reference_gradients, run_reference_task
from utils.training.schedules import Schedules
from utils.training.tasks import run_task, task_gradients

PUBLISHED_GFLOP = {"content": 14.64, "frame": 145.3, "video": 1194.9}
# model options of the launchers (bashes/TwoStreamVAN/*Train.bash + common.bash)
LAUNCHER_MODELS = {
    "MUG": dict(num_categories=6, cont_dim=512, gf_dim=16),
    "Weizmann": dict(num_categories=10, cont_dim=512, gf_dim=16),
    "SynAction": dict(num_categories=20, cont_dim=1024, gf_dim=32),
}
REDUCED = dict(num_categories=3, cont_dim=16, gf_dim=4, image_ndf=4, video_ndf=4, motion_dim=8)


class FixedDraws:
    """A stand-in for `random` whose `randint` returns a fixed value (the frame index / t) and whose
    `random()` replays a fixed sequence (scheduled-sampling draws)."""

    def __init__(self, integer, seed=0):
        self.integer, self._rng = integer, random.Random(seed)

    def randint(self, low, high):
        return self.integer

    def random(self):
        return self._rng.random()


def model_config(dataset, reduced):
    """The model options of a launcher (or of the reduced test configuration) as a dict."""
    base = dict(n_channels=3, image_size=64, video_length=10, motion_dim=64, ac_kernel=5, kernel_layer=4,
                joint=True, use_bn=False, no_mask=False, image_ndf=16, video_ndf=64)
    base.update(LAUNCHER_MODELS[dataset])
    if reduced:
        base.update(REDUCED)
    return base


def matmul_gflops(device, size=2048, repeats=5):
    """GFLOP/s of a `size`² float32 matrix product (median of `repeats` after a warm-up)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    times = []
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        if i:
            times.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(times) / 1e9


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_gflop(function):
    """GFLOP of one call of `function` (forward + backward, as counted by FlopCounterMode)."""
    counter = FlopCounterMode(display=False)
    with counter:
        function()
    return counter.get_total_flops() / 1e9


class StepRunner:
    """One network state, a batch and the optimisers; `step(task, draws, epsilon)` runs a full update."""

    def __init__(self, config, batch_size, device, implementation, amp="off", seed=0):
        torch.manual_seed(seed)
        self.nets = TwoStreamNetworks.from_config(config, config["num_categories"]).to(device)
        self.groups = self.nets.parameter_groups()
        self.optimizers = build_optimizers(self.groups, fused=implementation != "reference")
        images = torch.rand(batch_size, config["n_channels"], config["video_length"], 64, 64, device=device) * 2 - 1
        labels = torch.arange(batch_size, device=device) % config["num_categories"]
        self.batch = Batch(images, labels, one_hot(labels, config["num_categories"]))
        self.values = dict(c_kl=5.0, m_kl=5.0, epsilon=1.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=5.0,
                           pred_scale_feat=100.0, video_scale_feat=100.0)
        self.implementation, self.amp, self.device = implementation, amp, device

    def step(self, task, draws, epsilon=1.0):
        """Forward, losses, every group's gradient and step (balance rule bypassed: all groups update)."""
        values = dict(self.values, epsilon=epsilon)
        if self.implementation == "reference":
            losses, _ = run_reference_task(task, self.nets, self.batch, values, draws)
            grads = reference_gradients(losses, list(losses.groups), self.groups)
        else:
            losses, _ = run_task(task, self.nets, self.batch, values, draws, amp=self.amp)
            grads = task_gradients(losses, list(losses.groups), self.groups)
        apply_gradients(grads, self.groups, self.optimizers)
        return losses

    def timed(self, task, draws, epsilon=1.0):
        """Seconds of one `step`."""
        _sync(self.device)
        start = time.perf_counter()
        self.step(task, draws, epsilon)
        _sync(self.device)
        return time.perf_counter() - start


def run_benchmark(dataset="MUG", batch_size=16, device="cpu", threads=2, implementation="fast", repeats=3,
                  amp="off", reduced=False, generate_videos=32, generate_frames=12, flops=True,
                  host_memory="retain"):
    """Time the tasks and generation; returns the dict printed as the JSON line."""
    retained = configure_host_memory(host_memory)
    device = torch.device(device)
    if implementation == "reference":   # the slicing SepConv differentiated by autograd
        os.environ[sepconv.ENV_VAR] = "reference"
        motion.CHANNELS_LAST_ON_CPU = False   # and the motion encoder in the default layout
    if threads:
        torch.set_num_threads(threads)
    config = model_config(dataset, reduced)
    runner = StepRunner(config, batch_size, device, implementation, amp)
    result = {"config": dataset + (" (reduced)" if reduced else ""), "implementation": implementation,
              "batch_size": batch_size, "threads": torch.get_num_threads(), "device": _device_name(device),
              "amp": amp, "host_memory": host_memory if retained or host_memory == "release" else "retain unavailable (not glibc)",
              "torch": torch.__version__}
    frames = config["video_length"]
    # video first: the first two video steps of a process are slow (allocator, oneDNN primitive caches)
    for _ in range(2):
        runner.step("video", FixedDraws(0), 1.0)
    result["video_s"] = statistics.median(runner.timed("video", FixedDraws(0, i), 1.0) for i in range(repeats))
    result["video_eps0_s"] = statistics.median(runner.timed("video", FixedDraws(0, i), 0.0) for i in range(repeats))
    runner.step("content", FixedDraws(3))
    result["content_s"] = statistics.median(runner.timed("content", FixedDraws(i % (frames - 1))) for i in range(2 * repeats))
    per_t = []
    for t in range(1, frames - 1):
        runner.step("frame", FixedDraws(t))
        per_t.append(statistics.median(runner.timed("frame", FixedDraws(t)) for _ in range(repeats)))
    result["frame_s"] = statistics.mean(per_t)
    labels = torch.arange(generate_videos, device=device) % config["num_categories"]
    gen = runner.nets.generator

    def generate():
        _sync(device)
        start = time.perf_counter()
        sample_videos(gen, labels, generate_frames - 2, warmup=2)
        _sync(device)
        return time.perf_counter() - start
    generate()
    result["generate_s"] = statistics.median(generate() for _ in range(repeats))
    if flops:
        result["content_gflop"] = count_gflop(lambda: runner.step("content", FixedDraws(3)))
        result["frame_gflop"] = statistics.mean(count_gflop(lambda: runner.step("frame", FixedDraws(t)))
                                                for t in range(1, frames - 1))
        result["video_gflop"] = count_gflop(lambda: runner.step("video", FixedDraws(0), 1.0))
    result["matmul_gflops"] = matmul_gflops(device)
    for task in ("content", "frame", "video"):
        result[f"{task}_cost"] = result[f"{task}_s"] * result["matmul_gflops"] / PUBLISHED_GFLOP[task]
    result.update(schedule_projection(result))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}


MUG_SCHEDULE = ["--dataset", "MUG", "--dry_run", "--total_iters", "500000", "--pretrain_iters", "0",
                "--cont_ratio_start", "0.4", "--cont_ratio_end", "0.4", "--motion_ratio_start", "0.1",
                "--motion_ratio_end", "0.9", "--motion_ratio_iter_start", "0", "--motion_ratio_iter_end", "150000"]


def host_memory_comparison(task, pairs, epsilon=1.0, dataset="MUG", batch_size=16, threads=2, reduced=False):
    """In-process A/B of `--host_memory` on one task (glibc only): before each timed step malloc is set
    to glibc's settled default or to `retain` (alternating which comes first), then one untimed step.

    Returns a dict: each mode's median seconds, minor page faults and kernel CPU seconds per step,
    the ratio of the medians and the median of the per-pair ratios (retain / default).
    """
    if threads:
        torch.set_num_threads(threads)
    config = model_config(dataset, reduced)
    runner = StepRunner(config, batch_size, torch.device("cpu"), "fast")
    draws = FixedDraws(0 if task == "video" else 3)
    set_malloc(GLIBC_SETTLED)
    for _ in range(2):
        runner.step(task, draws, epsilon)
    times, faults, kernel = {"default": [], "retain": []}, {"default": 0, "retain": 0}, {"default": 0.0, "retain": 0.0}
    for i in range(pairs):
        for mode in (("default", "retain") if i % 2 == 0 else ("retain", "default")):
            set_malloc(RETAIN if mode == "retain" else GLIBC_SETTLED)
            runner.step(task, draws, epsilon)
            before = resource.getrusage(resource.RUSAGE_SELF)
            times[mode].append(runner.timed(task, draws, epsilon))
            after = resource.getrusage(resource.RUSAGE_SELF)
            faults[mode] += after.ru_minflt - before.ru_minflt
            kernel[mode] += after.ru_stime - before.ru_stime
    result = {"task": task, "epsilon": epsilon, "pairs": pairs}
    for mode in times:
        result.update({f"{mode}_s": statistics.median(times[mode]), f"{mode}_faults": faults[mode] / pairs,
                       f"{mode}_kernel_s": kernel[mode] / pairs})
    result["ratio_of_medians"] = result["retain_s"] / result["default_s"]
    result["median_pair_ratio"] = statistics.median(r / d for d, r in zip(times["default"], times["retain"]))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}


def schedule_projection(result, every=1000):
    """Mean step and hours for the MUG launcher's 500 000 iterations from the per-task times.

    Per iteration: P(content) = 1 − cont_ratio, P(frame) = cont_ratio·(1 − motion_ratio),
    P(video) = cont_ratio·motion_ratio (TRAINING.md §4); a video step's time is interpolated
    between `video_eps0_s` and `video_s` by that iteration's ε.
    """
    config = parse_train_options(MUG_SCHEDULE)
    schedules = Schedules.from_config(config)
    total, mix = 0.0, {"content": 0.0, "frame": 0.0, "video": 0.0}
    iterations = range(1, config["total_iters"] + 1, every)
    for it in iterations:
        cont, motion, eps = schedules.cont_ratio(it), schedules.motion_ratio(it), schedules.epsilon(it)
        p = {"content": 1 - cont, "frame": cont * (1 - motion), "video": cont * motion}
        video = eps * result["video_s"] + (1 - eps) * result["video_eps0_s"]
        total += p["content"] * result["content_s"] + p["frame"] * result["frame_s"] + p["video"] * video
        for k in mix:
            mix[k] += p[k]
    mean_step = total / len(iterations)
    return {"mug_mean_step_s": mean_step, "mug_500k_hours": mean_step * config["total_iters"] / 3600,
            "mug_task_mix": {k: round(v / len(iterations), 4) for k, v in mix.items()}}


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def parse_args(argv):
    """Command line of the benchmark -> argparse namespace."""
    p = argparse.ArgumentParser(description="Time TwoStreamVAN's training steps; prints one JSON line.")
    p.add_argument("--dataset", default="MUG", choices=sorted(LAUNCHER_MODELS), help="launcher model configuration")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: PyTorch's default)")
    p.add_argument("--implementation", default="fast", choices=["fast", "reference"],
                   help="the training step (fast) or the straightforward reference implementation")
    p.add_argument("--amp", default="off", choices=["off", "bf16"], help="autocast the networks to bfloat16")
    p.add_argument("--repeats", type=int, default=3, help="timed warm steps per measurement (median)")
    p.add_argument("--reduced", action="store_true", help="a tiny model (for tests), not a launcher's")
    p.add_argument("--no_flops", action="store_true", help="skip the FLOP counts")
    p.add_argument("--host_memory", default="retain", choices=["retain", "release"],
                   help="as train.py's --host_memory (release: malloc's defaults, for A/B comparisons)")
    p.add_argument("--compare_host_memory", default=None, metavar="TASK", choices=["content", "frame", "video"],
                   help="instead: in-process A/B of glibc's settled default vs retain on TASK (CPU, glibc)")
    p.add_argument("--pairs", type=int, default=8, help="--compare_host_memory: timed pairs")
    p.add_argument("--epsilon", type=float, default=1.0, help="--compare_host_memory video: ε of the steps")
    args = p.parse_args(argv)
    if args.compare_host_memory:
        if args.device != "cpu" or platform.libc_ver()[0] != "glibc":
            p.error("--compare_host_memory needs --device cpu and glibc")
        if args.pairs < 1 or not 0.0 <= args.epsilon <= 1.0:
            p.error("--pairs must be positive and --epsilon within [0, 1]")
    if args.batch_size < 1 or args.repeats < 1 or args.threads < 0:
        p.error("--batch_size and --repeats must be positive, --threads non-negative")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available on this machine")
    return args


def main(argv=None):
    """Parse, run, print the JSON line."""
    args = parse_args(argv)
    if args.compare_host_memory:
        print(json.dumps(host_memory_comparison(args.compare_host_memory, args.pairs, args.epsilon, args.dataset,
                                                args.batch_size, args.threads, args.reduced)), flush=True)
        return 0
    result = run_benchmark(args.dataset, args.batch_size, args.device, args.threads, args.implementation,
                           args.repeats, args.amp, args.reduced, flops=not args.no_flops,
                           host_memory=args.host_memory)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
