"""Test-time generation of EVAL.md's two protocols and the files people look at, batch by batch.

Nothing here holds all the videos of a protocol: memory stays that of one batch (plus
six grid videos per class) whatever `--num_per_class` / `--val_num` are.

* `load_trained_networks` — the networks of a run's checkpoint, built from the
  options stored in it.
* `unconditional_batches` — `num_per_class` videos per class from `generate`
  (eval mode, two warm-up frames dropped), yielded batch by batch.
* `conditional_batches` — every test clip regenerated from its first frame with
  `generate_sequence(ε = 0, mode random)`, `repetitions` times, yielded batch by batch.
* `class_counts`, `clip_labels` — how many videos of each class a protocol makes (the `.npy` headers need it).
* `ProtocolWriter` — uint8 `.npy` per class appended batch by batch, a per-class GIF and PNG
  grid, PNG strips (`--get_seq`) and mask strips per scale (`--get_mask`).
"""
import io
import os
import random

import cv2
import numpy as np
import torch
from tqdm import tqdm

from models import TwoStreamNetworks, sample_videos
from models.networks import MODEL_OPTIONS
from utils.core.checkpoint import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint
from utils.core.data_stream import Batch
from utils.core.visualize import class_grid, frames_to_strip, save_gif, save_png, to_uint8_video

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


def unconditional_batches(generator, num_classes, num_per_class, video_length, batch_size, device, seed,
                          keep_masks=False):
    """EVAL.md unconditional protocol, class by class, in batches of at most `batch_size`.

    Yields `(videos [b, C, T, 64, 64] float, labels [b], masks)` on the CPU; masks is a dict
    scale -> `[b, 1, T, S, S]` with `keep_masks`, else None. Seeds torch with `seed` first.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    todo = [(c, min(batch_size, num_per_class - start)) for c in range(num_classes)
            for start in range(0, num_per_class, batch_size)]
    for cls, count in tqdm(todo, desc="unconditional", unit="batch", dynamic_ncols=True):
        label = torch.full((count,), cls, dtype=torch.long, device=device)
        with torch.no_grad():
            video, mask = sample_videos(generator, label, video_length, warmup=2, rng=rng)
        masks = {scale: m.cpu() for scale, m in mask.items()} if keep_masks else None
        yield video.cpu(), label.cpu(), masks


def conditional_batches(generator, test_set, repetitions, batch_size, device, seed):
    """EVAL.md conditional protocol: each test clip from its first frame, motion from N(0, I), ε = 0.

    Yields `(videos [b, C, T, 64, 64] float, labels [b])` on the CPU, `repetitions` passes over the
    test clips in order (last partial batch kept). Seeds torch with `seed` first.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False, drop_last=False)
    generator.eval()
    progress = tqdm(total=repetitions * len(loader), desc="conditional", unit="batch", dynamic_ncols=True)
    try:
        for _ in range(repetitions):
            for item in loader:
                batch = Batch.from_loader(item, generator.num_categories, device)
                with torch.no_grad():
                    video, _, _ = generator.generate_sequence(batch.images, batch.onehot, batch.diffs, 0.0,
                                                              "random", rng)
                progress.update(1)
                yield video.cpu(), batch.labels.cpu()
    finally:
        progress.close()


def class_counts(num_classes, labels, repetitions=1):
    """Videos per class of a protocol: `labels` (ints, one per test clip, or one per video with
    repetitions 1) counted `repetitions` times; returns a list of `num_classes` ints."""
    counts = np.bincount(np.asarray(list(labels), dtype=np.int64), minlength=num_classes)
    return [int(n) * repetitions for n in counts[:num_classes]]


def clip_labels(test_set):
    """The label of every test clip in order (from the index, without reading a frame when it has one)."""
    if hasattr(test_set, "entries"):
        return [int(entry.label) for entry in test_set.entries]
    return [int(test_set[i]["label"]) for i in range(len(test_set))]


