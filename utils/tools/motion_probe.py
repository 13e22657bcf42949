"""Motion probe: why the motion stream does not move objects its class's way, measured on a training
checkpoint of the synthetic data (classes are directions). README, "The demo", "Where learning stalls".

On training clips in train mode (batch statistics, as in a training step), without updating the run:
- shift gain: the frame task's mse between its content source and x_t, unmoved and moved by the
  data's speed in its class's direction (and the opposite way), for the content stream's
  reconstruction of x_{t−1} (what the fusion moves in training) and for x_{t−1} itself;
- feature shift: per scale of the scale-feature loss, that loss between the decoder features of
  x_{t−1} and of x_t, unmoved and with x_{t−1}'s features moved by one pixel, and their roughness
  (mean squared difference of horizontal neighbours over the mean square);
- class spread: the kernels of frame-task steps with z_m ~ N(0, I), per scale: the spread of the
  per-class mean kernels over the spread across the batch (0: the label changes nothing), the mean
  kernel per class at the finest scale, and how far the predicted frame's object moves along its
  class's direction from the unmoved reconstruction (px, centre of mass);
- fit (`--fit_steps N`): copies of the trajectory generator, joint input and motion generator trained
  alone (Adam, the run's lr and betas, the frame task's mse weight) to move a source frame into x_t
  through the finest fusion scale only, label and z_m ~ N(0, I) in (`--fit_source recon|frame`);
  the mse moved and unmoved along the way, then the class spread of the fitted copies.

`python -m utils.tools.motion_probe CHECKPOINT [--out REPORT.json] [--fit_steps N] [--fit_source recon]`
"""
import argparse
import copy
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from datasets.errors import DatasetError
from models.content import fuse_motion
from models.losses import RECONSTRUCTION_WEIGHT
from utils.core.checkpoint import CheckpointError
from utils.core.data_stream import Batch
from utils.evaluation.motion_direction import DIRECTIONS
from utils.tools.ramp_probe import load_run
from utils.training.optimization import BETAS


def shift(maps, dx, dy):
    """Move the content of `maps [N, C, S, S]` by integer (dx, dy) px (x right, y down), edges replicated."""
    pad = max(abs(dx), abs(dy))
    if pad == 0:
        return maps
    size = maps.shape[-1]
    padded = F.pad(maps, (pad, pad, pad, pad), mode="replicate")
    return padded[..., pad - dy:pad - dy + size, pad - dx:pad - dx + size]


def shift_each(maps, steps):
    """`shift` per sample: maps `[N, C, S, S]`, steps `[N, 2]` integer (dx, dy) -> `[N, C, S, S]`."""
    return torch.cat([shift(maps[i:i + 1], int(dx), int(dy)) for i, (dx, dy) in enumerate(steps.tolist())])


def object_centres(frames, threshold=0.3):
    """Centre of mass `[N, 2]` (x, y) of what differs from each row's median colour (the synthetic
    backgrounds are vertical gradients), weighted where that difference exceeds `threshold` x its
    maximum; NaN for a frame with none. frames `[N, C, H, W]`."""
    diff = (frames - frames.median(dim=3, keepdim=True).values).abs().sum(dim=1)           # [N, H, W]
    peak = diff.flatten(1).max(dim=1).values.view(-1, 1, 1)
    weight = torch.where(diff > threshold * peak, diff, torch.zeros_like(diff))
    ys, xs = torch.meshgrid(torch.arange(diff.shape[1], dtype=diff.dtype),
                            torch.arange(diff.shape[2], dtype=diff.dtype), indexing="ij")
    total = weight.flatten(1).sum(dim=1)
    centre = torch.stack([(weight * xs).flatten(1).sum(1), (weight * ys).flatten(1).sum(1)], dim=1) / total[:, None]
    return torch.where(total[:, None] > 0, centre, torch.full_like(centre, float("nan")))


