"""The synthetic demo dataset: a textured shape translating right/left/up/down over a textured background.

Generation is deterministic for a seed (each video has its own
`numpy.random.default_rng([seed, class, index])`, so a video does not depend
on how many others are generated).  Six "actors" fix the appearance (shape,
colours, background pattern); the background pattern's phase and a static
noise field vary per video.  The shape moves `SPEED` px per frame and never
leaves the 64x64 frame.  Videos are written as PNG strips in the generic
layout `<out>/{train,test}/<class>/<actor>_<index>.png` (every `test_every`-th
video of a class is test) plus `<out>/synthetic.json`; the 'synthetic'
dataset reads them back with the folder loader and this fixed class list.

Command line: `python -m datasets.synthetic --out DIR [--seed S] [--videos_per_class N]`.
"""
import argparse
import json
import os
import shutil
import sys

import cv2
import numpy as np

from .errors import DatasetError
from .folder import FolderDataset

CLASSES = ["right", "left", "up", "down"]
_STEP = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1)}
# name, shape, body colour, accent colour, background pattern, background colours (RGB)
ACTORS = [
    ("redcircle", "circle", (220, 40, 40), (255, 220, 60), "hstripes", ((30, 40, 90), (60, 80, 140))),
    ("greensquare", "square", (40, 190, 70), (250, 250, 250), "checker", ((90, 90, 90), (150, 150, 150))),
    ("bluetriangle", "triangle", (50, 90, 230), (255, 200, 0), "gradient", ((230, 210, 170), (140, 100, 60))),
    ("yellowdiamond", "diamond", (240, 220, 40), (200, 30, 60), "diagonal", ((70, 30, 90), (120, 60, 140))),
    ("whitecross", "cross", (245, 245, 245), (40, 120, 220), "dots", ((40, 110, 60), (90, 170, 100))),
    ("cyanring", "ring", (40, 220, 220), (230, 60, 160), "vstripes", ((110, 50, 30), (160, 90, 50))),
]
ACTOR_NAMES = [a[0] for a in ACTORS]
SIZE, SHAPE, SPEED, FRAMES, MARGIN = 64, 14, 2, 20, 1
# Designs: shape side (px), speed (px per frame), background ("textured": the actor's pattern with a
# random phase and per-pixel noise; "plain": the actor's two colours as a smooth vertical gradient),
# frames per video (default of --frames), start ("anywhere": any start from which the path fits;
# "edge": at the frame's edge on the class's start side, and the path never crosses the middle, so
# every frame of a video moves its object toward the middle).
DESIGNS = {"textured": dict(side=SHAPE, speed=SPEED, background="textured", frames=FRAMES, start="anywhere"),
           "plain": dict(side=18, speed=2, background="plain", frames=FRAMES, start="anywhere"),
           "large": dict(side=24, speed=2, background="plain", frames=FRAMES, start="anywhere"),
           "edge": dict(side=24, speed=2, background="plain", frames=10, start="edge")}


def shape_masks(kind, side=SHAPE):
    """Body and accent masks of a shape in a `side x side` box; returns two bool arrays `[side, side]`."""
    v, u = np.mgrid[0:side, 0:side].astype(np.float32)
    c = (side - 1) / 2.0
    du, dv = np.abs(u - c), np.abs(v - c)
    body = {"circle": du ** 2 + dv ** 2 <= (c + 0.3) ** 2,
            "square": (du <= c - 0.5) & (dv <= c - 0.5),
            "triangle": du <= (v + 1) / 2.0,
            "diamond": du + dv <= c + 0.5,
            "cross": (du <= 2.5) | (dv <= 2.5),
            "ring": (du ** 2 + dv ** 2 <= (c + 0.3) ** 2) & (du ** 2 + dv ** 2 >= 3.5 ** 2)}[kind]
    accent = du ** 2 + dv ** 2 <= 2.5 ** 2
    return body, accent


