"""Batches for training (reshuffled every epoch, last partial batch dropped) and validation.

The order is a pure function of `(seed, epoch)`, and the stream's position is
part of its state, so a resumed run sees the same batches as an uninterrupted one.
"""
import torch
from torch.utils.data import DataLoader

from datasets import build_dataset, dataset_options


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
    """Endless training batches from `dataset`: a fresh permutation per epoch, full batches only."""

    def __init__(self, dataset, batch_size, seed, num_workers=0, pin_memory=False):
        if len(dataset) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the training split ({len(dataset)} clips)")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.epoch, self.position = 0, 0
        self._iterator = None

    @property
    def batches_per_epoch(self):
        return len(self.dataset) // self.batch_size

    def epoch_batches(self, epoch):
        """Index batches of `epoch`: a permutation seeded by `seed + epoch`, cut into full batches."""
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed + epoch))
        return [order[i * self.batch_size:(i + 1) * self.batch_size].tolist() for i in range(self.batches_per_epoch)]

    def _start(self):
        batches = self.epoch_batches(self.epoch)[self.position:]
        # A private generator: creating a loader iterator draws a worker base seed, which would
        # otherwise come from (and shift) the global torch RNG, breaking exact resume.
        loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=self.num_workers,
                            pin_memory=self.pin_memory,
                            generator=torch.Generator().manual_seed(self.seed + self.epoch + 1))
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
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state):
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