def class_spread(kernel_maps, labels, num_classes):
    """kernel_maps `[N, D, S, S]` (e.g. V and H stacked) -> (std over classes of the per-class mean
    kernels, averaged over D; that over the std across the batch of the per-sample kernels; per-class
    mean kernels `[num_classes, D]`, NaN for a class not in the batch). A sample's kernel is its spatial mean."""
    per_sample = kernel_maps.mean(dim=(2, 3))                                               # [N, D]
    means = torch.stack([per_sample[labels == c].mean(0) if (labels == c).any()
                         else per_sample.new_full(per_sample.shape[1:], float("nan")) for c in range(num_classes)])
    present = means[~means.isnan().any(dim=1)]
    between = float(present.std(0).mean())
    return between, between / max(float(per_sample.std(0).mean()), 1e-12), means


def frame_steps(num_frames):
    """The frame task's steps t (x_{t−1} -> x_t), 1 ≤ t ≤ T − 2."""
    return range(1, num_frames - 1)


@torch.no_grad()
def shift_gain(generator, batch, unit, speed):
    """Mean frame-task mse (source vs x_t) for sources 'recon' and 'frame', moved 'none' / 'class' / 'opposite'."""
    sums = {f"{source}_{way}": 0.0 for source in ("recon", "frame") for way in ("none", "class", "opposite")}
    steps = frame_steps(batch.images.shape[2])
    for t in steps:
        previous, target = batch.images[:, :, t - 1], batch.images[:, :, t]
        recon = generator.reconstruct_frame(batch.onehot, previous, "mean")[0]
        for source, frame in (("recon", recon), ("frame", previous)):
            for way, sign in (("none", 0), ("class", 1), ("opposite", -1)):
                moved = shift_each(frame, sign * speed * unit)
                sums[f"{source}_{way}"] += float(F.mse_loss(moved, target))
    return {k: v / len(steps) for k, v in sums.items()}


@torch.no_grad()
def feature_shift(generator, batch):
    """Per scale of the scale-feature loss: its value unmoved and with x_{t−1}'s features moved by 1 px, and roughness."""
    t = batch.images.shape[2] // 2
    _, _, previous = generator.reconstruct_frame(batch.onehot, batch.images[:, :, t - 1], "mean")
    _, _, target = generator.reconstruct_frame(batch.onehot, batch.images[:, :, t], "mean")
    scales = [s for s in (8, 16, 32, 64) if s in {f.shape[-1] for f in previous}]
    report = {}
    for scale, p, q in zip(scales, previous, target):
        report[str(scale)] = {"unmoved": float(F.mse_loss(p, q)), "moved_1px": float(F.mse_loss(shift(p, 1, 0), q)),
                              "roughness": float(((p[..., 1:] - p[..., :-1]) ** 2).mean() / (p ** 2).mean())}
    return report


def motion_kernels(trajectory_generator, joint_input, motion_generator, generator, previous, label_onehot, history=None):
    """Kernels of one motion step from `previous [B, C, 64, 64]` with z_m ~ N(0, I) and the given modules
    (the run's or copies); `history` `[B, t−1, 16, 8, 8]` are earlier motion maps fed to the ConvLSTM."""
    z_motion = previous.new_empty(previous.shape[0], generator.motion_dim).normal_()
    inputs = trajectory_generator(z_motion, label_onehot).unsqueeze(1)
    if history is not None and history.shape[1]:
        inputs = torch.cat([history, inputs], dim=1)
    state = trajectory_generator.lstm(inputs)[0][:, -1]
    if joint_input is not None:
        _, u = generator.content_input(generator.content_mean(previous, label_onehot), label_onehot)
        state = joint_input(u, state)
    return motion_generator(state)


