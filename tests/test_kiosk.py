"""Kiosk decisions on real faces: photos against a gallery of one, and real clips through the real recognizer
with passive liveness and the challenge."""
import dataclasses
import random

import numpy as np
import pytest

from engine.config import LivenessSettings, RecognitionSettings, Settings
from engine.faces.liveness import Action, random_actions
from engine.images import load_image, video_frames
from engine.kiosk import SPOOF, UNKNOWN, RecognitionVote
from engine.recognizer import Recognizer

from conftest import FIXTURES

CLIPS = FIXTURES / "liveness"


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    settings = Settings(recognition=RecognitionSettings(use_gpu=False))
    with_liveness = dataclasses.replace(settings, liveness=LivenessSettings(mode="passive", threshold=0.5))
    recognizer = Recognizer.from_settings(with_liveness, gallery=tmp_path_factory.mktemp("kiosk") / "g.sqlite")
    yield recognizer
    recognizer.close()


def enroll(recognizer, name, image):
    recognizer.enroll(name, [recognizer.find_face(image).face], [name])


def test_a_name_needs_consecutive_frames_and_respects_the_cooldown(recognizer):
    enroll(recognizer, "Obama", load_image(FIXTURES / "faces" / "obama.jpg"))
    obama = recognizer.observe(load_image(FIXTURES / "faces" / "obama2.jpg"))[0]
    biden = recognizer.observe(load_image(FIXTURES / "faces" / "biden.jpg"))[0]

    vote = RecognitionVote(frames_to_decide=3, cooldown=5.0)
    assert vote.update(obama, 0.0) is None and vote.update(obama, 0.1) is None
    announced = vote.update(obama, 0.2)
    assert announced.name == "Obama" and np.isclose(announced.distance, obama.match.distance)
    assert vote.current == "Obama"
    assert vote.update(obama, 0.3) is None  # cooldown
    assert [vote.update(biden, t) for t in (1.0, 1.1)] == [None, None]
    assert vote.update(biden, 1.2).name == UNKNOWN
    assert vote.update(None, 1.3) is None and vote.current is None
    for t in (6.0, 6.1):
        vote.update(obama, t)
    assert vote.update(obama, 6.2).name == "Obama"


def stream(recognizer, path, every=1):
    """(timestamp, largest face or None) of every `every`-th frame of a clip, liveness on, as the window sees them."""
    recognizer.apply_settings(recognizer.settings, liveness="window")  # a fresh monitor: no tracks from another clip
    frames = []
    for _, timestamp, image in video_frames(path, every):
        faces = recognizer.observe(image, timestamp=timestamp)
        frames.append((timestamp, faces[0] if faces else None))
    recognizer.apply_settings(recognizer.settings, liveness="none")
    return frames


def first_frame(path):
    return next(video_frames(path))[2]


def announcements(vote, frames):
    return [a for t, face in frames if (a := vote.update(face, t)) is not None]


@pytest.fixture(scope="module")
def selfie_and_replay(recognizer):
    """The same person live (phone selfie) and replayed on a laptop screen; enrolled from the live clip's
    first frame."""
    enroll(recognizer, "Luyt", first_frame(CLIPS / "tranvanluyt_live_phone_selfie_6s.mp4"))
    live = stream(recognizer, CLIPS / "tranvanluyt_live_phone_selfie_6s.mp4", every=2)
    replay = stream(recognizer, CLIPS / "tranvanluyt_replay_screen_6s.mp4", every=2)
    return live, replay


def test_passive_liveness_lets_the_person_in_and_not_his_replay(selfie_and_replay):
    live, replay = selfie_and_replay
    said = announcements(RecognitionVote(liveness="passive", cooldown=60), live)
    assert [a.name for a in said] == ["Luyt"]
    said = announcements(RecognitionVote(liveness="passive", cooldown=60), replay)
    assert [a.name for a in said] == [SPOOF]
    assert said[0].claimed == "Luyt" and "straight border" in said[0].reason
    # without liveness the replay opens the door: what the check is for
    assert [a.name for a in announcements(RecognitionVote(liveness="off", cooldown=60), replay)] == ["Luyt"]


