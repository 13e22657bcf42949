"""Test-time generation of EVAL.md's two protocols and the files people look at.

* `load_trained_networks` — the networks of a run's checkpoint, built from the
  options stored in it.
* `generate_unconditional` — `num_per_class` videos per class from `generate`
  (eval mode, two warm-up frames dropped).
* `generate_conditional` — every test clip regenerated from its first frame with
  `generate_sequence(ε = 0, mode random)`, `repetitions` times.
* `save_outputs` — uint8 `.npy` per class, a per-class GIF and PNG grid, PNG strips
  (`--get_seq`) and mask strips per scale (`--get_mask`).
"""
import os
import random

import cv2
import numpy as np
import torch
from tqdm import tqdm

from models import TwoStreamNetworks, sample_videos
from utils.checkpoint import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint
from utils.options import MODEL_OPTIONS
from utils.tasks import Batch
from utils.visualize import class_grid, frames_to_strip, save_gif, save_png, to_uint8_video

GRID_VIDEOS_PER_CLASS = 6


def load_trained_networks(config, device):
    """Load `--which_iter` of the run named by `config`.

    Returns `(networks in eval mode, iteration, training config, class names)`.
    """
    directory = config["checkpoint_dir_run"]
    available = list_checkpoints(directory) if os.path.isdir(directory) else []
    if config["which_iter"] not in available:
        raise CheckpointError(f"--which_iter {config['which_iter']}: no such checkpoint in {directory} "
                              f"(available: {', '.join(available) or 'none'})")
    path = checkpoint_path(directory, config["which_iter"])
    state = load_checkpoint(path, map_location="cpu")
    if any(key not in state for key in ("networks", "config", "classes", "iteration")):
        raise CheckpointError(f"{path} is not a TwoStreamVAN training checkpoint")
    trained = state["config"]
    missing = [k for k in MODEL_OPTIONS if k not in trained]
    if missing:
        raise CheckpointError(f"{path} lacks the model options {', '.join(missing)}")
    if trained["dataset"] != config["dataset"]:
        raise CheckpointError(f"{path} was trained on --dataset {trained['dataset']}, not {config['dataset']}")
    classes = list(state["classes"])
    nets = TwoStreamNetworks.from_config(trained, len(classes))
    try:
        nets.load_state_dict(state["networks"])
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match the model it describes: {str(error).splitlines()[0]}") from None
    return nets.to(device).eval(), int(state["iteration"]), trained, classes


def generate_unconditional(generator, num_classes, num_per_class, video_length, batch_size, device, seed):
    """EVAL.md unconditional protocol. Returns `(videos [N, C, T, 64, 64] float, labels [N], masks dict
    scale -> [N, 1, T, S, S])` on the CPU, class by class."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    videos, labels, masks = [], [], {}
    todo = [(c, min(batch_size, num_per_class - start)) for c in range(num_classes)
            for start in range(0, num_per_class, batch_size)]
    for cls, count in tqdm(todo, desc="unconditional", unit="batch", dynamic_ncols=True):
        label = torch.full((count,), cls, dtype=torch.long, device=device)
        video, mask = sample_videos(generator, label, video_length, warmup=2, rng=rng)
        videos.append(video.cpu())
        labels.append(label.cpu())
        for scale, m in mask.items():
            masks.setdefault(scale, []).append(m.cpu())
    return torch.cat(videos), torch.cat(labels), {s: torch.cat(m) for s, m in masks.items()}


@torch.no_grad()
def generate_conditional(generator, test_set, repetitions, batch_size, device, seed):
    """EVAL.md conditional protocol: each test clip from its first frame, motion from N(0, I), ε = 0.

    Returns `(videos [R·N, C, T, 64, 64] float, labels [R·N])` on the CPU (last partial batch kept).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False, drop_last=False)
    generator.eval()
    videos, labels = [], []
    progress = tqdm(total=repetitions * len(loader), desc="conditional", unit="batch", dynamic_ncols=True)
    for _ in range(repetitions):
        for item in loader:
            batch = Batch.from_loader(item, generator.num_categories, device)
            video, _, _ = generator.generate_sequence(batch.images, batch.onehot, batch.diffs, 0.0, "random", rng)
            videos.append(video.cpu())
            labels.append(batch.labels.cpu())
            progress.update(1)
    progress.close()
    return torch.cat(videos), torch.cat(labels)


def _mask_strip(mask, size=64):
    """One mask `[1, T, S, S]` in [0, 1] -> uint8 strip `[size, T·size, 3]` (nearest upsampling)."""
    frames = (mask[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    frames = [cv2.resize(f, (size, size), interpolation=cv2.INTER_NEAREST) for f in frames]
    return np.repeat(frames_to_strip(np.stack(frames)[..., None]), 3, axis=2)


def save_outputs(directory, videos, labels, classes, masks=None, get_seq=False, get_mask=False, fps=8):
    """Write one protocol's outputs under `directory`; returns a dict of the main paths.

    `<class>.npy` uint8 `[n, T, H, W, C]` per class, `samples.gif` / `samples.png` (one row per
    class), `sequences/<class>/<i>.png` strips with `get_seq`, `masks/<class>/<i>_scale<S>.png`
    with `get_mask`.
    """
    os.makedirs(directory, exist_ok=True)
    by_class = []
    for index, name in enumerate(classes):
        chosen = videos[labels == index]
        np.save(os.path.join(directory, f"{name}.npy"), to_uint8_video(chosen))
        by_class.append(chosen[:GRID_VIDEOS_PER_CLASS])
        if get_seq:
            os.makedirs(os.path.join(directory, "sequences", name), exist_ok=True)
            for i, frames in enumerate(to_uint8_video(chosen)):
                save_png(frames_to_strip(frames), os.path.join(directory, "sequences", name, f"{i:04d}.png"))
        if get_mask and masks:
            os.makedirs(os.path.join(directory, "masks", name), exist_ok=True)
            chosen_masks = {s: m[labels == index] for s, m in masks.items()}
            for i in range(len(chosen)):
                for scale, m in chosen_masks.items():
                    save_png(_mask_strip(m[i]), os.path.join(directory, "masks", name, f"{i:04d}_scale{scale}.png"))
    present = [v for v in by_class if len(v)]
    grid = class_grid(present)
    paths = {"gif": os.path.join(directory, "samples.gif"), "png": os.path.join(directory, "samples.png")}
    save_gif(grid, paths["gif"], fps=fps)
    rows = [frames_to_strip(to_uint8_video(v[0])) for v in present]
    save_png(np.concatenate(rows, axis=0), paths["png"])
    return paths
