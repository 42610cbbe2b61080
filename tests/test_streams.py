"""Stream decisions on real faces: photos against a gallery of one, and real clips through the real recognizer
with passive liveness and the challenge."""
import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from engine.config import LivenessSettings, RecognitionSettings, Settings
from engine.faces.liveness import Action, random_actions
from engine.images import load_image, video_frames
from engine.streams import COLOUR_NAMES, COLOURS, GREEN, NEUTRAL, ORANGE, IdentifyStream, Kind, VerifyStream
from engine.recognizer import Recognizer

from conftest import FIXTURES

CLIPS = FIXTURES / "liveness"
PERSON_BELOW_Y = 300  # zubair_live_plus_phone_replay.mp4: the person's face centre is at y ~345, the phone's at 190-280


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    settings = Settings(recognition=RecognitionSettings(use_gpu=False))
    with_liveness = dataclasses.replace(settings, liveness=LivenessSettings(mode="passive", threshold=0.5))
    recognizer = Recognizer.from_settings(with_liveness, gallery=tmp_path_factory.mktemp("kiosk") / "g.sqlite")
    yield recognizer
    recognizer.close()


def enroll(recognizer, name, image):
    recognizer.enroll(name, [recognizer.find_face(image).face], [name])


def test_a_name_needs_consecutive_frames_and_one_visit_is_announced_once(recognizer):
    enroll(recognizer, "Obama", load_image(FIXTURES / "faces" / "obama.jpg"))
    obama = recognizer.observe(load_image(FIXTURES / "faces" / "obama2.jpg"))[0]
    biden = recognizer.observe(load_image(FIXTURES / "faces" / "biden.jpg"))[0]

    stream = IdentifyStream(frames_to_decide=3, cooldown=5.0)
    first, second = stream.update([obama], 0.0), stream.update([obama], 0.1)
    assert [d.kind for d in first.decisions + second.decisions] == [Kind.CHECKING] * 2  # no name before the vote
    assert not first.announced and not second.announced
    third = stream.update([obama], 0.2)
    announced = third.announced[0]
    assert announced.kind is Kind.RECOGNIZED and announced.name == "Obama"
    assert np.isclose(announced.distance, obama.match.distance) and third.decisions[0].label.startswith("Obama")
    visit = announced.visit
    for t in np.arange(0.3, 4.0, 0.1):  # he stays: the same visit, only its last-seen time moves
        update = stream.update([obama], t)
        assert not update.announced and update.visits[visit] == t
    # another face elsewhere in the picture: a new track, checked afresh
    assert [d.kind for t in (4.0, 4.1) for d in stream.update([biden], t).decisions] == [Kind.CHECKING] * 2
    stranger = stream.update([biden], 4.2)
    assert [d.kind for d in stranger.announced] == [Kind.UNKNOWN] and stranger.decisions[0].name is None
    assert not stream.update([], 4.3).decisions
    for t in (6.0, 6.1, 6.2, 9.0):  # back within the cooldown of his last sighting (3.9 s): the same visit
        assert not stream.update([obama], t).announced
    assert [d.name for t in (14.5, 14.6, 14.7) for d in stream.update([obama], t).announced] == ["Obama"]


def stream(recognizer, path, every=1):
    """(timestamp, every face) of every `every`-th frame of a clip, liveness on, as the window sees them."""
    recognizer.apply_settings(recognizer.settings, liveness="window")  # a fresh monitor: no tracks from another clip
    frames = []
    for _, timestamp, image in video_frames(path, every):
        frames.append((timestamp, recognizer.observe(image, timestamp=timestamp)))
    recognizer.apply_settings(recognizer.settings, liveness="none")
    return frames


def first_frame(path):
    return next(video_frames(path))[2]


def announcements(stream, frames):
    return [decision for t, faces in frames for decision in stream.update(faces, t).announced]


def who(decisions):
    return [(d.kind, d.name or d.claimed) for d in decisions]


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
    assert who(announcements(IdentifyStream(liveness="passive", cooldown=60), live)) == [(Kind.RECOGNIZED, "Luyt")]
    said = announcements(IdentifyStream(liveness="passive", cooldown=60), replay)
    assert who(said) == [(Kind.SPOOF, "Luyt")] and said[0].name is None
    assert "straight border" in said[0].note and said[0].label == "spoof suspected"
    # without liveness the replay opens the door: what the check is for
    said = announcements(IdentifyStream(liveness="off", cooldown=60), replay)
    assert who(said) == [(Kind.RECOGNIZED, "Luyt")]


def test_a_face_is_checking_until_its_liveness_is_known(selfie_and_replay):
    _, replay = selfie_and_replay
    stream = IdentifyStream(liveness="passive")
    for t, faces in replay[:9]:
        update = stream.update(faces, t)
        assert not update.announced and {d.kind for d in update.decisions} <= {Kind.CHECKING}
        assert all(d.label == "checking…" and d.colour == NEUTRAL for d in update.decisions)


