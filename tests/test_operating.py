"""The 1:K operating point (engine/operating.py) on real ORL faces: strangers held out of the choice are named no
more often than the target, the threshold tightens as the gallery grows, and verify keeps its 1:1 tau."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import RecognitionSettings, Settings
from engine.faces.encoders import encoder_id
from engine.images import load_image
from engine.match import GalleryMatrix, identify
from engine.operating import MIN_PEOPLE, gallery_curve, identify_point, lfw_shape, per_comparison_far
from engine.pipeline import FacePipeline

ORL = Path(__file__).resolve().parent / "fixtures" / "orl"  # provenance: fixtures/orl/PROVENANCE.txt
ENROLLED = [f"s{i}" for i in range(1, 21)]  # the half that chooses the threshold: shot 1 enrolled, shot 2 a probe
HELD_OUT = [f"s{i}" for i in range(21, 41)]  # the other half: strangers, shots 1-3; they choose nothing
SETTINGS = Settings()
TAU, ONE_IN = SETTINGS.recognition.tau, SETTINGS.recognition.stranger_rate


@pytest.fixture(scope="module")
def orl() -> dict[tuple[str, int], np.ndarray]:
    """Embedding of every fixture image through the real pipeline, by (person, shot)."""
    pipeline = FacePipeline(RecognitionSettings(use_gpu=False))
    embeddings = {}
    for path in sorted(ORL.glob("s*/*.pgm")):
        faces = pipeline.observe(load_image(path))
        assert len(faces) == 1, f"{path}: the detector must find the one face at ORL's native 92x112"
        embeddings[(path.parent.name, int(path.stem))] = faces[0].embedding
    return embeddings


def one_shot_gallery(orl, people) -> GalleryMatrix:
    return GalleryMatrix(np.stack([orl[(p, 1)] for p in people]), np.arange(len(people)), tuple(people))


def test_held_out_strangers_are_named_no_more_often_than_the_target(orl):
    gallery = one_shot_gallery(orl, ENROLLED)
    point = identify_point(gallery, TAU, ONE_IN, encoder_id(SETTINGS.recognition.encoder))
    assert point.from_gallery and point.threshold < TAU
    strangers = np.stack([orl[(p, shot)] for p in HELD_OUT for shot in (1, 2, 3)])
    named = sum(m.recognized for m in identify(strangers, gallery, point.threshold))
    assert named <= len(strangers) / ONE_IN  # 60 strangers, 1 in 100: none
    at_tau = sum(m.recognized for m in identify(strangers, gallery, TAU))
    assert at_tau >= 0.2 * len(strangers)  # what verify's 1:1 tau would have done at this door
    probes = identify(np.stack([orl[(p, 2)] for p in ENROLLED]), gallery, point.threshold)
    recognised = sum(m.recognized and m.name == p for m, p in zip(probes, ENROLLED))
    assert recognised >= 0.9 * len(ENROLLED)
    assert all(m.threshold == point.threshold for m in probes)


def test_a_growing_gallery_tightens_the_threshold(orl):
    identity = encoder_id(SETTINGS.recognition.encoder)
    everyone = ENROLLED + HELD_OUT
    points = [identify_point(one_shot_gallery(orl, everyone[:size]), TAU, ONE_IN, identity) for size in (10, 20, 40)]
    assert points[0].threshold > points[-1].threshold  # 10 people, then 40: tighter
    # between those, the estimate of the gallery's own strangers moves with the people added; with the same
    # strangers' curve, every comparison added tightens the threshold
    curve = gallery_curve(one_shot_gallery(orl, everyone), lfw_shape(identity))
    by_size = [curve.distance_at(per_comparison_far(1 / ONE_IN, k)) for k in (10, 20, 40, 1000)]
    assert by_size == sorted(by_size, reverse=True) and len(set(by_size)) == 4
    assert all(p.from_gallery for p in points)
    assert "tightens as the gallery grows" in points[0].summary()
    assert per_comparison_far(0.01, 39) == pytest.approx(1 - 0.99 ** (1 / 39))
    # below MIN_PEOPLE the conservative fallback depends on the size alone, and tightens too
    small = [identify_point(one_shot_gallery(orl, everyone[:size]), TAU, ONE_IN, identity)
             for size in range(2, MIN_PEOPLE)]
    assert all(a.threshold > b.threshold for a, b in zip(small, small[1:]))
    assert not small[0].from_gallery and "too small" in small[0].summary() and "LFW" in small[0].impostors


def test_a_stricter_target_gives_a_stricter_threshold_and_says_so(orl):
    gallery = one_shot_gallery(orl, ENROLLED)
    identity = encoder_id(SETTINGS.recognition.encoder)
    loose, strict = (identify_point(gallery, TAU, n, identity) for n in (100, 10_000))
    assert strict.threshold < loose.threshold
    assert loose.stranger_rate == pytest.approx(0.01, rel=0.05) and "1 time in 100" in loose.summary()
    assert "missed at most about" in loose.summary() and "LFW's genuine pairs" in loose.genuine  # one shot each: no repeats
    repeats = GalleryMatrix(np.stack([orl[(p, s)] for p in ENROLLED for s in (1, 2)]), np.repeat(np.arange(20), 2),
                            tuple(ENROLLED))
    with_repeats = identify_point(repeats, TAU, 100, identity)
    assert "repeat shots" in with_repeats.genuine and "missed about" in with_repeats.summary()


def test_each_encoder_reads_its_own_calibration(orl):
    fused, dlib = encoder_id("dlib+facenet"), encoder_id("dlib")
    assert lfw_shape(fused).calibration.encoder_id == fused and lfw_shape(dlib).calibration.encoder_id == dlib
    gallery = one_shot_gallery(orl, ENROLLED)
    unknown = identify_point(gallery, TAU, ONE_IN, "trained:0123456789ab")  # no LFW calibration: a normal tail
    assert "normal tail" in unknown.impostors and unknown.threshold < TAU
    tiny = one_shot_gallery(orl, ENROLLED[:3])
    nothing = identify_point(tiny, TAU, ONE_IN, "trained:0123456789ab")  # nothing to estimate from: tau, said so
    assert nothing.threshold == TAU and nothing.stranger_rate is None and "no impostor curve" in nothing.summary()


def test_the_recognizer_identifies_at_the_identify_point_and_verifies_at_tau(orl, tmp_path):
    from engine.recognizer import Recognizer

    recognizer = Recognizer.from_settings(SETTINGS, gallery=tmp_path / "gallery.sqlite", publish=False)
    try:
        for person in ENROLLED:
            recognizer.gallery.enroll(person, orl[(person, 1)][None], [f"orl/{person}/1.pgm"], [b""])
        point = recognizer.identify_point()
        assert point.people == len(ENROLLED) and point.threshold < TAU
        face = recognizer.observe(load_image(ORL / "s21" / "1.pgm"))[0]
        assert face.match is not None and face.match.threshold == point.threshold
        # a stranger between the two thresholds: not named by identify, yet "same" for verify's 1:1 tau
        between = [(p, s) for p in HELD_OUT for s in (1, 2, 3)
                   if point.threshold < identify(orl[(p, s)][None], recognizer.gallery.matrix(), TAU)[0].distance <= TAU]
        assert between
        person, shot = between[0]
        stranger = recognizer.observe(load_image(ORL / person / f"{shot}.pgm"))[0]
        assert stranger.match is not None and not stranger.match.recognized
        assert recognizer.verify(stranger.match.best_name, stranger).same
    finally:
        recognizer.close()


def test_the_command_line_says_which_threshold_identify_used(orl, tmp_path, capsys):
    from engine.cli import main
    from engine.gallery import Gallery

    gallery_file = tmp_path / "gallery.sqlite"
    with Gallery(gallery_file, encoder_id(SETTINGS.recognition.encoder)) as gallery:
        for person in ENROLLED:
            gallery.enroll(person, orl[(person, 1)][None], [f"orl/{person}/1.pgm"], [b""])
        point = identify_point(gallery.matrix(), TAU, ONE_IN, gallery.encoder_id)
    enrolled_photo, stranger_photo = ORL / "s1" / "1.pgm", ORL / "s21" / "1.pgm"
    assert main(["identify", str(enrolled_photo), str(stranger_photo), "--gallery", str(gallery_file)]) == 1
    out, err = capsys.readouterr()
    known, stranger = out.splitlines()
    assert "s1 (distance" in known and f"≤ threshold {point.threshold:.3f}" in known
    assert "not recognized" in stranger and f"threshold {point.threshold:.3f}" in stranger
    assert point.summary() in err
