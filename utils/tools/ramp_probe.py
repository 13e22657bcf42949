"""Ramp probe: what the ε ramp does to a trained model, step by step (README, "The published schedule
in miniature").

From a training checkpoint (its networks, optimisers and options), run `--steps` video-task
updates through the project's own step (`utils.training.loop.train_step`) while the scheduled-sampling
probability falls linearly from 1 to 0 over the first `--ramp` of them (`--ramp 0`: ε = 0 at once) and
stays at 0 after; the video KL weight is the checkpoint's schedule value at its iteration. Per step it
records the losses, the groups the balance rule updated, each updated group's gradient norm (before any
`--grad_clip`), and per
unroll step of the sampled pass the largest |frame| value, the share of pixels outside [-1, 1], and
per fusion scale the kernels' gain on a constant input (|ΣV · ΣH| per pixel: mean and max), the largest
|kernel| entry and the mean mask. It stops after `--max_nonfinite` consecutive non-finite steps.

`python -m utils.tools.ramp_probe CHECKPOINT --ramp N --steps M --out REPORT.jsonl [--dataroot DIR] [--threads T]`
prints one line per step and writes one JSON record per step.
"""
import argparse
import json
import math
import random
import sys
import time

import torch

from datasets.errors import DatasetError
from models import TwoStreamNetworks
from utils.core.checkpoint import CheckpointError, load_checkpoint
from utils.core.data_stream import Batch, build_split
from utils.training.loop import step_values, train_step
from utils.training.optimization import build_optimizers
from utils.training.schedules import Schedules


def ramp_epsilon(step, ramp):
    """ε of probe step `step` (0-based) on a linear ramp from 1 to 0 over `ramp` steps (0: always 0)."""
    return 0.0 if ramp <= 0 else max(0.0, 1.0 - step / ramp)


class GradientNorms:
    """Stands in for the multi-process synchroniser of `utils.training.optimization.update_step` (one process):
    passes everything through unchanged and records each group's gradient norm."""

    def __init__(self):
        self.norms = {}

    def all_finite(self, flag):
        return flag

    def costs(self, real, fake):
        return real, fake

    def gradients(self, grads):
        for name, by_id in grads.items():
            squares = [g.detach().double().pow(2).sum() for g in by_id.values() if g is not None]
            self.norms[name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
        return grads


def kernel_statistics(kernels):
    """dict scale -> (V [B,K,S,S], H, mask [B,1,S,S]) -> per scale: gain mean/max, max |entry|, mask mean."""
    out = {}
    for scale, parts in sorted(kernels.items()):
        vertical, horizontal, mask = (t.detach() for t in parts)
        gain = (vertical.sum(1) * horizontal.sum(1)).abs()
        out[str(scale)] = {"gain_mean": float(gain.mean()), "gain_max": float(gain.max()),
                           "kernel_absmax": float(torch.maximum(vertical.abs().max(), horizontal.abs().max())),
                           "mask_mean": float(mask.mean())}
    return out


def frame_statistics(video):
    """video `[B, C, T, H, W]` -> per frame: largest |value| and the share of values outside [-1, 1]."""
    v = video.detach().float()
    absmax = v.abs().amax(dim=(0, 1, 3, 4))
    outside = (v.abs() > 1).float().mean(dim=(0, 1, 3, 4))
    return [{"absmax": float(a), "outside": float(o)} for a, o in zip(absmax, outside)]


def load_run(path, dataroot=None):
    """A training checkpoint -> (config, nets, groups, optimizers, train set); raises CheckpointError /
    DatasetError with a one-line message."""
    state = load_checkpoint(path)
    config = dict(state["config"])
    if dataroot:
        config["dataroot"] = dataroot
    train_set = build_split(config, "train")
    nets = TwoStreamNetworks.from_config(config, len(train_set.classes))
    nets.load_state_dict(state["networks"])
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups, lr=config.get("lr", 2e-4), group_lr=config.get("group_lr"))
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    return config, state["iteration"], nets, groups, optimizers, train_set


