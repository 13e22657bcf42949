"""Tiny but valid datasets in each authors' layout, to try the launchers and for tests.

    python -m datasets.tiny_layouts --layout {weizmann,mug,synaction,voxceleb} --out DIR [--seed S]

Each layout gets at least 16 (the published batch) training clips and as
many test clips, so the published launchers run and validation has a full
batch.  Frames show the synthetic dataset's actors (`datasets.synthetic`): a
textured shape bouncing across a textured background, horizontally or
vertically depending on the action; generation is deterministic per seed.

  weizmann   `<actor>_<action>.npy`, uint8 `[72, 90, 3, T]` (the original 144x180 halved),
             5 actors x bend, jack, run, walk, T in [36, 44): long enough for the
             2/3 split at every_nth 2 (one train and one test part per video).
  mug        `<actor>_<expression>_<seq:03d>_<i:02d>.npy`, `[12, 64, 64, 3]`: 3 subjects x 6
             expressions, one 48-frame recording each cut into 4 interleaved sub-videos
             (i = 3 is the test phase): 54 train / 18 test files.
  synaction  `<actor>_<action>_<seq>_<split>.npy`, `[T, 71, 71, 3]`, 4 actors x clap, walk,
             wave, jump x seq 0/1 (strides 2, 4, 4, 6), T = 10*stride + 2; the split field
             puts one of the two seqs of each actor and action in the test set (16 / 16).
  voxceleb   `train/` and `test/`, 16 videos each, 14 frames of 96x96: frame folders named
             as the common PNG preprocessing names them (`id10001#<youtube id>#<start>#<end>.mp4/`
             holding `0000000.png`, ...) and, every fourth video, a real `.mp4` file (a frame
             folder when this OpenCV cannot write MPEG-4).
"""
import argparse
import os
import sys

import cv2
import numpy as np

from . import mug, synaction, synthetic, weizmann
from .errors import DatasetError

LAYOUTS = ("weizmann", "mug", "synaction", "voxceleb")
LAUNCHERS = {"weizmann": "WeizmannTrain.bash", "mug": "MUGTrain.bash", "synaction": "SynActionTrain.bash",
             "voxceleb": "VoxCelebTrain.bash"}
CANVAS, SPEED = synthetic.SIZE, 2

WEIZMANN_ACTORS, WEIZMANN_ACTIONS, WEIZMANN_HW = weizmann.ACTORS[:5], ["bend", "jack", "run", "walk"], (72, 90)
MUG_ACTORS, MUG_RECORDING, MUG_SIZE = ["001", "002", "003"], 48, 64
SYNACTION_ACTORS, SYNACTION_ACTIONS = synaction.ACTORS[:4], ["clap", "walk", "wave", "jump"]
VOX_IDENTITIES, VOX_PER_SPLIT, VOX_FRAMES, VOX_SIZE = ["id10001", "id10002", "id10003", "id10004"], 16, 14, 96


def bounce(n_frames, travel, phase, speed=SPEED):
    """Positions in `[0, travel]` of a point moving `speed` px per frame and bouncing at both ends; int array."""
    period = 2 * travel
    s = (phase + speed * np.arange(n_frames)) % period
    return np.where(s <= travel, s, period - s)


def moving_shapes(n_frames, height, width, actor, axis, rng):
    """A synthetic actor's shape bouncing along `axis` (0: horizontal, 1: vertical); uint8 RGB `[T, H, W, 3]`."""
    _, kind, body_colour, accent_colour, pattern, bg_colours = synthetic.ACTORS[actor % len(synthetic.ACTORS)]
    side, margin = synthetic.SHAPE, synthetic.MARGIN
    travel = CANVAS - side - 2 * margin
    body, accent = synthetic.shape_masks(kind)
    frames = np.repeat(synthetic.background(pattern, bg_colours, rng)[None], n_frames, axis=0)
    along = margin + bounce(n_frames, travel, int(rng.integers(0, 2 * travel)))
    across = int(rng.integers(margin, margin + travel + 1))
    for t in range(n_frames):
        x, y = (along[t], across) if axis == 0 else (across, along[t])
        patch = frames[t, y:y + side, x:x + side]
        patch[body] = body_colour
        patch[accent] = accent_colour
    if (height, width) != (CANVAS, CANVAS):
        frames = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames])
    return frames


def video_rng(seed, layout, index):
    """The independent random stream of video `index` of `layout`; a numpy Generator."""
    return np.random.default_rng([seed, LAYOUTS.index(layout), index])


def write_weizmann(out, seed):
    """Weizmann `<actor>_<action>.npy` arrays `[H, W, 3, T]`; returns `[(video, split, paths), ...]`."""
    videos = []
    for i, (actor, action) in enumerate((a, b) for a in WEIZMANN_ACTORS for b in WEIZMANN_ACTIONS):
        rng = video_rng(seed, "weizmann", i)
        video = moving_shapes(int(rng.integers(36, 44)), *WEIZMANN_HW, WEIZMANN_ACTORS.index(actor),
                              weizmann.ACTIONS.index(action) % 2, rng)
        path = os.path.join(out, f"{actor}_{action}.npy")
        np.save(path, np.ascontiguousarray(video.transpose(1, 2, 3, 0)))
        videos.append((os.path.basename(path), "train+test", [path]))  # split inside the video
    return videos


