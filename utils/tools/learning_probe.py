"""Learning probe: train the networks through the project's own step in chosen phases, and after each
phase measure what the README's "Where learning stalls" reports.

Phases: `pre:N` (N content pre-training steps) or `mix:N:CONT:MOTION` (N steps drawn as the loop draws
them: the content task when r1 > CONT, else the frame task when r2 > MOTION, else the video task).
After each phase, in eval mode on the synthetic test split: the direction accuracy
(`utils.evaluation.motion_direction`, chance 1/4) of unconditional videos, of test clips regenerated from their
first frame with `z_m ~ N(0, I)` (conditional), and of test clips regenerated free-running (ε = 0)
from their own motion posterior means ("motion reconstruction": can the motion stream move objects
at all, given the motion?); the content reconstruction mse; the pixel spread of decoded prior
samples, and where the content prior puts the object per label (`prior_centres`, and how far behind the
frame's middle against the class's direction, `prior_behind_middle_px`, beside the test clips' first
frames' `real_first_behind_middle_px`); the mean fusion mask per scale, and at scale 64 on object against background pixels; the
mean time per task. Written to a JSON report, with a PNG per phase (frames 0, 3, 6, 9 of every 8th
unconditional video beside the conditional ones).

`--first_move_share P` draws the frame task's t as 1 (the first move, which only the label can decide) with
probability P and otherwise uniformly over 2..T−2, instead of the loop's uniform 1..T−2: a measurement of how
fast the label is learnt when more of the frame tasks depend on it (`train.py` keeps the uniform draw).

`python -m utils.tools.learning_probe --dataroot DIR --out REPORT.json [options]` (synthetic data: the classes
must be directions).
"""
import argparse
import json
import random
import sys
import time

import cv2
import numpy as np
import torch

from datasets import build_dataset
from datasets.errors import DatasetError
from models import GROUPS, TwoStreamNetworks
from models.blocks import one_hot
from models.generator import sample_videos
from utils.core.data_stream import Batch
from utils.evaluation.motion_direction import DIRECTIONS, direction_accuracy, frame_centres, object_pixels
from utils.training.loop import train_step
from utils.training.optimization import build_optimizers, parse_group_lr


def parse_phases(text):
    """'pre:N,mix:N:CONT:MOTION,...' -> list of (kind, steps, cont_ratio, motion_ratio); ValueError when malformed."""
    phases = []
    for part in text.split(","):
        fields = part.split(":")
        try:
            if fields[0] == "pre" and len(fields) == 2:
                phases.append(("pre", int(fields[1]), 0.0, 0.0))
            elif fields[0] == "mix" and len(fields) == 4:
                phases.append(("mix", int(fields[1]), float(fields[2]), float(fields[3])))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"--phases: {part!r} is neither pre:N nor mix:N:CONT:MOTION") from None
        if phases[-1][1] < 1:
            raise ValueError(f"--phases: {part!r} has no steps")
    return phases


class FirstMoveDraw:
    """A stand-in for Python's `random` in the training step: the frame task's `randint(1, T − 2)` (its t)
    returns 1 with probability `share`, else a uniform draw from 2..T−2; every other call goes to `source`."""

    def __init__(self, share, source=random):
        self.share, self.source = share, source

    def randint(self, low, high):
        if low == 1 and high > 1:       # utils.training.tasks.frame_task: t = rng.randint(1, T − 2)
            return 1 if self.source.random() < self.share else self.source.randint(2, high)
        return self.source.randint(low, high)

    def __getattr__(self, name):
        return getattr(self.source, name)


def mask_statistics(generator, frames, label_onehot):
    """Mean fusion mask per scale for one motion step from `frames [B, C, 64, 64]` with `z_m ~ N(0, I)`, and at
    scale 64 on object pixels (far from their row's median colour: the synthetic backgrounds are vertical
    gradients) and on the background. Returns a dict of floats."""
    z_content = generator.content_mean(frames, label_onehot)
    z_motion = frames.new_empty(frames.shape[0], generator.motion_dim).normal_()
    trajectory = generator.trajectory_generator(z_motion, label_onehot).unsqueeze(1)
    outputs, _ = generator.trajectory_generator.lstm(trajectory)
    _, _, kernels = generator.decode_with_motion(z_content, outputs[:, -1], label_onehot)
    stats = {f"mask_{scale}": float(k[2].mean()) for scale, k in sorted(kernels.items())}
    if 64 in kernels:
        on_object = torch.from_numpy(object_pixels(frames))                          # [B, 64, 64]
        mask = kernels[64][2][:, 0]
        stats["mask_64_object"] = float(mask[on_object].mean()) if on_object.any() else float("nan")
        stats["mask_64_background"] = float(mask[~on_object].mean())
    return stats


