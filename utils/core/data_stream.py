"""Batches for training (reshuffled every epoch, last partial batch dropped) and validation, and
`Batch`, a loader item on its device.

The order is a pure function of `(seed, epoch)`, and the stream's position is
part of its state, so a resumed run sees the same batches as an uninterrupted one.
Under torchrun every rank computes the same permutation and loads its own
contiguous, disjoint part of each global batch.
"""
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from datasets import build_dataset, dataset_options
from models.blocks import one_hot


@dataclass
class Batch:
    """A batch on its device: images `[B, C, T, H, W]`, labels `[B]`, one-hot `[B, nc]`."""
    images: torch.Tensor
    labels: torch.Tensor
    onehot: torch.Tensor

    @classmethod
    def from_loader(cls, item, num_categories, device):
        """A loader item (`{"video": [B, C, T, H, W], "label": [B]}`) moved to `device`, with one-hot labels."""
        images = item["video"].to(device, non_blocking=True)
        labels = item["label"].to(device, non_blocking=True).long()
        return cls(images, labels, one_hot(labels, num_categories))

    @property
    def diffs(self):
        """Ground-truth difference frames `(x_k − x_{k+1}) / 2`, `[B, C, T−1, H, W]`."""
        return (self.images[:, :, :-1] - self.images[:, :, 1:]) / 2


def build_split(config, split, video_length=None, image_size=None):
    """The configured dataset's `split` ('train' uses the random crop when `--crop`; 'test' never does)."""
    accepted = dataset_options(config["dataset"])
    extra = {k: config[k] for k in ("split_rule", "identity_labels") if k in accepted and k in config}
    if split == "train" and config.get("miniclip"):
        extra["miniclip"] = True
    return build_dataset(config["dataset"], config["dataroot"], split,
                         video_length=video_length or config["video_length"], every_nth=config["every_nth"],
                         image_size=image_size or config["image_size"], crop=split == "train" and config["crop"],
                         textroot=config["textroot"], **extra)


class EpochBatchStream:
    """Endless training batches from `dataset`: a fresh permutation per epoch, full batches only.

    `batch_size` is the global batch; with `world_size` > 1 this stream yields rank `rank`'s
    `batch_size / world_size` clips of each global batch (the ranks' parts are disjoint and,
    concatenated in rank order, are the global batch). The position counts global batches.
    """

    def __init__(self, dataset, batch_size, seed, num_workers=0, pin_memory=False, rank=0, world_size=1):
        if len(dataset) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the training split ({len(dataset)} clips)")
        if batch_size % world_size or not 0 <= rank < world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by {world_size} processes (rank {rank})")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.epoch, self.position = 0, 0
        self._iterator = None

    @property
    def batches_per_epoch(self):
        return len(self.dataset) // self.batch_size

    def epoch_batches(self, epoch):
        """This rank's index batches of `epoch`: a permutation seeded by `seed + epoch`, cut into full
        global batches, of which rank r takes the r-th of `world_size` equal slices."""
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed + epoch))
        local = self.batch_size // self.world_size
        return [order[i * self.batch_size + self.rank * local:i * self.batch_size + (self.rank + 1) * local].tolist()
                for i in range(self.batches_per_epoch)]

    def _start(self):
        batches = self.epoch_batches(self.epoch)[self.position:]
        # A private generator: creating a loader iterator draws a worker base seed, which would
        # otherwise come from (and shift) the global torch RNG, breaking exact resume. Per rank, so
        # that the workers of different ranks draw different crops (rank 0: the single-process seed).
        loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=self.num_workers,
                            pin_memory=self.pin_memory,
                            generator=torch.Generator().manual_seed(self.seed + self.epoch + 1
                                                                    + 1_000_003 * self.rank))
        self._iterator = iter(loader)

    def next(self):
        """The next batch (a collated dict), moving to a new epoch when one ends."""
        if self._iterator is None:
            self._start()
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.epoch, self.position = self.epoch + 1, 0
            self._start()
            batch = next(self._iterator)
        self.position += 1
        return batch

    def state_dict(self):
        """Epoch, position (in global batches) and seed: the same on every rank."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state):
        """Continue from what `state_dict` returned (with any number of ranks)."""
        self.epoch, self.position, self.seed = int(state["epoch"]), int(state["position"]), int(state["seed"])
        self._iterator = None


def validation_batches(dataset, batch_size, max_batches=0, num_workers=0):
    """Full batches of the test split in order (at most `max_batches` when > 0)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=True, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(0))
    for i, batch in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        yield batch