def write_mug(out, seed):
    """MUG sub-videos `<actor>_<expression>_000_<i:02d>.npy` `[T, H, W, 3]`, 4 per recording; returns videos."""
    videos = []
    for i, (actor, expression) in enumerate((a, e) for a in MUG_ACTORS for e in mug.ACTIONS):
        rng = video_rng(seed, "mug", i)
        recording = moving_shapes(MUG_RECORDING, MUG_SIZE, MUG_SIZE, MUG_ACTORS.index(actor),
                                  mug.ACTIONS.index(expression) % 2, rng)
        for phase in range(4):
            path = os.path.join(out, f"{actor}_{expression}_000_{phase:02d}.npy")
            np.save(path, np.ascontiguousarray(recording[phase::4]))
            videos.append((os.path.basename(path), "test" if phase == mug.TEST_PHASE else "train", [path]))
    return videos


def write_synaction(out, seed):
    """SynAction `<actor>_<action>_<seq>_<split>.npy` `[T, 71, 71, 3]`, every second one test; returns videos."""
    videos = []
    combos = [(a, b, s) for a in SYNACTION_ACTORS for b in SYNACTION_ACTIONS for s in (0, 1)]
    for i, (actor, action, seq) in enumerate(combos):
        rng = video_rng(seed, "synaction", i)
        n_frames = 10 * synaction.STRIDES[action] + 2
        video = moving_shapes(n_frames, synaction.FRAME, synaction.FRAME, SYNACTION_ACTORS.index(actor),
                              synaction.ACTIONS.index(action) % 2, rng)
        u = (synaction.ACTORS.index(actor) * 20 + synaction.ACTIONS.index(action)) * 2 + seq
        test = (i + i // 2) % 2 == 1                      # one of the two seqs of each actor and action
        split = u % 15 if test else (u + 1) % 15          # DATA.md: test iff u mod 15 == split
        path = os.path.join(out, f"{actor}_{action}_{seq}_{split}.npy")
        np.save(path, np.ascontiguousarray(video))
        videos.append((os.path.basename(path), "test" if test else "train", [path]))
    return videos


def write_mp4(path, video, fps=25):
    """Write uint8 RGB `video` as MPEG-4 (mp4v); returns True when it decodes back with all its frames."""
    height, width = video.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        return False
    for frame in video:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    cap = cv2.VideoCapture(path)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    if count != len(video):
        os.remove(path)
        return False
    return True


def write_frame_folder(folder, video):
    """Write `video` as `<folder>/0000000.png`, ...; returns the written paths."""
    os.makedirs(folder)
    paths = []
    for t, frame in enumerate(video):
        path = os.path.join(folder, f"{t:07d}.png")
        if not cv2.imwrite(path, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise DatasetError(f"cannot write {path}")
        paths.append(path)
    return paths


def write_voxceleb(out, seed):
    """VoxCeleb `train/` and `test/` of frame folders and .mp4 files; returns `[(video, split, paths), ...]`."""
    videos = []
    for s, split in enumerate(("train", "test")):
        os.makedirs(os.path.join(out, split))
        for k in range(VOX_PER_SPLIT):
            i = s * VOX_PER_SPLIT + k
            rng = video_rng(seed, "voxceleb", i)
            youtube = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                                         11))
            start = int(rng.integers(0, 5000))
            name = f"{VOX_IDENTITIES[k % len(VOX_IDENTITIES)]}#{youtube}#{start:06d}#{start + VOX_FRAMES:06d}.mp4"
            video = moving_shapes(VOX_FRAMES, VOX_SIZE, VOX_SIZE, k % len(VOX_IDENTITIES), i % 2, rng)
            path = os.path.join(out, split, name)
            if k % 4 == 3 and write_mp4(path, video):
                videos.append((f"{split}/{name}", split, [path]))
            else:
                videos.append((f"{split}/{name}/", split, write_frame_folder(path, video)))
    return videos


WRITERS = {"weizmann": write_weizmann, "mug": write_mug, "synaction": write_synaction, "voxceleb": write_voxceleb}


def generate(layout, out, seed=0):
    """Write the tiny dataset of `layout` into `out` (new or empty); returns a summary dict."""
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    out = os.path.abspath(os.path.expanduser(out))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise DatasetError(f"output folder {out} exists and is not empty; choose an empty or new folder")
    os.makedirs(out, exist_ok=True)
    videos = WRITERS[layout](out, seed)
    paths = [p for _, _, written in videos for p in written]
    return {"layout": layout, "seed": seed, "root": out, "files": len(paths),
            "bytes": sum(os.path.getsize(p) for p in paths), "videos": [name for name, _, _ in videos],
            "train": sum("train" in split for _, split, _ in videos),
            "test": sum("test" in split for _, split, _ in videos),
            "mp4": sum(name.endswith(".mp4") for name, _, _ in videos), "launcher": LAUNCHERS[layout]}


def main(argv=None):
    """Command-line entry: write one tiny layout and print what was written; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m datasets.tiny_layouts", description=__doc__.split("\n")[0])
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--out", required=True, help="output folder (new or empty)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        s = generate(args.layout, args.out, args.seed)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {s['files']} files ({s['bytes'] / 2 ** 20:.1f} MiB) in the {s['layout']} layout "
          f"to {s['root']} (seed {s['seed']})")
    mp4 = f", {s['mp4']} of them .mp4 files" if s["layout"] == "voxceleb" else ""
    print(f"{len(s['videos'])} videos{mp4}: {s['train']} with a training part, {s['test']} with a test part")
    print(f"first videos: {', '.join(s['videos'][:3])}")
    print(f"train with: DATAROOT={s['root']} bash bashes/TwoStreamVAN/{s['launcher']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
