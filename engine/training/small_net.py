"""A small 128-D ConvNet to train from scratch with triplet loss (the proof that the loss, not the shipped
weights, does the work). It takes the same input as the shipped encoder, uint8 RGB chips (N, 150, 150, 3),
and looks at them at a third of the resolution (50 x 50), which keeps a training run within minutes on a
laptop CPU (a step of 128 chips: about 0.2 s on 2 cores).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 32, 64, 128)
DOWNSAMPLE = 3  # 150 -> 50


def conv_unit(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SmallFaceNet(nn.Module):
    """50x50 -> 4 conv units (max pool between them) -> global average pool -> 128 outputs (not normalised)."""

    def __init__(self, embedding_size: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for i, width in enumerate(WIDTHS):
            layers.append(conv_unit(in_channels, width))
            if i < len(WIDTHS) - 1:
                layers.append(nn.MaxPool2d(2))
            in_channels = width
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(in_channels, embedding_size)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = chips.permute(0, 3, 1, 2).float() / 255.0 - 0.5
        x = F.avg_pool2d(x, DOWNSAMPLE)
        return self.fc(self.body(x).mean(dim=(2, 3)))