def test_the_phone_beside_the_person_is_never_recognised(recognizer):
    """Every face of the clip decided, not only the largest: the person is recognised, his replay on the phone
    held up beside him never is, and is never labelled with a name."""
    enroll(recognizer, "Zubair", first_frame(FIXTURES / "videos" / "zubair_live_webcam.mov"))
    frames = stream(recognizer, CLIPS / "zubair_live_plus_phone_replay.mp4")
    identify = IdentifyStream(liveness="passive", cooldown=60)
    said, phone_kinds, headlines = [], set(), []
    for t, faces in frames:
        update = identify.update(faces[::-1], t)  # the phone first, as if held closer than the person's face
        said += update.announced
        if any(d.kind is Kind.RECOGNIZED for d in update.decisions):
            headlines.append(update.headline.headline)
        for decision in update.decisions:
            if decision.box[1] + decision.box[3] < 2 * PERSON_BELOW_Y:  # the phone, above the person's face
                phone_kinds.add(decision.kind)
                assert decision.name is None and "Zubair" not in decision.label and decision.colour != GREEN
    assert phone_kinds and Kind.RECOGNIZED not in phone_kinds
    assert (Kind.RECOGNIZED, "Zubair") in who(said) and (Kind.SPOOF, "Zubair") in who(said)
    named = [d for d in said if d.kind is Kind.RECOGNIZED]
    assert all(d.box[1] + d.box[3] > 2 * PERSON_BELOW_Y for d in named)
    assert headlines and all(h == "Zubair" for h in headlines)  # never a spoof banner over his green name


def seeded(order):
    """A seeded random source whose first draw of len(order) actions is `order` (the clip's real turns)."""
    seed = next(s for s in range(1000) if random_actions(len(order), random.Random(s)) == order)
    return random.Random(seed)


@pytest.fixture(scope="module")
def webcam(recognizer):
    enroll(recognizer, "Zubair", first_frame(FIXTURES / "videos" / "zubair_live_webcam.mov"))
    return stream(recognizer, FIXTURES / "videos" / "zubair_live_webcam.mov")


def test_challenge_answered_in_the_asked_order_shows_the_name_only_then(webcam):
    # he turns with his nose to the image's left first (~7 s), then to the right (~9-11 s): in an
    # unmirrored image his right, then his left (tests/test_liveness.py)
    identify = IdentifyStream(liveness="passive+challenge", step_time=10,
                              rng=seeded((Action.TURN_RIGHT, Action.TURN_LEFT)))
    prompts, said, shown = set(), [], []
    for t, faces in webcam:
        update = identify.update(faces, t)
        said += update.announced
        prompts.add(identify.prompt)
        shown += [(t, d.kind, d.name) for d in update.decisions]
    assert "Please turn your head right (1/2)" in prompts and "Please turn your head left (2/2)" in prompts
    # passed during the second turn (~9.3 s), announced once frontal frames show him again (~11.9 s)
    assert who(said) == [(Kind.RECOGNIZED, "Zubair")] and 11.0 < said[0].time < 12.5
    named = [t for t, kind, name in shown if name is not None]
    assert named and min(named) == said[0].time  # no name on the screen before the decision
    assert {kind for t, kind, _ in shown if t < said[0].time} <= {Kind.CHECKING, Kind.CHALLENGE_RUNNING,
                                                                  Kind.CHALLENGE_PASSED, Kind.TURNED}


def test_the_same_recording_asked_another_order_is_a_spoof(webcam):
    identify = IdentifyStream(liveness="passive+challenge", step_time=10, cooldown=60,
                              rng=seeded((Action.TURN_LEFT, Action.TURN_RIGHT)))
    said = announcements(identify, webcam)
    assert who(said) == [(Kind.CHALLENGE_FAILED, "Zubair")] and said[0].name is None
    assert "turned right when asked to turn your head left" in said[0].note
    last = identify.update(webcam[-1][1], webcam[-1][0] + 0.1).decisions[0]
    assert last.kind is Kind.CHALLENGE_FAILED and last.colour == ORANGE  # and it stays one for the cooldown


def as_track(face, track_id):
    """The same real observation, as if the tracker had followed it on `track_id`."""
    return dataclasses.replace(face, liveness=dataclasses.replace(face.liveness, track_id=track_id))


def test_someone_else_cannot_answer_the_challenge_for_the_owner(webcam, selfie_and_replay):
    # the owner's face starts the challenge; then another person's live face, on the same track, does the rest
    live_stranger, _ = selfie_and_replay
    identify = IdentifyStream(liveness="passive+challenge", step_time=10, cooldown=60)
    owner = [(t, faces) for t, faces in webcam if t < 2.0]
    track = owner[-1][1][0].liveness.track_id
    assert not announcements(identify, owner) and identify.prompt  # challenging the owner
    later = [(2.0 + t, [as_track(faces[0], track)]) for t, faces in live_stranger if faces]
    said = announcements(identify, later)
    assert said and who(said)[0] == (Kind.CHALLENGE_FAILED, "Zubair") and "another face" in said[0].note
    assert "Zubair" not in [d.name for d in said]


