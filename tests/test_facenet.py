"""FaceNet (tools/convert_facenet.py's ONNX file) against the TensorFlow graph it came from, and its crop."""
from pathlib import Path

import numpy as np
import pytest

from engine.errors import BadInput
from engine.faces.facenet import CROP_SIZE, FaceNetEncoder, facenet_crop, facenet_crops

from conftest import FIXTURES

# The shipped file is FaceNet quantised to INT8 (ONNX Runtime static QDQ, calibrated on LFW View-1 DevTrain crops):
# measured cosine to TensorFlow's float32 embeddings >= 0.9989 on the 24 DevTest crops of tools/convert_facenet.py
# (largest difference per component 7e-3); a float32 conversion agrees within 1.3e-7.
MIN_COSINE = 0.995


@pytest.fixture(scope="module")
def encoder():
    return FaceNetEncoder(use_gpu=False)


@pytest.fixture(scope="module")
def reference():
    """8 FaceNet crops of LFW View-1 DevTest images (4 people, 2 each, in pairs) and TensorFlow's embeddings."""
    with np.load(FIXTURES / "facenet_reference.npz") as stored:
        return stored["crops"], stored["names"], stored["tensorflow"]


def test_matches_tensorflow_on_real_face_crops(encoder, reference):
    crops, _, expected = reference
    embeddings = encoder.encode(crops)
    assert embeddings.shape == (len(crops), 512) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    assert np.sum(embeddings * expected, axis=1).min() >= MIN_COSINE
    one_at_a_time = np.concatenate([encoder.encode(crop[None]) for crop in crops])
    assert np.allclose(one_at_a_time, embeddings, atol=1e-6)  # a batch of 8 gives what 8 batches of 1 give
    assert encoder.encode(crops[:0]).shape == (0, 512)
    assert encoder.id == FaceNetEncoder.model_id()  # named by its recorded checksum


def test_same_person_nearer_than_other_people(encoder, reference):
    crops, names, expected = reference
    same = names[:, None] == names[None]
    off_diagonal = ~np.eye(len(names), dtype=bool)
    for embeddings in (expected, encoder.encode(crops)):  # the fixture's premise, then the shipped file
        distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
        assert distances[same & off_diagonal].max() < distances[~same].min()


def test_refuses_other_inputs(encoder):
    with pytest.raises(BadInput):
        encoder.encode(np.zeros((1, 150, 150, 3), np.uint8))
    with pytest.raises(BadInput):
        encoder.encode(np.zeros((1, CROP_SIZE, CROP_SIZE, 3), np.float32))


def test_crop_is_the_box_with_its_margin():
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:150, 100:200] = 255  # the box, white; the margin around it, black
    crop = facenet_crop(image, np.array([100, 50, 200, 150]), margin=0.2)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    # 140 px resized to 182 then the centre 160 kept: the box's edge sits 20 * 182/140 - 11 = 15 px inside
    assert crop[:, 80].tolist().count([0, 0, 0]) in range(26, 36) and crop[80, 80].tolist() == [255, 255, 255]
    near_edge = facenet_crops(image, [np.array([-20, -20, 60, 60])], margin=0.2)  # clipped, still a crop
    assert near_edge.shape == (1, CROP_SIZE, CROP_SIZE, 3)
    with pytest.raises(BadInput):
        facenet_crop(image, np.array([400, 300, 500, 400]))


def test_the_exact_int8_path_matches_tensorflow_on_every_cpu(reference):
    """The weights moved to uint8 (what a CPU without VNNI runs, where int8 products saturate: cosine 0.68 there
    before) give TensorFlow's embeddings wherever the test runs. The model is made once and kept in the data
    folder; a damaged copy is made again; the shipped file is left as it was."""
    import onnxruntime as ort

    from engine.faces.facenet import MODEL_FILE
    from engine.runtime import exact_int8_file, file_sha256, model_path

    path = model_path(MODEL_FILE)
    before = file_sha256(path)
    kept = exact_int8_file(path)
    assert isinstance(kept, Path) and exact_int8_file(path) == kept
    kept.write_bytes(kept.read_bytes()[:1000])  # a copy cut short (a crash, a full disk)
    assert exact_int8_file(path) == kept and file_sha256(kept) == kept.with_suffix(".sha256").read_text()
    session = ort.InferenceSession(str(kept), providers=["CPUExecutionProvider"])
    crops, _, expected = reference
    embeddings = session.run(None, {"crops": crops})[0]
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    assert np.sum(embeddings * expected, axis=1).min() >= MIN_COSINE
    assert file_sha256(path) == before
