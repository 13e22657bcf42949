"""The device a command runs on, from its `--device` option."""
import torch

from utils.core.config import OptionError


def resolve_device(name):
    """'auto' -> cuda when available else cpu; 'cpu', 'cuda', 'cuda:N' as given (OptionError if absent).
    Returns a torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise OptionError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
