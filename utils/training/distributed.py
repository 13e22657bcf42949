"""Multi-process training (`torchrun`): the process group and the synchroniser of the update rule.

The update rule takes each group's gradient with `torch.autograd.grad`, so DDP's
backward hooks do not apply; `Synchroniser` is passed to `update_step(..., sync=)`
instead and makes every rank take the same decisions with the same gradients:
non-finite agreement, the balance rule's costs averaged over ranks, and every
group's gradients averaged over ranks in one flattened all_reduce per dtype.
`--batch_size` is the global batch: each rank loads `batch_size / world_size`
clips, so the mean of the ranks' mean losses is the mean loss of the global batch.

Random streams: Python's `random` (task draws, t, frame index, ε draws) is seeded
identically on every rank; torch (the Gaussian noise) and NumPy (random clip
starts and crops) are seeded with `seed + rank`, so rank 0 draws what a
single-process run would.
"""
import datetime
import os

import numpy as np
import torch
import torch.distributed as dist

from utils.core.config import OptionError

# Long enough for rank 0's validation while the others wait at a barrier (bound it with --val_batches).
TIMEOUT = datetime.timedelta(minutes=60)


def env_world_size():
    """`WORLD_SIZE` set by torchrun (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank():
    """`RANK` set by torchrun (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def process_device(device, local_rank):
    """The torch device of the process with `local_rank` for the `--device` option (OptionError if unusable)."""
    if device not in ("auto", "cpu", "cuda"):
        raise OptionError(f"--device {device}: under torchrun each process uses cuda:LOCAL_RANK; "
                          "give --device cuda, cpu or auto")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise OptionError(f"--device {device}: CUDA is not available on this machine")
    if local_rank >= torch.cuda.device_count():
        raise OptionError(f"--device {device}: LOCAL_RANK {local_rank} but this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s); use --nproc_per_node <= that")
    return torch.device("cuda", local_rank)


def init_distributed(device="auto", init_method="env://", rank=None, world_size=None, local_rank=None,
                     timeout=TIMEOUT):
    """Join the process group torchrun describes (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, or the arguments);
    returns a `Synchroniser`, or None for a single process. Backend nccl on CUDA, gloo on the CPU."""
    world_size = env_world_size() if world_size is None else world_size
    if world_size <= 1:
        return None
    rank = env_rank() if rank is None else rank
    local_rank = int(os.environ.get("LOCAL_RANK", rank)) if local_rank is None else local_rank
    target = process_device(device, local_rank)
    options = {}
    if target.type == "cuda":
        torch.cuda.set_device(target)
        options["device_id"] = target
    dist.init_process_group("nccl" if target.type == "cuda" else "gloo", init_method=init_method, rank=rank,
                            world_size=world_size, timeout=timeout, **options)
    return Synchroniser(rank, world_size, local_rank, target)


class Synchroniser:
    """Collectives of one rank of the default process group, in the terms the training loop needs."""

    def __init__(self, rank, world_size, local_rank, device):
        self.rank, self.world_size, self.local_rank, self.device = rank, world_size, local_rank, device
        self._params = {}

    @property
    def is_main(self):
        """True on rank 0, the only rank that writes files and logs."""
        return self.rank == 0

    def attach(self, parameter_groups):
        """Remember the parameters (by id) so that `gradients` can stand zeros in for None gradients."""
        self._params = {id(p): p for params in parameter_groups.values() for p in params}

    def seed_rank_streams(self, seed):
        """Seed torch (Gaussian noise) and NumPy (clip starts, crops) with `seed + rank`; Python's
        `random` is left alone (identical on every rank). Rank 0 keeps its streams."""
        if self.rank:
            torch.manual_seed(seed + self.rank)
            np.random.seed((seed + self.rank) % (2 ** 32))

    def _reduce(self, tensor, op=None):
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op is None else op)
        return tensor

    def all_finite(self, flag):
        """True when `flag` is True on every rank (a non-finite loss anywhere skips the step everywhere)."""
        return bool(self._reduce(torch.tensor([int(bool(flag))], device=self.device), dist.ReduceOp.MIN).item())

    def any(self, flag):
        """True when `flag` is True on some rank (e.g. a stop signal received by one process)."""
        return bool(self._reduce(torch.tensor([int(bool(flag))], device=self.device), dist.ReduceOp.MAX).item())

    def costs(self, real, fake):
        """The balance rule's real and fake costs averaged over ranks (0-dim tensors, equal on every rank)."""
        both = torch.stack([real.detach().float(), fake.detach().float()]).to(self.device)
        both = self._reduce(both) / self.world_size
        return both[0], both[1]

    def mean_floats(self, values):
        """List of floats -> their means over ranks (float64)."""
        if not values:
            return []
        return (self._reduce(torch.tensor(values, dtype=torch.float64, device=self.device))
                / self.world_size).tolist()

    def gradients(self, grads):
        """Mean over ranks of every group's gradients (dict group -> dict param id -> tensor or None,
        as `group_gradients` returns). A parameter whose gradient is None on this rank contributes
        zeros; its result is None only where it is None on every rank, so None-ness agrees everywhere.
        One all_reduce per dtype (the presence flags ride in the float32 one)."""
        entries = [(name, pid, g) for name, by_id in grads.items() for pid, g in by_id.items()]
        shapes, buckets = [], {}
        for name, pid, g in entries:
            if g is None:
                if pid not in self._params:
                    raise RuntimeError("Synchroniser.gradients: a None gradient of an unknown parameter "
                                       "(call attach(parameter_groups) first)")
                like = self._params[pid]
                g = torch.zeros(like.shape, dtype=like.dtype, device=like.device)
            shapes.append((g.shape, g.dtype))
            buckets.setdefault(g.dtype, []).append(g.reshape(-1))
        present = torch.tensor([float(g is not None) for _, _, g in entries], device=self.device)
        buckets.setdefault(torch.float32, []).append(present)
        flats = {dtype: self._reduce(torch.cat([t.to(self.device) for t in parts])).div_(self.world_size)
                 for dtype, parts in buckets.items()}
        anywhere = (flats[torch.float32][len(flats[torch.float32]) - len(entries):] > 0).tolist()
        offsets = dict.fromkeys(flats, 0)
        result = {name: {} for name in grads}
        for (name, pid, _), (shape, dtype), used in zip(entries, shapes, anywhere):
            size = shape.numel()
            part = flats[dtype][offsets[dtype]:offsets[dtype] + size]
            offsets[dtype] += size
            result[name][pid] = part.view(shape) if used else None
        return result

    def broadcast_module(self, module):
        """Copy rank 0's parameters and buffers into `module` on every rank."""
        with torch.no_grad():
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def average_buffers(self, module):
        """Replace every floating-point buffer (BatchNorm running statistics) by its mean over ranks."""
        buffers = [b for b in module.buffers() if b.is_floating_point()]
        if not buffers:
            return
        with torch.no_grad():
            flat = self._reduce(torch.cat([b.reshape(-1).double() for b in buffers])) / self.world_size
            offset = 0
            for b in buffers:
                b.copy_(flat[offset:offset + b.numel()].view(b.shape))
                offset += b.numel()

    def gather_objects(self, obj):
        """List of every rank's picklable `obj`, in rank order, on every rank."""
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def barrier(self):
        """Wait until every rank gets here."""
        dist.barrier()

    def close(self):
        """Leave the process group."""
        if dist.is_initialized():
            dist.destroy_process_group()
