"""Would an INT8 dlib ResNet pay? Its speed and accuracy against the shipped float file, alone and in dlib + SFace.

    python bench/dlib_int8.py [--root ../shared/data/faces/lfw-view1] [--calibration-images 100]

ONNX Runtime's static quantisation (QDQ, weights QInt8 per output channel, activations QUInt8 per tensor,
99.999th-percentile ranges from the dlib chips of LFW View-1 DevTrain images) of every convolution but the first
(quantising the first too cost cosine 0.954 at worst against float). Printed: the cosine to the float model on
100 DevTest chips, ms per face on one thread (batch 1 and 8, float and INT8 measured in turns; INT8 as the app
would run it, exactly as uint8 on a CPU whose int8 products saturate), and the LFW View-1 table of
bench/fusion.py (τ fitted on DevTrain, figures on DevTest) for dlib and for dlib + SFace with the shipped
fusion's weights and SFace statistics. The file is written to bench/out/ and never shipped: an INT8
dlib would change dlib's encoder id, and with it the id of every gallery made with dlib, dlib + FaceNet or
dlib + SFace.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine.config import RecognitionSettings  # noqa: E402
from engine.faces.encode import MODEL_FILE, FaceEncoder  # noqa: E402
from engine.faces.fusion import FUSIONS  # noqa: E402
from engine.faces.sface import SFaceEncoder  # noqa: E402
from engine.pipeline import FacePipeline  # noqa: E402
from engine.runtime import int8_products_saturate, model_path  # noqa: E402
from fusion import OUT, subject_faces, table, view1  # noqa: E402
from fusion_sface import sface_embeddings  # noqa: E402

PERCENTILE = 99.999


def subject_chips(paths: list[Path]) -> np.ndarray:
    """dlib chips (N, 150, 150, 3) of each image's subject; zeros where no face (their rows are dropped later)."""
    pipeline = FacePipeline(RecognitionSettings(encoder="dlib", use_gpu=False))
    chips = np.zeros((len(paths), 150, 150, 3), np.uint8)
    for i, face in enumerate(subject_faces(pipeline, paths, "dlib chips")):
        if face is not None:
            chips[i] = face.chip
    return chips


def quantised(calibration: np.ndarray, out: Path) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Chips(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"chips": c[None]} for c in calibration])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as folder:
        processed = Path(folder) / "processed.onnx"
        quant_pre_process(str(model_path(MODEL_FILE)), str(processed))
        first_conv = next(n.name for n in onnx.load(processed).graph.node if n.op_type == "Conv")
        quantize_static(str(processed), str(out), Chips(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=[first_conv], calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": PERCENTILE})
    return out


class Int8Dlib(FaceEncoder):
    """dlib with INT8 weights, run as the app would run it (runtime.onnx_session's exact path where needed)."""

    INT8_WEIGHTS = True


def ms_per_face(encoders: dict[str, FaceEncoder], chips: np.ndarray, rounds: int = 7) -> dict[str, float]:
    """Best-of-rounds ms per face of each encoder, the encoders taking turns so that the load moves all alike."""
    best = {name: np.inf for name in encoders}
    for _ in range(rounds):
        for name, encoder in encoders.items():
            encoder.raw_descriptors(chips)
            start = time.perf_counter()
            for _ in range(4):
                encoder.raw_descriptors(chips)
            best[name] = min(best[name], (time.perf_counter() - start) / 4 / len(chips) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces/lfw-view1")
    parser.add_argument("--calibration-images", type=int, default=100)
    args = parser.parse_args()

    paths, train, test, splits, dlib, ev = view1(args.root)
    found = ~np.isnan(dlib["boxes"][:, 0])
    chips = subject_chips(paths)
    train_images = [i for i in np.unique(ev.train_pairs) if found[i]]
    calibration = chips[[train_images[i] for i in np.linspace(0, len(train_images) - 1, args.calibration_images)
                         .round().astype(int)]]
    OUT.mkdir(exist_ok=True)
    int8_file = quantised(calibration, OUT / "dlib_resnet_v1_int8.onnx")
    float_dlib = FaceEncoder(use_gpu=False, intra_op_threads=1)
    int8_dlib = Int8Dlib(int8_file, use_gpu=False, intra_op_threads=1)
    print("INT8 runs " + ("exactly, as uint8 (this CPU's int8 products saturate)" if int8_products_saturate()
                          else "on this CPU's int8 kernels (VNNI or not x86)"))

    check = chips[ev.test_images[np.linspace(0, len(ev.test_images) - 1, 100).round().astype(int)]]
    a, b = float_dlib.raw_descriptors(check), int8_dlib.raw_descriptors(check)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"cosine INT8 to float on 100 DevTest chips: min {cosine.min():.4f}, mean {cosine.mean():.4f}")
    for batch in (1, 8):
        times = ms_per_face({"float": float_dlib, "INT8": int8_dlib}, check[:batch])
        print(f"ms per face, one thread, batch {batch}: float {times['float']:.1f}, INT8 {times['INT8']:.1f}")

    int8 = np.full_like(dlib["plain"], np.nan)
    int8[found] = int8_dlib.encode(chips[found])
    with np.load(FUSIONS["dlib+sface"].statistics_file()) as fusion:
        a_weight, b_weight = float(fusion["dlib_weight"]), float(fusion["sface_weight"])
        mean, std = fusion["sface_mean"], fusion["sface_std"]
    sface = (sface_embeddings(SFaceEncoder(use_gpu=False, intra_op_threads=1), paths) - mean) / std
    sface /= np.linalg.norm(sface, axis=1, keepdims=True)
    rows = [("dlib float (shipped)", ev.vectors(dlib["plain"])), ("dlib INT8", ev.vectors(int8)),
            ("dlib float + SFace (shipped fusion)", ev.vectors(np.hstack([a_weight * dlib["plain"], b_weight * sface]))),
            ("dlib INT8 + SFace (same weights)", ev.vectors(np.hstack([a_weight * int8, b_weight * sface])))]
    print(table(rows))


if __name__ == "__main__":
    main()
