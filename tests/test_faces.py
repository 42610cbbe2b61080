"""The face pipeline on real photos: detection, alignment, errors, and the pipeline's decisions."""
import numpy as np
import pytest

from engine.config import RecognitionSettings
from engine.errors import NoFace, UnreadableImage
from engine.faces.align import align_face, similarity_transform
from engine.images import load_image
from engine.pipeline import FacePipeline, subject_index

from conftest import FIXTURES

FACES = FIXTURES / "faces"


@pytest.fixture(scope="module")
def pipeline():
    return FacePipeline(RecognitionSettings(use_gpu=False))


def iou(a, b):
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)


def test_detector_finds_the_face_and_its_landmarks(pipeline):
    image = load_image(FACES / "obama.jpg")
    (face,) = pipeline.detector.detect(image)
    x1, y1, x2, y2 = face.box
    assert face.score > 0.95 and 150 < x2 - x1 < 400
    assert np.all((face.landmarks >= [x1, y1]) & (face.landmarks <= [x2, y2]))
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and nose[1] < mouth_left[1] and nose[1] < mouth_right[1]


def test_a_small_detection_size_finds_the_same_box_in_original_pixels(pipeline):
    image = load_image(FACES / "obama.jpg")
    (full,) = pipeline.detector.detect(image)
    small_settings = RecognitionSettings(use_gpu=False, detection_size=240)
    small = FacePipeline(small_settings, encoder=pipeline.encoder)
    (reduced,) = small.detector.detect(image)
    assert iou(full.box, reduced.box) > 0.8


def test_two_people_are_two_faces(pipeline):
    faces = pipeline.observe(load_image(FACES / "two_people.jpg"))
    assert len(faces) == 2
    areas = [np.prod(f.box[2:] - f.box[:2]) for f in faces]
    assert areas[0] >= areas[1]  # largest first


def test_alignment_puts_the_landmarks_on_the_template(pipeline):
    image = load_image(FACES / "obama2.jpg")
    (face,) = pipeline.detector.detect(image)
    matrix = similarity_transform(face.landmarks, pipeline.template.points)
    mapped = np.column_stack([face.landmarks, np.ones(5)]) @ matrix.T
    residuals = np.linalg.norm(mapped - pipeline.template.points, axis=1)
    assert residuals.mean() < 6  # a few chip pixels: the head in this photo is slightly turned
    chip = align_face(image, face.landmarks, pipeline.template)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8 and chip.std() > 20


def test_no_face_is_a_clear_error(pipeline):
    with pytest.raises(NoFace, match="No face"):
        pipeline.embed_one(load_image(FACES / "no_face_golden_gate.jpg"))


@pytest.mark.parametrize("person", ["Charles_Schumer", "Kate_Capshaw"])
def test_the_subject_of_a_photo_is_taken_not_a_larger_face_beside_it(pipeline, person):
    """In these LFW photos someone beside the subject has the larger face box."""
    reference = pipeline.embed_one(load_image(FACES / "lfw" / f"{person}_0001.jpg")).face.embedding
    photo = pipeline.embed_one(load_image(FACES / "lfw" / f"{person}_0002.jpg"))
    largest = pipeline.embed_one(load_image(FACES / "lfw" / f"{person}_0002.jpg"), rule="largest")
    assert len(photo.faces) == 2 and photo.index != largest.index
    tau = pipeline.settings.tau
    assert np.linalg.norm(photo.face.embedding - reference) < tau < np.linalg.norm(largest.face.embedding - reference)
    assert "2 faces found; took the most central" in photo.note("the photo")


def test_subject_rule_weighs_size_against_distance_from_the_centre():
    centred_small = [45, 45, 55, 55]  # area 100 at the centre of a 100x100 image
    off_centre_large = [0, 0, 20, 20]  # area 400, centre 40 px away on each axis: 400 - 3200 < 100
    assert subject_index([off_centre_large, centred_small], (100, 100)) == 1
    assert subject_index([off_centre_large, centred_small], (100, 100), centrality=0.0) == 0
    assert subject_index([off_centre_large], (100, 100)) == 0


def test_corrupt_and_missing_images_are_clear_errors(tmp_path):
    data = (FACES / "obama2.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image" * 100)
    for path in (truncated, garbage, tmp_path / "missing.jpg"):
        with pytest.raises(UnreadableImage, match="Cannot read the image"):
            load_image(path)


def test_same_person_is_closer_than_a_stranger(pipeline):
    obama, obama2, biden = (pipeline.embed_one(load_image(FACES / name)).face.embedding
                            for name in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    same, different = np.linalg.norm(obama - obama2), np.linalg.norm(obama - biden)
    tau = RecognitionSettings().tau
    assert same <= tau < different, (same, different)


def test_grayscale_and_alpha_images_are_read_as_rgb(tmp_path):
    import cv2

    image = cv2.imread(str(FACES / "obama2.jpg"))
    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "alpha.png"), cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    for name in ("grey.png", "alpha.png"):
        assert load_image(tmp_path / name).shape == image.shape


def test_a_face_too_small_to_enroll_is_refused(pipeline):
    import cv2

    from engine.errors import FaceTooSmall

    image = load_image(FACES / "obama.jpg")
    small = cv2.resize(image, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceTooSmall, match="smaller than the 40 px"):
        pipeline.embed_one(small)


def test_the_detectors_input_is_the_bgr_image_minus_its_mean_channel_first():
    from engine.faces.detect import BGR_MEAN, network_input

    image = load_image(FACES / "obama.jpg")
    expected = (image[:, :, ::-1].astype(np.float32) - BGR_MEAN).transpose(2, 0, 1)[None]
    blob = network_input(image)
    assert blob.dtype == np.float32 and blob.flags.c_contiguous
    assert np.array_equal(blob, expected)