def test_no_decision_before_the_liveness_of_a_new_face_is_known(selfie_and_replay):
    _, replay = selfie_and_replay
    vote = RecognitionVote(liveness="passive")
    for t, face in replay[:9]:
        assert vote.update(face, t) is None and vote.current is None


def seeded(order):
    """A seeded random source whose first draw of len(order) actions is `order` (the clip's real turns)."""
    seed = next(s for s in range(1000) if random_actions(len(order), random.Random(s)) == order)
    return random.Random(seed)


@pytest.fixture(scope="module")
def webcam(recognizer):
    enroll(recognizer, "Zubair", first_frame(FIXTURES / "videos" / "zubair_live_webcam.mov"))
    return stream(recognizer, FIXTURES / "videos" / "zubair_live_webcam.mov")


def test_challenge_answered_in_the_asked_order_announces_the_name(webcam):
    # he turns with his nose to the image's left first (~7 s), then to the right (~9-11 s): in an
    # unmirrored image his right, then his left (tests/test_liveness.py)
    vote = RecognitionVote(liveness="passive+challenge", step_time=10,
                           rng=seeded((Action.TURN_RIGHT, Action.TURN_LEFT)))
    prompts, said = set(), []
    for t, face in webcam:
        if (announcement := vote.update(face, t)) is not None:
            said.append(announcement)
        prompts.add(vote.prompt)
    assert "Please turn your head right (1/2)" in prompts and "Please turn your head left (2/2)" in prompts
    # passed during the second turn (~9.3 s), announced once frontal frames show him again (~11.9 s)
    assert [a.name for a in said] == ["Zubair"] and 11.0 < said[0].time < 12.5


def test_the_same_recording_asked_another_order_is_a_spoof(webcam):
    vote = RecognitionVote(liveness="passive+challenge", step_time=10, cooldown=60,
                           rng=seeded((Action.TURN_LEFT, Action.TURN_RIGHT)))
    said = announcements(vote, webcam)
    assert [a.name for a in said] == [SPOOF]
    assert said[0].claimed == "Zubair" and "turned right when asked to turn your head left" in said[0].reason
    assert vote.current == SPOOF  # and it stays one for the cooldown


def as_track(face, track_id):
    """The same real observation, as if the tracker had followed it on `track_id`."""
    return dataclasses.replace(face, liveness=dataclasses.replace(face.liveness, track_id=track_id))


def test_someone_else_cannot_answer_the_challenge_for_the_owner(webcam, selfie_and_replay):
    # the owner's face starts the challenge; then another person's live face, on the same track, does the rest
    live_stranger, _ = selfie_and_replay
    vote = RecognitionVote(liveness="passive+challenge", step_time=10, cooldown=60)
    owner = [(t, face) for t, face in webcam if t < 2.0]
    track = owner[-1][1].liveness.track_id
    said = announcements(vote, owner)
    assert not said and vote.prompt  # challenging the owner
    later = [(2.0 + t, as_track(face, track)) for t, face in live_stranger if face is not None]
    said = announcements(vote, later)
    assert said and said[0].name == SPOOF and said[0].claimed == "Zubair" and "another face" in said[0].reason
    assert "Zubair" not in [a.name for a in said]


def test_leaving_mid_challenge_does_not_buy_a_new_order(webcam):
    vote = RecognitionVote(liveness="passive+challenge", step_time=10, cooldown=60)
    start = [(t, face) for t, face in webcam if t < 2.0]
    announcements(vote, start)
    assert vote.prompt
    gone = [(2.0 + k / 15, None) for k in range(30)]  # two seconds out of view
    assert not announcements(vote, gone)
    back = [(4.0 + t, face) for t, face in webcam if t < 2.0]
    said = announcements(vote, back)
    assert [a.name for a in said] == [SPOOF] and "left the camera's view" in said[0].reason
    assert vote.prompt == ""  # no fresh challenge, in a new order, during the cooldown