def background(pattern, colours, rng, size=SIZE, plain=False):
    """Static background: the actor's pattern with a random phase and noise, or (`plain`) a smooth
    vertical gradient between its two colours; returns uint8 `[size, size, 3]`."""
    v, u = np.mgrid[0:size, 0:size]
    a, b = (np.array(col, np.float32) for col in colours)
    phase = int(rng.integers(0, 16))
    if plain:
        t = (v / (size - 1.0))[..., None]
        return np.clip(np.rint(a * (1 - t) + b * t), 0, 255).astype(np.uint8)
    if pattern == "gradient":
        t = ((v + phase) % size / (size - 1.0))[..., None]
        img = a * (1 - t) + b * t
    else:
        sel = {"hstripes": (v + phase) // 4 % 2, "vstripes": (u + phase) // 4 % 2,
               "checker": ((u + phase) // 8 + (v + phase) // 8) % 2,
               "diagonal": (u + v + phase) // 5 % 2,
               "dots": ((u + phase) % 8 < 3) & ((v + phase) % 8 < 3)}[pattern]
        img = np.where(sel[..., None].astype(bool), b, a)
    img = img + rng.normal(0.0, 6.0, size=(size, size, 1)).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def trajectory(action, n_frames, rng, size=SIZE, side=SHAPE, speed=SPEED, start="anywhere"):
    """Top-left corners of the shape for `action` over `n_frames` (`start`: see DESIGNS); returns int
    array `[n_frames, 2]` (x, y)."""
    travel = speed * (n_frames - 1)
    lo, hi = MARGIN, size - side - MARGIN - travel
    if start == "edge":   # the shape's centre stays on the start half: along + side/2 + travel <= size/2
        hi = min(hi, size // 2 - (side + 1) // 2 - travel)
        if hi < lo:
            raise DatasetError(f"the edge design keeps the object on its starting half: {n_frames} frames at "
                               f"{speed} px/frame are too many (at most {(size // 2 - (side + 1) // 2 - lo) // speed + 1})")
    if hi < lo:
        raise DatasetError(f"{n_frames} frames at {speed} px/frame do not fit a {size}px frame")
    dx, dy = _STEP[action]
    along = int(rng.integers(lo, hi + 1))
    across = int(rng.integers(MARGIN, size - side - MARGIN + 1))
    steps = np.arange(n_frames) * speed
    start = along if (dx + dy) > 0 else size - side - along
    pos = start + steps * (dx + dy)
    x = pos if dx else np.full(n_frames, across)
    y = pos if dy else np.full(n_frames, across)
    return np.stack([x, y], axis=1)


def render_video(class_index, actor_index, rng, n_frames=None, design="textured"):
    """One video of action `CLASSES[class_index]` by actor `ACTORS[actor_index]` in one of `DESIGNS`
    (`n_frames`: None for the design's); returns uint8 `[T, 64, 64, 3]`."""
    _, kind, body_col, accent_col, pattern, bg_cols = ACTORS[actor_index]
    d = DESIGNS[design]
    n_frames = d["frames"] if n_frames is None else n_frames
    side = d["side"]
    bg = background(pattern, bg_cols, rng, plain=d["background"] == "plain")
    body, accent = shape_masks(kind, side)
    pad = np.pad(body, 1)
    inner = body & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    outline = body & ~inner
    dark = tuple(int(c * 0.35) for c in body_col)
    frames = np.repeat(bg[None], n_frames, axis=0)
    for t, (x, y) in enumerate(trajectory(CLASSES[class_index], n_frames, rng, side=side, speed=d["speed"],
                                                start=d["start"])):
        patch = frames[t, y:y + side, x:x + side]
        patch[body] = body_col
        patch[outline] = dark
        patch[accent] = accent_col
    return frames


def generate(out, seed=0, videos_per_class=60, n_frames=None, test_every=5, design="textured"):
    """Write the synthetic dataset (one of `DESIGNS`; `n_frames` None: the design's) under `out`; returns
    a summary dict (counts, classes, actors, design, paths)."""
    if design not in DESIGNS:
        raise DatasetError(f"unknown synthetic design {design!r} (expected one of {', '.join(DESIGNS)})")
    n_frames = DESIGNS[design]["frames"] if n_frames is None else n_frames
    out = os.path.abspath(out)
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.isfile(os.path.join(out, "synthetic.json")):
            raise DatasetError(f"output folder {out} is not empty and holds no synthetic.json; "
                               f"choose an empty or new folder")
        for sub in ("train", "test"):
            shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    counts = {"train": 0, "test": 0}
    for c, cls in enumerate(CLASSES):
        for i in range(videos_per_class):
            actor = i % len(ACTORS)
            video = render_video(c, actor, np.random.default_rng([seed, c, i]), n_frames, design)
            split = "test" if i % test_every == test_every - 1 else "train"
            folder = os.path.join(out, split, cls)
            os.makedirs(folder, exist_ok=True)
            strip = np.concatenate(list(video), axis=1)
            path = os.path.join(folder, f"{ACTOR_NAMES[actor]}_{i:04d}.png")
            if not cv2.imwrite(path, cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)):
                raise DatasetError(f"cannot write {path}")
            counts[split] += 1
    summary = {"seed": seed, "design": design, **DESIGNS[design], "videos_per_class": videos_per_class,
               "frames": n_frames,
               "size": SIZE, "test_every": test_every, "classes": CLASSES,
               "actors": ACTOR_NAMES, "train": counts["train"], "test": counts["test"], "root": out}
    with open(os.path.join(out, "synthetic.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def actor_from_name(stem):
    """Actor id from a synthetic video name `<actor>_<index>`; returns an int, -1 when unknown."""
    prefix = stem.split("_", 1)[0]
    return ACTOR_NAMES.index(prefix) if prefix in ACTOR_NAMES else -1


class SyntheticDataset(FolderDataset):
    """Folder loader over generated data with the fixed class list `CLASSES` and actor ids from names."""

    def __init__(self, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                 textroot=None, split_rule="folders", test_every=5, crop_fraction=1.0,
                 generate_seed=None):
        if generate_seed is not None and (not os.path.isdir(dataroot) or not os.listdir(dataroot)):
            generate(dataroot, seed=generate_seed)
        elif split_rule in ("auto", "folders") and dataroot and split in ("train", "test") \
                and not os.path.isdir(os.path.join(str(dataroot), split)):
            raise DatasetError(f"no synthetic data in {dataroot} (expected {os.path.join(str(dataroot), split)}); "
                               f"create it with: python -m datasets.synthetic --out {dataroot}")
        super().__init__(dataroot, split, video_length, every_nth, image_size, crop, textroot,
                         split_rule=split_rule, test_every=test_every, crop_fraction=crop_fraction,
                         classes=CLASSES, actors=ACTOR_NAMES, actor_of=actor_from_name)


def main(argv=None):
    """Command-line entry: generate the dataset and print what was written; returns an exit code."""
    parser = argparse.ArgumentParser(prog="python -m datasets.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder (new, empty, or an earlier synthetic one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--videos_per_class", type=int, default=60)
    parser.add_argument("--frames", type=int, default=None,
                        help=f"frames per video (default: the design's; {FRAMES}, edge: 10)")
    parser.add_argument("--design", default="textured", choices=sorted(DESIGNS),
                        help="textured: 14 px shape, 2 px/frame, patterned noisy background; "
                             "plain: 18 px shape, 2 px/frame, smooth two-colour background; "
                             "large: 24 px shape, plain background; edge: as large, 10 frames, each video "
                             "starting at the class's start edge and ending before the middle")
    args = parser.parse_args(argv)
    if args.videos_per_class < 1:
        parser.error("--videos_per_class must be at least 1")
    try:
        s = generate(args.out, seed=args.seed, videos_per_class=args.videos_per_class, n_frames=args.frames,
                     design=args.design)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {s['train']} train and {s['test']} test videos ({s['frames']} frames of "
          f"{SIZE}x{SIZE}, design {s['design']}, seed {s['seed']}) to {s['root']}")
    print(f"classes: {', '.join(CLASSES)}; actors: {', '.join(ACTOR_NAMES)}")
    print(f"layout: {s['root']}/{{train,test}}/<class>/<actor>_<index>.png strips; "
          f"read with build_dataset('synthetic', '{s['root']}', split)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