def test_leaving_mid_challenge_does_not_buy_a_new_order(webcam):
    identify = IdentifyStream(liveness="passive+challenge", step_time=10, cooldown=60)
    announcements(identify, [(t, faces) for t, faces in webcam if t < 2.0])
    assert identify.prompt
    gone = [(2.0 + k / 15, []) for k in range(30)]  # two seconds out of view
    assert not announcements(identify, gone)
    back = [(4.0 + t, faces) for t, faces in webcam if t < 2.0]
    said = announcements(identify, back)
    assert who(said) == [(Kind.CHALLENGE_FAILED, "Zubair")] and "left the camera's view" in said[0].note
    assert identify.prompt == ""  # no fresh challenge, in a new order, during the cooldown


def test_a_person_named_like_a_kind_is_logged_as_recognised(tmp_path):
    """The kind travels as an enum from the stream to the log and the events: a person enrolled as
    "not recognized" is recognised, under that name."""
    settings = Settings(recognition=RecognitionSettings(use_gpu=False))
    recognizer = Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite")
    enroll(recognizer, "not recognized", load_image(FIXTURES / "faces" / "obama.jpg"))
    obama = recognizer.observe(load_image(FIXTURES / "faces" / "obama2.jpg"))[0]
    decision = IdentifyStream(frames_to_decide=1).update([obama], 0.0).announced[0]
    assert decision.kind is Kind.RECOGNIZED and decision.headline == "not recognized"
    recognizer.announce(decision, "kiosk")
    event = recognizer.gallery.events()[0]
    recognizer.close()
    assert (event.kind, event.person) == ("recognized", "not recognized")


def test_the_readme_legend_is_the_drawing_rule():
    """Every colour the camera view draws, and what it means, is in README's legend."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    legend = readme[readme.index("### Colours on the camera view"):]
    legend = legend[:legend.index("\n#")]
    bullets = legend.split("\n- ")
    for kind, colour in COLOURS.items():
        bullet = next((b for b in bullets if b.startswith(f"**{COLOUR_NAMES[colour]}**")), "")
        assert f"`{kind.value}`" in bullet, f"README's legend does not say that {kind.value} is {COLOUR_NAMES[colour]}"


def verify_run(verify, frames):
    """The VerifyStream's updates over the frames, up to its decision."""
    updates = []
    for t, faces in frames:
        updates.append(verify.update(faces, t))
        if updates[-1].finished:
            break
    return updates


def test_verify_from_the_camera_decides_only_once_the_face_is_known_live(recognizer, selfie_and_replay):
    live, replay = selfie_and_replay
    updates = verify_run(VerifyStream(recognizer, "Luyt", "passive"), live)
    assert updates[0].kind is Kind.CHECKING and updates[0].message == "Checking that the face is live…"
    assert updates[-1].kind is Kind.VERIFIED and "τ" in updates[-1].message
    assert all(u.kind is Kind.CHECKING for u in updates[:-1]) and updates[-2].message == "Comparing…"
    assert [e.kind for e in recognizer.gallery.events()].count("verified") == 1  # once, not once per frame
    updates = verify_run(VerifyStream(recognizer, "Luyt", "passive"), replay)
    assert updates[-1].kind is Kind.SPOOF and updates[-1].finished and "straight border" in updates[-1].message
    event = recognizer.gallery.events()[0]
    assert (event.kind, event.person) == ("spoof", "Luyt")
    assert verify_run(VerifyStream(recognizer, "Luyt", "passive"), [(0.0, [])])[-1].message == "No face in the camera."


def test_a_camera_verification_holds_the_identify_challenge(webcam):
    """Two random orders at once would fail each other: while a verification asks for its own, the identify
    stream drops its challenge without failing it, starts none, and starts again afterwards."""
    identify = IdentifyStream(liveness="passive+challenge", step_time=10, cooldown=60)
    start = [(t, faces) for t, faces in webcam if t < 2.0]
    announcements(identify, start)
    assert identify.prompt
    identify.hold_challenges(True)
    held = [(2.0 + t, faces) for t, faces in webcam if t < 2.0]
    held_kinds = []
    for t, faces in held:
        update = identify.update(faces, t)
        assert not update.announced and identify.prompt == ""
        held_kinds += [d.kind for d in update.decisions]
    assert Kind.CHALLENGE_RUNNING not in held_kinds and Kind.RECOGNIZED not in held_kinds
    identify.hold_challenges(False)
    later = [(4.1 + t, faces) for t, faces in webcam if t < 1.0]
    assert not announcements(identify, later) and identify.prompt  # a new challenge, nothing failed
