"""VGG19's convolutional layers (the original ImageNet weights Gatys et al. used), in plain torch.

Input: RGB images as float tensors (N, 3, H, W) in 0..255; the network's own preprocessing (BGR order,
ImageNet mean subtracted) happens inside. forward() returns only the activations asked for and stops at
the deepest of them. Pooling is average pooling by default, as Gatys et al. suggest for synthesis.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import VGG19_CONV_LAYERS
from ..runtime import model_path

MODEL_FILE = "vgg19_conv.npz"
BGR_MEAN = (103.939, 116.779, 123.68)
WIDTHS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


class VGG19Features(nn.Module):
    mean: torch.Tensor  # a buffer

    def __init__(self, pooling: str = "avg"):
        super().__init__()
        self.pooling = pooling
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1))
        self.convs = nn.ModuleDict()
        in_channels = 3
        for name in VGG19_CONV_LAYERS:
            out_channels = WIDTHS[int(name[4])]
            self.convs[name] = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            in_channels = out_channels
        self.requires_grad_(False)

    def forward(self, rgb: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        wanted, deepest = set(layers), max(VGG19_CONV_LAYERS.index(name) for name in layers)
        x = rgb.flip(1) - self.mean
        out = {}
        for index, name in enumerate(VGG19_CONV_LAYERS[: deepest + 1]):
            if index > 0 and name.endswith("_1"):  # every block after the first starts after a pooling
                x = F.avg_pool2d(x, 2) if self.pooling == "avg" else F.max_pool2d(x, 2)
            x = F.relu(self.convs[name](x))
            if name in wanted:
                out[name] = x
        return out


@lru_cache(maxsize=4)
def load_vgg19(device: str = "cpu", pooling: str = "avg") -> VGG19Features:
    """The network with its weights, dequantised from resources/models/vgg19_conv.npz (cached per device)."""
    model = VGG19Features(pooling)
    with np.load(model_path(MODEL_FILE)) as data:
        for name, conv in model.convs.items():
            assert isinstance(conv, nn.Conv2d) and conv.bias is not None
            weight = data[f"{name}_table"][data[f"{name}_codes"].astype(np.int64)]
            conv.weight.copy_(torch.from_numpy(weight.reshape(conv.weight.shape)))
            conv.bias.copy_(torch.from_numpy(data[f"{name}_bias"]))
    return model.to(device).eval()