@torch.no_grad()
def kernel_classes(generator, batch, unit, classes, modules=None):
    """Class spread per scale, the per-class mean kernels at the finest scale (V then H) and, with the run's
    own modules, the predicted object's move along its class's direction (px per step, per class)."""
    g = generator
    own = modules is None
    modules = modules or (g.trajectory_generator, g.joint_input, g.motion_generator)
    kernels_by_scale, labels, along = {}, [], {c: [] for c in classes}
    for t in frame_steps(batch.images.shape[2]):
        previous = batch.images[:, :, t - 1]
        history = g.motion_encoder.encode_video(batch.diffs[:, :, :t - 1]) if t > 1 else None
        kernels = motion_kernels(*modules, g, previous, batch.onehot, history)
        for scale, (vertical, horizontal, _) in kernels.items():
            kernels_by_scale.setdefault(scale, []).append(torch.cat([vertical, horizontal], dim=1))
        labels.append(batch.labels)
        if own:
            pred = g.predict_next_frame(previous, batch.diffs, t, batch.onehot, "random")[0]
            recon = g.reconstruct_frame(batch.onehot, previous, "mean")[0]
            moved = object_centres(pred) - object_centres(recon)
            for i, label in enumerate(batch.labels.tolist()):
                along[classes[label]].append(float((moved[i] * unit[i]).sum()))
    labels = torch.cat(labels)
    report = {"spread": {}, "spread_ratio": {}, "finest_scale": max(kernels_by_scale)}
    for scale, maps in sorted(kernels_by_scale.items()):
        between, ratio, means = class_spread(torch.cat(maps), labels, len(classes))
        report["spread"][str(scale)], report["spread_ratio"][str(scale)] = between, ratio
    report["mean_kernels"] = {c: [round(v, 3) for v in means[k].tolist()] for k, c in enumerate(classes)}
    if own:
        report["object_move_along_class"] = {c: _nanmean(v) for c, v in along.items()}
    return report


def _nanmean(values):
    finite = [v for v in values if v == v]
    return sum(finite) / len(finite) if finite else float("nan")


def fit_kernels(generator, stream, steps, source, lr, log):
    """Train copies of the trajectory generator, joint input and motion generator alone to move `source`
    ('recon' | 'frame') of x_{t−1} into x_t through the finest fusion scale. Returns (history of
    {step, moved, unmoved, mask}, the fitted modules)."""
    g = generator
    modules = tuple(copy.deepcopy(m) if m is not None else None
                    for m in (g.trajectory_generator, g.joint_input, g.motion_generator))
    params = [p for m in modules if m is not None for p in m.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr, betas=BETAS, fused=True)
    history, window, every = [], [], max(steps // 6, 1)
    for step in range(1, steps + 1):
        batch = next(stream)
        t = random.randint(1, batch.images.shape[2] - 2)
        previous, target = batch.images[:, :, t - 1], batch.images[:, :, t]
        with torch.no_grad():
            start = g.reconstruct_frame(batch.onehot, previous, "mean")[0] if source == "recon" else previous
        kernels = motion_kernels(*modules, g, previous, batch.onehot)
        moved = fuse_motion(start, kernels[max(kernels)])
        loss = F.mse_loss(moved, target)
        optimizer.zero_grad(set_to_none=True)
        (RECONSTRUCTION_WEIGHT * loss).backward()
        optimizer.step()
        window.append((float(loss.detach()), float(F.mse_loss(start, target)), float(kernels[max(kernels)][2].detach().mean())))
        if step % every == 0 or step == steps:
            n = len(window)
            record = {"step": step, "moved": sum(w[0] for w in window) / n, "unmoved": sum(w[1] for w in window) / n,
                      "mask": sum(w[2] for w in window) / n}
            history.append(record)
            log(f"fit step {step}: mse moved {record['moved']:.4f}, unmoved {record['unmoved']:.4f}, "
                f"mask {record['mask']:.2f}")
            window = []
    return history, modules


def _synthetic_speed(config):
    path = os.path.join(config["dataroot"], "synthetic.json")
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["speed"])