def _mask_strip(mask, size=64):
    """One mask `[1, T, S, S]` in [0, 1] -> uint8 strip `[size, T·size, 3]` (nearest upsampling)."""
    frames = (mask[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    frames = [cv2.resize(f, (size, size), interpolation=cv2.INTER_NEAREST) for f in frames]
    return np.repeat(frames_to_strip(np.stack(frames)[..., None]), 3, axis=2)


def _npy_header(shape):
    """The bytes `numpy.save` puts before a C-ordered uint8 array of `shape` (format 1.0)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                                  "fortran_order": False, "shape": tuple(int(s) for s in shape)})
    return buffer.getvalue()


class ProtocolWriter:
    """Write one protocol's outputs under `directory` as its videos arrive (`add` per batch, then `close`).

    classes: names; counts: videos per class the protocol will make (the `.npy` headers are written
    first). Files: `<class>.npy` uint8 `[n, T, H, W, C]` per class (videos in arrival order),
    `samples.gif` / `samples.png` (one row per class, its first six videos), `sequences/<class>/<i>.png`
    strips with `get_seq`, `masks/<class>/<i>_scale<S>.png` with `get_mask` (masks given to `add`).
    """

    def __init__(self, directory, classes, counts, get_seq=False, get_mask=False, fps=8):
        os.makedirs(directory, exist_ok=True)
        self.directory, self.classes, self.counts = directory, list(classes), list(counts)
        self.get_seq, self.get_mask, self.fps = get_seq, get_mask, fps
        self.written = [0] * len(self.classes)
        self.grid = [[] for _ in self.classes]
        self.frame_shape = None  # (T, H, W, C), from the first batch

    def _path(self, index):
        return os.path.join(self.directory, f"{self.classes[index]}.npy")

    def _start(self, frame_shape):
        """Write every class's `.npy` header (a file of 0 videos is complete already)."""
        self.frame_shape = tuple(frame_shape)
        for index, count in enumerate(self.counts):
            with open(self._path(index), "wb") as handle:
                handle.write(_npy_header((count,) + self.frame_shape))

    def add(self, videos, labels, masks=None):
        """Append a batch: `videos [b, C, T, H, W]` float in [-1, 1], `labels [b]`, masks dict scale ->
        `[b, 1, T, S, S]` (or None)."""
        labels = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64)
        for index in np.unique(labels):
            chosen = videos[torch.from_numpy(labels == index)]
            pixels = to_uint8_video(chosen)
            if self.frame_shape is None:
                self._start(pixels.shape[1:])
            first = self.written[index]
            if first + len(pixels) > self.counts[index]:
                raise RuntimeError(f"class {self.classes[index]}: more videos than the {self.counts[index]} "
                                   f"announced")
            with open(self._path(index), "ab") as handle:
                handle.write(np.ascontiguousarray(pixels).tobytes())
            self.written[index] += len(pixels)
            room = GRID_VIDEOS_PER_CLASS - sum(len(v) for v in self.grid[index])
            if room > 0:
                self.grid[index].append(chosen[:room].clone())
            name = self.classes[index]
            if self.get_seq:
                os.makedirs(os.path.join(self.directory, "sequences", name), exist_ok=True)
                for i, frames in enumerate(pixels, start=first):
                    save_png(frames_to_strip(frames), os.path.join(self.directory, "sequences", name, f"{i:04d}.png"))
            if self.get_mask and masks:
                os.makedirs(os.path.join(self.directory, "masks", name), exist_ok=True)
                chosen_masks = {s: m[torch.from_numpy(labels == index)] for s, m in masks.items()}
                for i in range(len(chosen)):
                    for scale, m in chosen_masks.items():
                        save_png(_mask_strip(m[i]),
                                 os.path.join(self.directory, "masks", name, f"{first + i:04d}_scale{scale}.png"))

    def close(self):
        """Check every class got its announced videos, write the grids; returns a dict of the main paths."""
        short = [f"{name} {done}/{want}" for name, done, want in zip(self.classes, self.written, self.counts)
                 if done != want]
        if self.frame_shape is None or short:
            raise RuntimeError(f"{self.directory}: the protocol made fewer videos than announced "
                               f"({', '.join(short) or 'none at all'})")
        present = [torch.cat(parts) for parts in self.grid if parts]
        paths = {"gif": os.path.join(self.directory, "samples.gif"),
                 "png": os.path.join(self.directory, "samples.png")}
        save_gif(class_grid(present), paths["gif"], fps=self.fps)
        rows = [frames_to_strip(to_uint8_video(v[0])) for v in present]
        save_png(np.concatenate(rows, axis=0), paths["png"])
        return paths