def main(argv=None):
    """Run the probe; exit 0 when it ran (whatever the model did), 2 on a bad checkpoint or dataset."""
    p = argparse.ArgumentParser(prog="python -m utils.tools.ramp_probe", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="a training checkpoint (<checkpoint_dir>/<exp_name>/<iteration>.pth)")
    p.add_argument("--ramp", type=int, required=True, help="video steps over which ε falls from 1 to 0 (0: at once)")
    p.add_argument("--steps", type=int, required=True, help="video steps to run")
    p.add_argument("--out", required=True, help="JSON lines, one record per step")
    p.add_argument("--dataroot", default=None, help="the dataset (default: the checkpoint's)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: PyTorch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detach_feedback", action="store_true",
                   help="turn --detach_feedback on (default: the checkpoint's setting)")
    p.add_argument("--grad_clip", type=float, default=None,
                   help="per-group gradient-norm clipping (default: the checkpoint's --grad_clip; 0: off)")
    p.add_argument("--max_nonfinite", type=int, default=3, help="stop after this many consecutive non-finite steps")
    args = p.parse_args(argv)
    if args.ramp < 0 or args.steps < 1 or args.max_nonfinite < 1:
        p.exit(2, f"{p.prog}: error: --ramp must be >= 0, --steps and --max_nonfinite >= 1\n")
    try:
        config, iteration, nets, groups, optimizers, train_set = load_run(args.checkpoint, args.dataroot)
    except (CheckpointError, DatasetError, OSError, KeyError) as error:
        p.exit(2, f"{p.prog}: error: {args.checkpoint}: {error}\n")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    values_at_start = step_values(config, Schedules.from_config(config), iteration)
    grad_clip = config.get("grad_clip", 0.0) if args.grad_clip is None else args.grad_clip
    nets.generator.detach_feedback = bool(args.detach_feedback or config.get("detach_feedback", False))
    nc = len(train_set.classes)
    loader = torch.utils.data.DataLoader(train_set, batch_size=config["batch_size"], shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(args.seed))
    calls = []
    hook = nets.generator.motion_generator.register_forward_hook(
        lambda module, inputs, output: calls.append(kernel_statistics(output)))

    def batches():
        while True:
            yield from loader
    stream, nonfinite, start = batches(), 0, time.time()
    print(f"{args.checkpoint} (iteration {iteration}): {args.steps} video steps, ε 1 -> 0 over {args.ramp}, "
          f"m_kl {values_at_start['m_kl']:g}, grad_clip {grad_clip:g}"
          + (", detach_feedback" if nets.generator.detach_feedback else ""), flush=True)
    with open(args.out, "w") as report:
        for step in range(args.steps):
            values = dict(values_at_start, epsilon=ramp_epsilon(step, args.ramp))
            calls.clear()
            norms = GradientNorms()
            batch = Batch.from_loader(next(stream), nc, torch.device("cpu"))
            nets.train()
            losses, visuals, updated = train_step("video", nets, groups, optimizers, batch, values, rng, sync=norms,
                                                   grad_clip=grad_clip)
            unroll = len(calls) // 2          # the sampled pass, then the random pass
            record = {"step": step, "epsilon": values["epsilon"], "finite": updated is not None,
                      "updated": updated or [], "grad_norm": norms.norms,
                      "losses": {k: float(v.detach()) for k, v in losses.scalars.items()},
                      "frames": frame_statistics(visuals["video"]), "kernels": calls[:unroll],
                      "random_kernels_gain_max": max((c[s]["gain_max"] for c in calls[unroll:] for s in c), default=None),
                      "seconds": time.time() - start}
            report.write(json.dumps(record, allow_nan=True) + "\n")
            report.flush()
            top = calls[unroll - 1] if unroll else {}
            print(f"step {step:3d} eps {values['epsilon']:.2f} mse {record['losses'].get('mse', math.nan):.4g} "
                  f"scale_feat {record['losses'].get('scale_feat', math.nan):.4g} "
                  f"frame max {max(f['absmax'] for f in record['frames']):.3g} "
                  f"gain64 max {top.get('64', {}).get('gain_max', math.nan):.3g} "
                  "masks " + " ".join(f"{v['mask_mean']:.2f}" for v in top.values()) + " "
                  f"grad " + " ".join(f"{n.split('_')[0][0]}{n.split('_')[1][0]}={g:.3g}" for n, g in norms.norms.items())
                  + ("" if updated is not None else "  NON-FINITE"), flush=True)
            nonfinite = 0 if updated is not None else nonfinite + 1
            if nonfinite >= args.max_nonfinite:
                print(f"stopped: {nonfinite} consecutive non-finite steps", flush=True)
                break
    hook.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