def main(argv=None):
    """Run the probe; exit 0 when it ran, 2 on a bad checkpoint or dataset (one line)."""
    p = argparse.ArgumentParser(prog="python -m utils.tools.motion_probe", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="a training checkpoint of the synthetic data")
    p.add_argument("--dataroot", default=None, help="the dataset (default: the checkpoint's)")
    p.add_argument("--batch", type=int, default=32, help="clips measured (default 32)")
    p.add_argument("--fit_steps", type=int, default=0, help="train copies of the kernel generator alone (0: no fit)")
    p.add_argument("--fit_source", choices=("recon", "frame"), default="recon",
                   help="what the fit moves: the content reconstruction of x_{t-1} or x_{t-1} itself")
    p.add_argument("--fit_lr", type=float, default=None, help="the fit's learning rate (default: the run's motion decoder rate)")
    p.add_argument("--out", default=None, help="JSON report")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: PyTorch's default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.batch < 2 or args.fit_steps < 0:
        p.exit(2, f"{p.prog}: error: --batch must be >= 2 and --fit_steps >= 0\n")
    try:
        config, iteration, nets, _, _, train_set = load_run(args.checkpoint, args.dataroot)
        speed = _synthetic_speed(config)
    except (CheckpointError, DatasetError, OSError, KeyError, ValueError) as error:
        p.exit(2, f"{p.prog}: error: {args.checkpoint}: {error}\n")
    classes = list(train_set.classes)
    if config.get("dataset") != "synthetic" or any(c not in DIRECTIONS for c in classes):
        p.exit(2, f"{p.prog}: error: {args.checkpoint}: needs the synthetic data (classes {', '.join(DIRECTIONS)}), "
                  f"got {config.get('dataset')} with {', '.join(classes)}\n")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)          # the dataset's crops
    nets.train()
    g, nc = nets.generator, len(classes)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(args.seed))
    batch = Batch.from_loader(next(iter(loader)), nc, torch.device("cpu"))
    unit = torch.tensor([DIRECTIONS[classes[k]] for k in batch.labels.tolist()]).round().long()
    start = time.time()
    report = {"checkpoint": args.checkpoint, "iteration": iteration, "speed_px": speed,
              "shift_gain": shift_gain(g, batch, unit, speed), "feature_shift": feature_shift(g, batch),
              "kernels": kernel_classes(g, batch, unit.float(), classes)}
    gain, feat, kern = report["shift_gain"], report["feature_shift"], report["kernels"]
    print(f"{args.checkpoint} (iteration {iteration}), {args.batch} clips, {speed} px per frame")
    for source in ("recon", "frame"):
        print(f"frame mse from {source:5s}: unmoved {gain[source + '_none']:.4f}, moved its class's way "
              f"{gain[source + '_class']:.4f}, the opposite way {gain[source + '_opposite']:.4f}")
    print("scale-feature loss unmoved / features moved 1 px (roughness): "
          + ", ".join(f"{s}: {v['unmoved']:.4g} / {v['moved_1px']:.4g} ({v['roughness']:.2f})" for s, v in feat.items()))
    print("kernel class spread per scale (over the batch's): "
          + ", ".join(f"{s}: {v:.4f} ({kern['spread_ratio'][s]:.2f})" for s, v in kern["spread"].items()))
    print("object move along its class (px per step): "
          + ", ".join(f"{c} {v:+.2f}" for c, v in kern["object_move_along_class"].items()))
    for c, values in kern["mean_kernels"].items():
        print(f"mean kernel at {kern['finest_scale']} ({c:5s}): V {values[:len(values) // 2]} H {values[len(values) // 2:]}")
    if args.fit_steps:
        train_loader = torch.utils.data.DataLoader(train_set, batch_size=config["batch_size"], shuffle=True,
                                                   drop_last=True, generator=torch.Generator().manual_seed(args.seed + 1))

        def stream():
            while True:
                for item in train_loader:
                    yield Batch.from_loader(item, nc, torch.device("cpu"))
        lr = args.fit_lr or (config.get("group_lr") or {}).get("motion_decoder", config.get("lr", 2e-4))
        print(f"fit: {args.fit_steps} steps moving the {args.fit_source} of x_(t-1) at scale {kern['finest_scale']}, lr {lr:g}")
        history, modules = fit_kernels(g, stream(), args.fit_steps, args.fit_source, lr, lambda s: print(s, flush=True))
        fitted = kernel_classes(g, batch, unit.float(), classes, modules)
        report["fit"] = {"source": args.fit_source, "lr": lr, "history": history, "kernels": fitted}
        print("fitted kernel class spread per scale (over the batch's): "
              + ", ".join(f"{s}: {v:.4f} ({fitted['spread_ratio'][s]:.2f})" for s, v in fitted["spread"].items()))
        for c, values in fitted["mean_kernels"].items():
            print(f"fitted mean kernel at {fitted['finest_scale']} ({c:5s}): V {values[:len(values) // 2]} "
                  f"H {values[len(values) // 2:]}")
    report["seconds"] = time.time() - start
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, allow_nan=True)
        print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
