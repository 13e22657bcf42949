"""Host (CPU) memory reuse between training steps (`--host_memory`, utils/SPEED.md item 9).

glibc's malloc serves a large block (over its mmap threshold: 128 KiB, adapting up to 32 MiB)
with a fresh `mmap` and returns it to the kernel on `free`; every page of the next such block is
then zero-filled again on first touch (a minor page fault). A training step frees and re-allocates
the same large activations, gradients and workspaces each time (the joint layer's 134 MB weight
gradient, oneDNN's reorder buffers): measured on the MUG launcher model, 4 400 minor faults per
content step, 36 000 per frame step and 240 000–430 000 per video step, 0.1–1.4 CPU-seconds of
kernel time per step. `retain` makes malloc serve every block from its heap (`M_MMAP_MAX = 0`)
and keep up to `TRIM_THRESHOLD` bytes of freed memory at the heap's top (`M_TRIM_THRESHOLD`), so
the next step reuses pages already mapped (faults per step after warm-up: 0–350). The resident
size stays bounded by the step's peak plus that threshold. Arithmetic is unaffected.
"""
import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
TRIM_THRESHOLD = 1 << 30
MODES = ("retain", "release")
# mallopt settings: `retain`, and glibc's default as it settles in a training process (the dynamic
# mmap threshold grown to its 32 MiB cap, the trim threshold at twice that), which a process can set
# again after `retain` (the benchmark's in-process comparison; the dynamic default cannot be restored)
RETAIN = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: TRIM_THRESHOLD}
GLIBC_SETTLED = {M_MMAP_MAX: 65536, M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20}


def set_malloc(settings):
    """`mallopt` each `{parameter: value}` of `settings` (glibc only); True when every call succeeded."""
    libc = ctypes.CDLL(None)
    return all([bool(libc.mallopt(parameter, value)) for parameter, value in settings.items()])


def configure_host_memory(mode):
    """Apply `--host_memory`: 'retain' (reuse freed memory, glibc only) or 'release' (malloc's defaults).

    Returns True when malloc's settings were changed; False for 'release' and where the C library
    is not glibc (there is nothing to change: the setting then does nothing and says so in the log).
    Raises ValueError for another mode. The settings hold for the rest of the process (and for
    DataLoader workers forked later).
    """
    if mode not in MODES:
        raise ValueError(f"--host_memory must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "release" or platform.libc_ver()[0] != "glibc":
        return False
    return set_malloc(RETAIN)
