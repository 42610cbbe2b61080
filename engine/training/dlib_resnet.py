"""dlib's face-recognition ResNet as a plain torch module (the network tools/convert_dlib_resnet.py exports to ONNX).

dlib's definition (tools/python/src/face_recognition.cpp, `anet_type`), in forward order:
  150x150 RGB -> (x - mean) / 256 -> conv 7x7/2 (32) -> affine -> relu -> max pool 3x3/2
  -> 3 residual blocks of 32 -> 4 of 64 -> 3 of 128 -> 3 of 256 -> 1 of 256 (the first of each group
     after the 32s halves the resolution) -> global average pool -> 128 outputs, no bias.
A block is conv 3x3 -> affine -> relu -> conv 3x3 -> affine, added to its input, then relu. A down-sampling
block uses stride 2 in its first conv and adds a 2x2/2 average pool of its input instead; dlib adds tensors
of different sizes by padding the smaller with zeros at the end of each dimension (channels and the
bottom/right border), which `_add_padded` reproduces.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CHIP_SIZE = 150  # dlib's aligned face chips are 150x150 RGB
INPUT_MEAN_RGB = (122.782, 117.001, 104.298)  # dlib's input_rgb_image defaults, also stored in the .dat
INPUT_SCALE = 256.0
GROUPS = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))  # width, blocks, downsample first


class Affine(nn.Module):
    """dlib's affine layer: a per-channel scale and shift (what batch norm becomes for inference)."""

    def __init__(self, channels: int):
        super().__init__()
        # shaped (C, 1, 1) so they broadcast over an NCHW tensor with no reshape in the exported graph
        self.gamma = nn.Parameter(torch.ones(channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x):
        return x * self.gamma + self.beta


def _add_padded(a, b):
    """a + b where the smaller tensor is zero-padded at the end of channels, rows and columns (dlib's add_prev)."""
    channels, rows, cols = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t):
        if t.shape[1:] == (channels, rows, cols):
            return t
        return F.pad(t, (0, cols - t.shape[3], 0, rows - t.shape[2], 0, channels - t.shape[1]))

    return pad(a) + pad(b)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, downsample: bool):
        super().__init__()
        stride, padding = (2, 0) if downsample else (1, 1)  # dlib pads only stride-1 convolutions
        self.downsample = downsample
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding)
        self.affine1 = Affine(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.affine2 = Affine(channels)

    def forward(self, x):
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(_add_padded(y, shortcut))


class DlibResNet(nn.Module):
    """uint8 RGB chips (N, 150, 150, 3) -> raw 128-D descriptors, as dlib's compute_face_descriptor."""

    mean: torch.Tensor  # a buffer

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(INPUT_MEAN_RGB).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 32, 7, 2, 0)
        self.affine = Affine(32)
        blocks, in_channels = [], 32
        for channels, count, downsample_first in GROUPS:
            for i in range(count):
                blocks.append(ResidualBlock(in_channels, channels, downsample_first and i == 0))
                in_channels = channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    def features(self, chips):
        """Everything but the last projection: (N, 256) pooled features."""
        x = (chips.permute(0, 3, 1, 2).float() - self.mean) / INPUT_SCALE
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        return self.blocks(x).mean(dim=(2, 3))

    def forward(self, chips):
        return self.fc(self.features(chips))

    @classmethod
    def from_onnx(cls, path: Path) -> "DlibResNet":
        """The network with the weights stored in an ONNX file this module exported (initializer names = state_dict keys)."""
        import onnx
        from onnx import numpy_helper

        stored = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
        model = cls()
        state = {name: torch.from_numpy(stored[name].copy()) for name in model.state_dict()}
        model.load_state_dict(state)
        return model.eval()


def export_onnx(model: nn.Module, out: Path) -> None:
    """Input "chips" uint8 (N, 150, 150, 3) RGB, output "descriptors" float32 (N, 128); N is dynamic.

    The dynamo exporter gives a graph with static spatial shapes (no Shape/Gather chains) and names each
    initializer after its state_dict key; Affine keeps its parameters (C, 1, 1)-shaped so its optimiser has
    nothing to fold into new, unnamed constants.
    """
    example = torch.zeros(2, CHIP_SIZE, CHIP_SIZE, 3, dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        model.eval(), (example,), input_names=["chips"], output_names=["descriptors"],
        dynamic_shapes=({0: batch},), opset_version=18, dynamo=True, optimize=True, verbose=False,
    )
    assert program is not None  # dynamo=True always returns an ONNXProgram
    program.save(str(out))