def behind_middle(centres, labels, classes, size=64):
    """Mean distance (px) of object centres `[N, 2]` from the frame's middle, against their class's
    direction (positive: on the side the class starts from), averaged over the classes present."""
    unit = np.array([DIRECTIONS[c] for c in classes])[np.asarray(labels)]            # [N, 2]
    behind = -((centres - (size - 1) / 2) * unit).sum(axis=1)
    found = np.isfinite(behind)
    per_class = [behind[found & (labels == k)].mean() for k in np.unique(labels) if (found & (labels == k)).any()]
    return float(np.mean(per_class)) if per_class else float("nan")


@torch.no_grad()
def prior_placement(generator, classes, test_batch, per_class=64):
    """Where the content prior puts the object: decoded `z_c ~ N(0, I)` frames per label (eval mode), their
    mean object centre per class (`frame_centres`) and how far behind the middle against the class's
    direction they sit, beside the same for the test clips' first frames (NaN where no object is found).
    Returns a dict."""
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    with torch.random.fork_rng():           # leaves the global generator as it was: later draws are unchanged
        prior, _, _ = generator.reconstruct_frame(one_hot(labels, len(classes)), None, "random")
    centres, real = frame_centres(prior), frame_centres(test_batch.images[:, :, 0])
    labels, truth = labels.numpy(), test_batch.labels.numpy()
    def mean_centre(k):
        found = centres[(labels == k) & np.isfinite(centres).all(axis=1)]
        return [round(float(v), 2) for v in found.mean(axis=0)] if len(found) else [float("nan")] * 2
    return {"prior_centres": {c: mean_centre(k) for k, c in enumerate(classes)},
            "prior_behind_middle_px": behind_middle(centres, labels, classes),
            "real_first_behind_middle_px": behind_middle(real, truth, classes)}


