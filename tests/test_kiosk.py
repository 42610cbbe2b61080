"""Kiosk decisions on real matches: the Obama photos against a gallery of one."""
import numpy as np

from engine.config import RecognitionSettings
from engine.gallery import Gallery
from engine.kiosk import UNKNOWN, RecognitionVote
from engine.pipeline import FacePipeline, load_image

from conftest import FIXTURES


def test_a_name_needs_consecutive_frames_and_respects_the_cooldown(tmp_path):
    pipeline = FacePipeline(RecognitionSettings(use_gpu=False))
    pipeline.gallery = Gallery(tmp_path / "g.sqlite", pipeline.encoder.id)
    enrolled = pipeline.embed_one(load_image(FIXTURES / "faces" / "obama.jpg"))
    pipeline.gallery.enroll("Obama", enrolled.embedding[None], ["obama.jpg"])
    obama = pipeline.observe(load_image(FIXTURES / "faces" / "obama2.jpg"))[0].match
    biden = pipeline.observe(load_image(FIXTURES / "faces" / "biden.jpg"))[0].match

    vote = RecognitionVote(frames_to_decide=3, cooldown=5.0)
    assert vote.update(obama, 0.0) is None and vote.update(obama, 0.1) is None
    announced = vote.update(obama, 0.2)
    assert announced.name == "Obama" and np.isclose(announced.distance, obama.distance)
    assert vote.current == "Obama"
    assert vote.update(obama, 0.3) is None  # cooldown
    assert [vote.update(biden, t) for t in (1.0, 1.1)] == [None, None]
    assert vote.update(biden, 1.2).name == UNKNOWN
    assert vote.update(None, 1.3) is None and vote.current is None
    for t in (6.0, 6.1):
        vote.update(obama, t)
    assert vote.update(obama, 6.2).name == "Obama"
