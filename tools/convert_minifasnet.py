"""Convert the MiniFASNet anti-spoofing weights (Apache-2.0) to resources/models/minifasnet_*.onnx.

Source: minivision-ai/Silent-Face-Anti-Spoofing, commit b6d5f04ad78778917853b25c778acef6d5626d15,
resources/anti_spoof_models/ (a copy with its LICENSE is in ../shared/models/minifasnet/). Each .pth is a
torch state_dict whose keys start with "module." (it was saved from a DataParallel wrapper).

The network is rebuilt here from the tensor names and shapes: MobileFaceNet-style bottlenecks (1x1 expand,
3x3 depthwise, 1x1 linear projection), in a fixed layout of three stride-2 blocks, each followed by a stage of
stride-1 residual blocks (4, 6 and 2 of them), then a 1x1 conv to 512 channels, a 5x5 depthwise conv that
reduces the 5x5 map to one value per channel, fc 512 -> 128, batch norm, fc 128 -> 3 classes (index 1: live).
The two files differ only in the channel widths, which the authors pruned block by block and which we read
from the weight shapes, and in MiniFASNetV1SE's squeeze-and-excitation on the last block of each stage.
The paper's Fourier-spectrum auxiliary branch exists only in training; neither file holds its tensors, so it is
not defined here, and load_state_dict(strict=True) proves that every tensor of each file has its place.

    python tools/convert_minifasnet.py [--weights-dir ../shared/models/minifasnet]

Writes minifasnet_v2.onnx and minifasnet_v1se.onnx: input "bgr" float32 (N, 3, 80, 80), BGR 0-255 as cut by
engine.faces.antispoof.face_crops (not normalised); output "probabilities" float32 (N, 3), the softmax.
Both are checked against torch on real face crops before they replace the shipped files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.faces.antispoof import INPUT_SIZE, MODELS, face_crops  # noqa: E402
from engine.faces.detect import FaceDetector  # noqa: E402
from engine.images import load_image, video_frames  # noqa: E402
from engine.runtime import MODELS_DIR, file_sha256  # noqa: E402
from tools.checksums import publish_model  # noqa: E402

# our file name -> (the authors' file, its sha256, squeeze-and-excitation)
SOURCES = {
    "minifasnet_v2.onnx": ("2.7_80x80_MiniFASNetV2.pth",
                           "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0", False),
    "minifasnet_v1se.onnx": ("4_0_0_80x80_MiniFASNetV1SE.pth",
                             "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990", True),
}
STAGES = (("conv_23", "conv_3", 4), ("conv_34", "conv_4", 6), ("conv_45", "conv_5", 2))  # stride-2 block, stage, blocks
CHECK_IMAGES = [ROOT / "tests/fixtures/faces/obama.jpg", ROOT / "tests/fixtures/faces/two_people.jpg"]
CHECK_CLIPS = sorted((ROOT / "tests/fixtures/liveness").glob("*.mp4"))
TOLERANCE = 1e-4


class ConvUnit(nn.Sequential):
    """conv (no bias) -> batch norm [-> PReLU]; the layer names are the state_dict's (conv, bn, prelu)."""

    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1, prelu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        if prelu:
            self.prelu = nn.PReLU(cout)


