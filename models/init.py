"""Weight initialisation of MODEL.md §4, applied to every submodule of a network."""
import math

import torch
from torch import nn

RELU_GAIN = math.sqrt(2.0)

_XAVIER_LAYERS = (nn.Conv2d, nn.Conv3d, nn.Linear)
_TRANSPOSED_LAYERS = (nn.ConvTranspose2d, nn.ConvTranspose3d)
_UNIT_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def transposed_conv_bound(layer: nn.Module) -> float:
    """Take a ConvTranspose2d/3d; return PyTorch 0.4's init bound 1/sqrt(C_in * prod(kernel_size)).

    C_in is the layer's input channels, the first dimension of a transposed
    conv's weight `[C_in, C_out / groups, *kernel_size]`.
    """
    fan = layer.weight.shape[0] * math.prod(layer.kernel_size)
    return 1.0 / math.sqrt(fan)


@torch.no_grad()
def initialize_weights(module: nn.Module) -> None:
    """Initialise `module` and all its submodules in place as MODEL.md §4 prescribes.

    - Conv2d, Conv3d, Linear: weight Xavier-uniform with gain sqrt(2); bias untouched
      (PyTorch's default U(±1/sqrt(fan_in))).
    - ConvTranspose2d/3d: weight and bias U(±1/sqrt(C_in·k²)) (the PyTorch 0.4 default).
    - BatchNorm1d/2d: weight 1, bias 0.
    - BatchNorm3d: weight U(0, 1), bias 0 (the PyTorch 0.4 default).
    Other modules are left as they are. Returns None.
    """
    for layer in module.modules():
        if isinstance(layer, _XAVIER_LAYERS):
            nn.init.xavier_uniform_(layer.weight, gain=RELU_GAIN)
        elif isinstance(layer, _TRANSPOSED_LAYERS):
            bound = transposed_conv_bound(layer)
            nn.init.uniform_(layer.weight, -bound, bound)
            if layer.bias is not None:
                nn.init.uniform_(layer.bias, -bound, bound)
        elif isinstance(layer, _UNIT_BATCHNORMS):
            if layer.weight is not None:
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm3d):
            if layer.weight is not None:
                nn.init.uniform_(layer.weight, 0.0, 1.0)
                nn.init.zeros_(layer.bias)