@torch.no_grad()
def measure(nets, test_batch, classes, per_class=16, seed=1):
    """The after-phase measurements (see the module docstring) on one test batch; returns `(dict, grid uint8)`."""
    nets.eval()
    g, rng = nets.generator, random.Random(seed)
    torch.manual_seed(seed)
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    unconditional, _ = sample_videos(g, labels, test_batch.images.shape[2], warmup=2, rng=rng)
    first, _, _ = g.reconstruct_frame(test_batch.onehot, test_batch.images[:, :, 0], "mean")
    z_motion = torch.randn(test_batch.images.shape[0], test_batch.images.shape[2] - 1, g.motion_dim)
    conditional, _, _ = g._unroll(first, z_motion, test_batch.onehot, 0.0, rng)
    motion_recon, _, _ = g.generate_sequence(test_batch.images, test_batch.onehot, test_batch.diffs, 0.0, "mean",
                                             rng=rng)
    truth = test_batch.labels.numpy()
    result = {"unconditional_direction": direction_accuracy(unconditional.numpy(), labels.numpy(), classes)[0],
              "conditional_direction": direction_accuracy(conditional.numpy(), truth, classes)[0],
              "motion_reconstruction_direction": direction_accuracy(motion_recon.numpy(), truth, classes)[0],
              "real_direction": direction_accuracy(test_batch.images.numpy(), truth, classes)[0],
              "reconstruction_mse": float(((first - test_batch.images[:, :, 0]) ** 2).mean()),
              "prior_sample_spread": float(unconditional[:, :, 0].std(0).mean())}
    result.update(prior_placement(g, classes, test_batch, per_class=4 * per_class))
    result.update(mask_statistics(g, test_batch.images[:, :, 0], test_batch.onehot))
    nets.train()
    rows = min(unconditional.shape[0] // 8, conditional.shape[0])
    pick = lambda video, i: np.concatenate([video[i, :, t].permute(1, 2, 0).numpy() for t in (0, 3, 6, 9)], 1)
    grid = np.concatenate([np.concatenate([pick(unconditional, 8 * r), pick(conditional, r)], 1) for r in range(rows)])
    return result, ((grid + 1) * 127.5).clip(0, 255).astype(np.uint8)


def main(argv=None):
    """Run the phases, print a line per 50 steps and the measurements per phase; write the report."""
    p = argparse.ArgumentParser(prog="python -m utils.tools.learning_probe", description=__doc__.split("\n")[0])
    p.add_argument("--dataroot", required=True, help="synthetic data (python -m datasets.synthetic)")
    p.add_argument("--out", required=True, help="JSON report; PNG grids beside it (<out>_<phase end>.png)")
    p.add_argument("--phases", default="pre:2000,mix:300:0.5:0.2", help="pre:N and mix:N:CONT:MOTION, comma-separated")
    for name, default in (("gf_dim", 8), ("cont_dim", 64), ("motion_dim", 16), ("ndf", 16), ("batch_size", 8),
                          ("seed", 0), ("threads", 1)):
        p.add_argument(f"--{name}", type=int, default=default)
    for name, default in (("lr", 1e-3), ("c_kl", 1.0), ("img_m_kl", 1e4), ("m_kl", 1e3), ("xp_vs_xtilde", 1.0),
                          ("c_img_dis", 10.0), ("epsilon", 1.0), ("pred_scale_feat", 100.0),
                          ("video_scale_feat", 100.0)):
        p.add_argument(f"--{name}", type=float, default=default)
    p.add_argument("--group_lr", default="", help="NAME=LR,...: other learning rates for named groups (as train.py)")
    p.add_argument("--use_bn", action="store_true")
    p.add_argument("--no_mask", action="store_true")
    p.add_argument("--first_move_share", type=float, default=None,
                   help="draw the frame task's t as 1 with this probability (default: the loop's uniform 1..T-2)")
    args = p.parse_args(argv)
    try:
        phases = parse_phases(args.phases)
        if args.first_move_share is not None and not 0.0 <= args.first_move_share <= 1.0:
            raise ValueError(f"--first_move_share must be in [0, 1], got {args.first_move_share}")
        try:
            group_lr = parse_group_lr(args.group_lr, GROUPS)
        except ValueError as error:
            raise ValueError(f"--group_lr: {error}") from None
        train_set = build_dataset("synthetic", args.dataroot, "train", crop=True)
        test_set = build_dataset("synthetic", args.dataroot, "test", crop=False)
    except (ValueError, DatasetError) as error:
        print(f"python -m utils.tools.learning_probe: error: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    classes, nc = list(train_set.classes), len(train_set.classes)
    nets = TwoStreamNetworks(nc, cont_dim=args.cont_dim, motion_dim=args.motion_dim, gf_dim=args.gf_dim,
                             image_ndf=args.ndf, video_ndf=args.ndf, joint=True, use_bn=args.use_bn,
                             no_mask=args.no_mask)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups, lr=args.lr, group_lr=group_lr)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_item = next(iter(torch.utils.data.DataLoader(test_set, batch_size=len(test_set), shuffle=False)))
    test_batch = Batch.from_loader(test_item, nc, torch.device("cpu"))
    values = {k: getattr(args, k) for k in ("c_kl", "img_m_kl", "m_kl", "xp_vs_xtilde", "c_img_dis", "epsilon",
                                            "pred_scale_feat", "video_scale_feat")}

    def batches():
        while True:
            for item in loader:
                yield Batch.from_loader(item, nc, torch.device("cpu"))
    stream, iteration, start, report = batches(), 0, time.time(), {"options": vars(args), "phases": []}
    draw = random if args.first_move_share is None else FirstMoveDraw(args.first_move_share)
    for kind, steps, cont_ratio, motion_ratio in phases:
        mse, times = {}, {}
        for step in range(steps):
            iteration += 1
            r1, r2 = random.random(), random.random()
            task = "pretrain" if kind == "pre" else (
                "content" if r1 > cont_ratio else "frame" if r2 > motion_ratio else "video")
            t0 = time.time()
            losses, _, updated = train_step(task, nets, groups, optimizers, next(stream), values, draw)
            times.setdefault(task, []).append(time.time() - t0)
            if updated is not None:
                mse.setdefault(task, []).append(float(losses.scalars["mse"].detach()))
            if (step + 1) % 50 == 0:
                print(iteration, " ".join(f"{t}:{np.mean(v[-50:]):.4f}" for t, v in mse.items()),
                      f"{time.time() - start:.0f}s", flush=True)
        result, grid = measure(nets, test_batch, classes)
        result.update(phase=f"{kind}{iteration}", iteration=iteration, elapsed_s=time.time() - start,
                      seconds_per_task={t: float(np.mean(v)) for t, v in times.items()},
                      mse_last_50={t: float(np.mean(v[-50:])) for t, v in mse.items()})
        print(json.dumps(result), flush=True)
        report["phases"].append(result)
        cv2.imwrite(args.out.rsplit(".", 1)[0] + f"_{kind}{iteration}.png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