class SqueezeExcite(nn.Module):
    """Channel gate: global average -> 1x1 conv, BN, ReLU -> 1x1 conv, BN, sigmoid -> scale the input."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.fc1, self.bn1 = nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden)
        self.fc2, self.bn2 = nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels)

    def forward(self, x):
        gate = torch.relu(self.bn1(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(self.bn2(self.fc2(gate)))


class Bottleneck(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride 1 or 2) -> 1x1 linear projection [-> SE]; stride 1 adds the input back."""

    def __init__(self, cin, expand, cout, stride, se_hidden=0):
        super().__init__()
        self.conv = ConvUnit(cin, expand)
        self.conv_dw = ConvUnit(expand, expand, 3, stride, 1, groups=expand)
        self.project = ConvUnit(expand, cout, prelu=False)
        self.se_module = SqueezeExcite(cout, se_hidden) if se_hidden else None
        self.residual = stride == 1

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class Stage(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.model = nn.Sequential(*blocks)

    def forward(self, x):
        return self.model(x)


class MiniFASNet(nn.Module):
    """(N, 3, 80, 80) float32 BGR 0-255 -> (N, 3) softmax; class 1 is live, 0 and 2 the authors' two attack kinds.

    `state` (keys without "module.") only gives the channel widths; the layout is fixed above.
    """

    def __init__(self, state: dict[str, torch.Tensor], squeeze_excite: bool):
        super().__init__()

        def width(key):
            return state[key].shape[0]

        def bottleneck(prefix, cin, stride, se):
            expand, cout = width(f"{prefix}.conv.conv.weight"), width(f"{prefix}.project.conv.weight")
            return Bottleneck(cin, expand, cout, stride, width(f"{prefix}.se_module.fc1.weight") if se else 0), cout

        stem = width("conv1.conv.weight")
        self.conv1 = ConvUnit(3, stem, 3, 2, 1)
        self.conv2_dw = ConvUnit(stem, stem, 3, 1, 1, groups=stem)
        channels = stem
        for down, stage, count in STAGES:
            block, channels = bottleneck(down, channels, 2, False)
            setattr(self, down, block)
            blocks = []
            for i in range(count):
                block, channels = bottleneck(f"{stage}.model.{i}", channels, 1, squeeze_excite and i == count - 1)
                blocks.append(block)
            setattr(self, stage, Stage(blocks))
        wide, embedding = width("conv_6_sep.conv.weight"), width("linear.weight")
        self.conv_6_sep = ConvUnit(channels, wide)
        self.conv_6_dw = ConvUnit(wide, wide, INPUT_SIZE // 16, groups=wide, prelu=False)
        self.linear = nn.Linear(wide, embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, width("prob.weight"), bias=False)

    def forward(self, bgr):
        x = self.conv2_dw(self.conv1(bgr))
        for down, stage, _ in STAGES:
            x = getattr(self, stage)(getattr(self, down)(x))
        x = self.conv_6_dw(self.conv_6_sep(x)).flatten(1)
        return torch.softmax(self.prob(self.bn(self.linear(x))), dim=1)


def load_network(pth: Path, squeeze_excite: bool) -> MiniFASNet:
    """The authors' .pth as an eval-mode MiniFASNet, every tensor loaded (strict=True)."""
    raw = torch.load(pth, map_location="cpu", weights_only=True)
    state = {key.removeprefix("module."): value for key, value in raw.items()}
    model = MiniFASNet(state, squeeze_excite)
    model.load_state_dict(state, strict=True)
    return model.eval()


def export(model: MiniFASNet, out: Path) -> None:
    example = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        model, (example,), input_names=["bgr"], output_names=["probabilities"],
        dynamic_shapes=({0: batch},), opset_version=18, dynamo=True, optimize=True, verbose=False,
    )
    program.save(str(out))


def real_crops(scale: float) -> np.ndarray:
    """Crops of every face in two photos and in every 20th frame of the fixture clips (live and attacks)."""
    images = [load_image(path) for path in CHECK_IMAGES]
    images += [image for clip in CHECK_CLIPS for _, _, image in video_frames(clip, every=20)]
    detector = FaceDetector(use_gpu=False)
    return np.concatenate([face_crops(image, [d.box for d in detector.detect(image)], scale) for image in images])


def verify(model: MiniFASNet, onnx_file: Path, crops: np.ndarray) -> float:
    """Largest |ONNX - torch| over the crops, run as one batch and as batches of 1."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(torch.from_numpy(crops)).numpy()
    whole = session.run(None, {"bgr": crops})[0]
    single = np.concatenate([session.run(None, {"bgr": crops[i:i + 1]})[0] for i in range(len(crops))])
    return float(max(np.abs(whole - expected).max(), np.abs(single - expected).max()))


def export_and_check(model, draft: Path, crops: np.ndarray, name: str) -> None:
    export(model, draft)
    difference = verify(model, draft, crops)
    print(f"{name}: max |ONNX - torch| = {difference:.2e} over {len(crops)} real face crops")
    if difference > TOLERANCE:
        sys.exit(f"{name} does not agree with torch ({difference:.2e} > {TOLERANCE}).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", type=Path, default=ROOT.parent / "shared" / "models" / "minifasnet")
    args = parser.parse_args()
    for name, scale in MODELS:
        pth_name, digest, squeeze_excite = SOURCES[name]
        pth = args.weights_dir / pth_name
        if file_sha256(pth) != digest:
            sys.exit(f"{pth} is not the authors' file (sha256 differs from {digest}).")
        model = load_network(pth, squeeze_excite)
        crops = real_crops(scale)
        out = MODELS_DIR / name
        publish_model(out, lambda draft: export_and_check(model, draft, crops, name))  # called at once: no late binding
        print(f"wrote {out} sha256 {file_sha256(out)} (from {pth_name}, sha256 {digest})")


if __name__ == "__main__":
    main()
