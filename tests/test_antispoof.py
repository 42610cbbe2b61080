"""MiniFASNet anti-spoofing (engine.faces.antispoof) on real frames: ONNX vs the authors' weights in torch,
the crop rule at image borders, the channel order, and the verdict on live and replay clips."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.errors import ModelUnavailable
from engine.faces.antispoof import BOX_SHAPE, MODELS, AntiSpoofModel, crop_window, face_crops
from engine.faces.detect import FaceDetector
from engine.images import load_image, video_frames
from engine.runtime import MODELS_DIR, file_sha256

from conftest import FIXTURES

WEIGHTS = FIXTURES / "minifasnet"
LIVE_SELFIE = FIXTURES / "liveness" / "tranvanluyt_live_phone_selfie_6s.mp4"
SCREEN_REPLAY = FIXTURES / "liveness" / "tranvanluyt_replay_screen_6s.mp4"
PHONE_REPLAY = FIXTURES / "liveness" / "zubair_live_plus_phone_replay.mp4"
LIVE_WEBCAM = FIXTURES / "videos" / "zubair_live_webcam.mov"
PERSON_BELOW_Y = 300  # in PHONE_REPLAY the person's face centre is at y ~345 px, the phone's at 190-280 px


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(use_gpu=False)


@pytest.fixture(scope="module")
def model():
    return AntiSpoofModel(use_gpu=False)


@pytest.fixture(scope="module")
def clips(detector):
    """Clip name -> [(frame index, RGB frame, detections)], every 6th frame (every 3rd of PHONE_REPLAY, where the
    person is in view for 25 frames only)."""
    every = {LIVE_SELFIE: 6, SCREEN_REPLAY: 6, PHONE_REPLAY: 3, LIVE_WEBCAM: 6}
    return {path.name: [(i, image, detector.detect(image)) for i, _, image in video_frames(path, every=step)]
            for path, step in every.items()}


def frame(clips, path, index):
    return next((image, faces) for i, image, faces in clips[path.name] if i == index)


def is_person(detection) -> bool:
    return (detection.box[1] + detection.box[3]) / 2 > PERSON_BELOW_Y


# --- (a) the shipped ONNX models compute what the authors' weights compute in torch

def test_the_onnx_models_give_the_torch_models_scores_on_real_crops(model, clips, detector):
    import torch

    from tools.convert_minifasnet import SOURCES, load_network

    images = [(image, faces) for path in (LIVE_SELFIE, SCREEN_REPLAY, PHONE_REPLAY)
              for image, faces in (frame(clips, path, i) for i in (0, 30, 60))]
    images.append((load_image(FIXTURES / "faces" / "two_people.jpg"), None))
    images = [(image, faces if faces is not None else detector.detect(image)) for image, faces in images]
    summed_torch = []
    for (name, scale), session in zip(MODELS, model.sessions):
        pth, _, squeeze_excite = SOURCES[name]
        network = load_network(WEIGHTS / pth, squeeze_excite)
        crops = np.concatenate([face_crops(image, [d.box for d in faces], scale) for image, faces in images])
        assert len(crops) >= 12
        with torch.no_grad():
            expected = network(torch.from_numpy(crops)).numpy()
        got = session.run(None, {"bgr": crops})[0]
        assert np.abs(got - expected).max() < 1e-4
        summed_torch.append(expected[:, 1])
    scores = np.concatenate([model.live_scores(image, faces) for image, faces in images])
    assert np.abs(scores - np.sum(summed_torch, axis=0) / 2).max() < 1e-4


def test_a_damaged_or_missing_model_file_is_refused(tmp_path):
    names = [name for name, _ in MODELS]
    for name in names:
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    (tmp_path / "checksums.sha256").write_text("".join(f"{file_sha256(tmp_path / n)}  {n}\n" for n in names))
    AntiSpoofModel(use_gpu=False, models_dir=tmp_path)
    damaged = tmp_path / names[1]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="damaged"):
        AntiSpoofModel(use_gpu=False, models_dir=tmp_path)
    damaged.unlink()
    with pytest.raises(ModelUnavailable, match="missing"):
        AntiSpoofModel(use_gpu=False, models_dir=tmp_path)


# --- (b) the crop rule

def test_a_face_far_from_the_borders_gets_its_reshaped_box_times_the_scale_around_its_centre():
    box = (300, 200, 340, 254)  # 40 x 54, centre (320, 227)
    x1, y1, x2, y2 = crop_window(box, 480, 640, 2.7)
    assert (x2 - x1, y2 - y1) == (round(40 * BOX_SHAPE[0] * 2.7), round(54 * BOX_SHAPE[1] * 2.7))
    assert abs((x1 + x2) / 2 - 320) <= 1 and abs((y1 + y2) / 2 - 227) <= 1
    assert crop_window(box, 480, 640, 2.7, box_shape=(1, 1)) == (266, 154, 374, 300)  # 108 x 146


def test_a_face_at_a_corner_gets_a_window_slid_inside_the_image_not_padded():
    x1, y1, x2, y2 = crop_window((0, 0, 40, 54), 480, 640, 4.0)
    assert (x1, y1) == (0, 0)
    assert (x2, y2) == (round(40 * BOX_SHAPE[0] * 4), round(54 * BOX_SHAPE[1] * 4))  # full size, not cut
    x1, y1, x2, y2 = crop_window((610, 440, 640, 480), 480, 640, 2.7)
    assert (x2, y2) == (640, 480) and x1 > 0 and y1 > 0


def test_a_face_too_large_for_the_scale_gets_the_scale_clipped_so_the_window_fits():
    box = (100, 20, 300, 290)  # 200 x 270 in a 400 x 300 image: 4x would be 904 x 940
    for scale in (2.7, 4.0):
        x1, y1, x2, y2 = crop_window(box, 300, 400, scale)
        assert 0 <= x1 < x2 <= 400 and 0 <= y1 < y2 <= 300
        assert y2 - y1 == 300  # the height limits the scale here ...
        assert abs((x2 - x1) / (y2 - y1) - (200 * BOX_SHAPE[0]) / (270 * BOX_SHAPE[1])) < 0.01  # ... shape kept
    assert crop_window(box, 300, 400, 2.7) == crop_window(box, 300, 400, 4.0)  # both models see the same window


def test_every_window_lies_inside_the_image_and_every_crop_is_80x80_bgr():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    for _ in range(200):
        x, y = rng.uniform(-20, 100, 2)
        w, h = rng.uniform(2, 150, 2)
        x1, y1, x2, y2 = crop_window((x, y, x + w, y + h), 120, 90, rng.choice([2.7, 4.0]))
        assert 0 <= x1 < x2 <= 90 and 0 <= y1 < y2 <= 120
    crops = face_crops(image, [(0, 0, 90, 120)], 1.0, box_shape=(1, 1))
    assert crops.shape == (1, 3, 80, 80) and crops.dtype == np.float32
    resized = face_crops(image[:, :, ::-1].copy(), [(0, 0, 90, 120)], 1.0, box_shape=(1, 1))
    assert np.array_equal(crops[0, 0], resized[0, 2])  # channel 0 of the input is the image's blue


# --- (c) the channel order cannot be mixed up

def test_known_live_and_attack_crops_get_their_class_and_swapped_channels_weaken_the_attacks(model, clips):
    live_image, live_faces = frame(clips, LIVE_SELFIE, 0)
    screen_image, screen_faces = frame(clips, SCREEN_REPLAY, 90)
    assert model.live_scores(live_image, live_faces)[0] > 0.9
    assert model.live_scores(screen_image, screen_faces)[0] < 0.1
    right, wrong = [], []
    for index in (30, 45, 60, 75, 90):  # the phone held up alone, its face on the screen
        image, faces = frame(clips, PHONE_REPLAY, index)
        right.append(model.live_scores(image, faces)[0])
        wrong.append(model.live_scores(image[:, :, ::-1].copy(), faces)[0])  # a caller passing BGR
    assert max(right) < 0.2
    # measured: right 0.01-0.09 (mean 0.03), swapped 0.23-0.48 (mean 0.36)
    assert np.mean(wrong) > np.mean(right) + 0.2 and max(wrong) > 0.35


def test_all_faces_of_an_image_go_through_in_one_batch_with_the_scores_of_one_at_a_time(model, detector):
    image = load_image(FIXTURES / "faces" / "two_people.jpg")
    faces = detector.detect(image)
    assert len(faces) == 2
    together = model.live_scores(image, faces)
    alone = np.array([model.live_scores(image, [face])[0] for face in faces])
    assert together.shape == (2,) and np.abs(together - alone).max() < 1e-5
    assert np.all(together > 0.5)
    assert model.live_scores(image, []).shape == (0,)


# --- (d) the fixture clips, judged over many frames

def clip_scores(model, clips, path, keep=lambda detection: True) -> np.ndarray:
    scores = [model.live_scores(image, [d for d in faces if keep(d)]) for _, image, faces in clips[path.name]]
    return np.concatenate(scores)


@pytest.mark.parametrize("path, keep", [(LIVE_SELFIE, None), (LIVE_WEBCAM, None), (PHONE_REPLAY, is_person)])
def test_live_clips_are_mostly_live(model, clips, path, keep):
    scores = clip_scores(model, clips, path, keep or (lambda d: True))
    assert len(scores) >= 8
    # measured (frames called spoof): selfie 0/31, webcam 0/34, the person beside the phone 2/10 (median 0.82)
    assert np.median(scores) > 0.7
    assert np.mean(scores < 0.5) < 1 / 3


@pytest.mark.parametrize("path, keep", [(SCREEN_REPLAY, None), (PHONE_REPLAY, lambda d: not is_person(d))])
def test_replay_clips_are_mostly_spoof(model, clips, path, keep):
    scores = clip_scores(model, clips, path, keep or (lambda d: True))
    assert len(scores) >= 20
    assert np.median(scores) < 0.1
    assert np.mean(scores < 0.5) >= 0.95
