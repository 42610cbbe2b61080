"""Liveness on real clips: the challenge on real landmark sequences, the passive cues on live and replay videos."""
from __future__ import annotations

import argparse
import json
import random

import cv2
import numpy as np
import pytest

from engine.config import LivenessSettings, load_settings
from engine.faces.antispoof import AntiSpoofModel
from engine.faces.detect import FaceDetector
from engine.faces.landmarks import FaceMeshModel, eye_openness
from engine.faces.liveness import (
    Action, ChallengeSession, ChallengeState, Cue, PassiveLiveness, assess_frames, random_actions,
)
from engine.faces.liveness.cues import DEFAULT_THRESHOLD, combine, screen_frame_cue
from engine.faces.liveness_points import CAMERA_POINT, POINTS_FILE, STILL_POINT, describe_points
from engine.faces.quality import head_yaw
from engine.images import video_frames

from conftest import FIXTURES

LIVE_WEBCAM = FIXTURES / "videos" / "zubair_live_webcam.mov"
CLIPS = FIXTURES / "liveness"
PHONE_REPLAY = CLIPS / "zubair_live_plus_phone_replay.mp4"
LIVE_SELFIE = CLIPS / "tranvanluyt_live_phone_selfie_6s.mp4"
SCREEN_REPLAY = CLIPS / "tranvanluyt_replay_screen_6s.mp4"


class ReplayDetector:
    """Hands out detections computed once, in order, so a clip is not detected twice."""

    def __init__(self, detections):
        self.detections = iter(detections)

    def detect(self, image):
        return next(self.detections)


@pytest.fixture(scope="module")
def models():
    return FaceDetector(use_gpu=False), FaceMeshModel(use_gpu=False), AntiSpoofModel(use_gpu=False)


@pytest.fixture(scope="module")
def webcam(models):
    """The live webcam clip: frames, detections and the real (t, yaw, eye openness) of its face."""
    detector, mesh_model, _ = models
    frames = list(video_frames(LIVE_WEBCAM))
    detections = [detector.detect(image) for _, _, image in frames]
    sequence = []
    for (_, t, image), faces in zip(frames, detections):
        face = max(faces, key=lambda d: d.area, default=None)
        sequence.append((t, None, None) if face is None else
                        (t, head_yaw(face.landmarks), eye_openness(mesh_model.mesh(image, face))))
    return frames, detections, sequence


def play(session, sequence):
    """Feed a real sequence; return the statuses (prompts included) until the session finishes."""
    statuses = []
    for t, yaw, openness in sequence:
        statuses.append(session.update(t, yaw, openness))
        if statuses[-1].finished:
            break
    return statuses


# ---- landmarks ----

def test_face_mesh_lands_on_the_face(webcam, models):
    frames, detections, sequence = webcam
    mesh = models[1].mesh(frames[0][2], detections[0][0])
    x1, y1, x2, y2 = detections[0][0].box
    assert mesh.presence > 0.9
    inside = ((mesh.points[:, 0] > x1 - 20) & (mesh.points[:, 0] < x2 + 20)
              & (mesh.points[:, 1] > y1 - 40) & (mesh.points[:, 1] < y2 + 20))
    assert inside.mean() > 0.95
    frontal_openness = [o for _, yaw, o in sequence[:50] if yaw is not None]
    assert 0.15 < np.median(frontal_openness) < 0.35  # open eyes behind glasses


# ---- active challenge on the real head turns of the webcam clip ----
# The person turns so that the nose goes to the image's left first (frames ~103-131), then to the right
# (frames ~138-175). In an unmirrored image that is his right, then his left.

def test_turns_in_the_order_asked_pass(webcam):
    session = ChallengeSession((Action.TURN_RIGHT, Action.TURN_LEFT), step_time_s=10)
    statuses = play(session, webcam[2])
    assert statuses[-1].state is ChallengeState.PASSED
    prompts = [s.prompt for s in statuses if s.prompt]
    assert prompts[0] == "turn your head right" and prompts[-1] == "turn your head left"
    assert 9.0 < webcam[2][len(statuses) - 1][0] < 11.0  # passed during the second turn


def test_the_same_recording_fails_another_order(webcam):
    statuses = play(ChallengeSession((Action.TURN_LEFT, Action.TURN_RIGHT), step_time_s=10), webcam[2])
    assert statuses[-1].state is ChallengeState.FAILED
    assert "turned right when asked to turn your head left" in statuses[-1].reason


def test_mirrored_view_swaps_left_and_right(webcam):
    statuses = play(ChallengeSession((Action.TURN_LEFT, Action.TURN_RIGHT), step_time_s=10, mirrored=True), webcam[2])
    assert statuses[-1].state is ChallengeState.PASSED


def test_a_turn_too_late_times_out(webcam):
    statuses = play(ChallengeSession((Action.TURN_RIGHT,), step_time_s=3), webcam[2])
    assert statuses[-1].state is ChallengeState.TIMED_OUT
    assert "within 3 s" in statuses[-1].reason
    assert 3.0 < webcam[2][len(statuses) - 1][0] < 3.2


def test_open_eyes_of_a_real_face_are_no_blink(webcam):
    frontal = [s for s in webcam[2][:100] if s[1] is not None]  # the first ~6.5 s: he talks and waves, no blink
    statuses = play(ChallengeSession((Action.BLINK,), step_time_s=6), frontal)
    assert statuses[-1].state is ChallengeState.TIMED_OUT


def test_a_blink_in_a_real_sequence_passes(webcam):
    # The clips hold no blink, so two frames of this real sequence get their eyes closed to half
    # the measured openness (a real blink at 15 fps lasts 1-3 frames).
    sequence = [s for s in webcam[2][:60]]
    blinked = [(t, yaw, o * 0.5 if i in (30, 31) else o) for i, (t, yaw, o) in enumerate(sequence)]
    statuses = play(ChallengeSession((Action.BLINK,), step_time_s=6), blinked)
    assert statuses[-1].state is ChallengeState.PASSED
    assert len(statuses) == 33  # passed on the frame the eyes reopen


def test_slow_eye_closing_is_not_a_blink(webcam):
    # looking down closes the eyes for seconds (seen in the selfie clip around 15 s); a blink is quick
    sequence = [s for s in webcam[2][:90]]
    slow = [(t, yaw, o * 0.5 if 30 <= i < 45 else o) for i, (t, yaw, o) in enumerate(sequence)]
    statuses = play(ChallengeSession((Action.BLINK,), step_time_s=5.5), slow)
    assert statuses[-1].state is ChallengeState.TIMED_OUT


def test_losing_the_face_fails_the_challenge(webcam):
    sequence = list(webcam[2][:20]) + [(webcam[2][20][0] + k / 15, None, None) for k in range(20)]
    statuses = play(ChallengeSession((Action.TURN_LEFT,), step_time_s=10), sequence)
    assert statuses[-1].state is ChallengeState.FAILED and "left the camera's view" in statuses[-1].reason


def test_actions_come_in_random_order_and_never_ask_for_a_smile():
    orders = {random_actions(3, random.Random(seed)) for seed in range(30)}
    assert len(orders) >= 4
    assert all(sorted(a.value for a in order) == sorted(a.value for a in Action) for order in orders)
    assert not any("smile" in a.value for a in Action)


# ---- passive cues on the real clips ----

def test_live_webcam_clip_is_live(webcam, models):
    frames, detections, _ = webcam
    reports, _ = assess_frames(frames, ReplayDetector(detections), antispoof=models[2])
    assert len(reports) == 1 and reports[0].live
    assert np.mean(reports[0].frame_live) > 0.95


@pytest.fixture(scope="module")
def phone_clip(models):
    return assess_frames(video_frames(PHONE_REPLAY, every=2), *models[:2], antispoof=models[2])


def test_only_the_phone_face_is_a_spoof(phone_clip):
    # the person sits 150-180 px wide; the face on the phone's screen is about 100 px wide
    reports, _ = phone_clip
    people = [r for r in reports if r.mean_box[2] - r.mean_box[0] > 140]
    phones = [r for r in reports if r.mean_box[2] - r.mean_box[0] < 130]
    assert people and phones and len(people) + len(phones) == len(reports)
    assert all(r.live and np.mean(r.frame_live) > 0.9 for r in people)
    assert all(not r.live and np.mean(r.frame_live) < 0.1 for r in phones)
    assert all(any("straight border" in reason for reason in r.reasons) for r in phones)


def test_live_selfie_passes_and_screen_replay_is_rejected(models):
    live, _ = assess_frames(video_frames(LIVE_SELFIE, every=3), *models[:2], antispoof=models[2])
    replay, _ = assess_frames(video_frames(SCREEN_REPLAY, every=3), *models[:2], antispoof=models[2])
    assert len(live) == 1 and live[0].live
    assert len(replay) == 1 and not replay[0].live and np.mean(replay[0].frame_live) < 0.2


def test_a_frozen_face_is_noticed_but_cannot_decide_alone(webcam, models):
    frames, detections, _ = webcam
    image, face = frames[0][2], detections[0][0]
    passive = PassiveLiveness()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    mesh = models[1].mesh(image, face)
    verdicts = [passive.update(gray, face, mesh, k / 15) for k in range(40)]
    assert verdicts[-1].cues["frozen"] == 1.0
    assert combine([Cue("frozen", 1.0)]) < passive.threshold


def test_a_face_cut_by_the_image_border_is_not_judged_live(webcam, models):
    frames, detections, _ = webcam
    image, face = frames[0][2], detections[0][0]
    cut = np.ascontiguousarray(image[:, int(face.box[0] + 0.35 * face.width):])  # its left third out of view
    judge = lambda rgb: assess_frames([(0, 0.0, rgb)], models[0], None, STILL_POINT.threshold, min_frames=1,  # noqa: E731
                                      antispoof=models[2])[0]
    (whole,) = judge(image)
    (part,) = judge(cut)
    assert whole.live and whole.evidence["cut"] == [0.0]
    assert not part.live and part.evidence["cut"] == [1.0]
    assert any("cut by the image's border" in reason for reason in part.reasons)


def test_a_corner_under_the_face_raises_the_models_bar_and_a_line_alone_is_no_evidence(webcam):
    frames, detections, _ = webcam
    image, face = frames[0][2], detections[0][0]
    x1, y1, x2, y2 = face.box
    width = x2 - x1
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    below, thick = int(y2 + 0.3 * width), int(width / 15)  # under the chin, 2-3 px wide in the cue's view
    line = gray.copy()
    cv2.line(line, (int(x1 - width), below), (int(x2 + width), below), 255, thick)  # a desk's edge under the face
    corner = line.copy()
    cv2.line(corner, (int(x2 + width), below), (int(x2 + width), int(y1 - 0.5 * width)), 255, thick)  # and a side
    assert screen_frame_cue(gray, face).evidence == 0.0
    with_line = screen_frame_cue(line, face)
    assert with_line.evidence == 0.0 and "below" in with_line.reason
    assert screen_frame_cue(corner, face).evidence == 1.0
    # the corner alone is no spoof; a face the model only just passes alone is a spoof beside a corner
    assert combine([Cue("screen_frame", 1.0)]) < CAMERA_POINT.threshold
    just_live = Cue("model", CAMERA_POINT.threshold - 0.01)
    assert combine([just_live]) < CAMERA_POINT.threshold <= combine([just_live, Cue("screen_frame", 1.0)])


# ---- operating points ----

def test_the_camera_point_was_fitted_on_live_clips_only():
    camera = json.loads(POINTS_FILE.read_text(encoding="utf-8"))["camera"]
    assert camera["attack_data_used"] is False and camera["fitted_on"]
    for source in camera["fitted_on"]:
        clip = source.split(":")[0]
        assert "_live_" in clip
        if "replay" in clip:  # a live person beside a replay: his track only
            assert "the live person's track only" in source
    assert camera["command"].startswith("python bench/liveness.py") and "--fit" in camera["command"]
    held_out = [fold["held_out"] for fold in camera["details"]["leave_out"]]
    assert all(any(source.split(":")[0] in fold for fold in held_out) for source in camera["fitted_on"])
    assert LivenessSettings().threshold == CAMERA_POINT.threshold == DEFAULT_THRESHOLD


def test_the_still_point_was_fitted_on_single_frames_of_live_people_and_measured_on_web_photos():
    still = json.loads(POINTS_FILE.read_text(encoding="utf-8"))["still"]
    assert still["attack_data_used"] is False and still["fitted_on"]
    for source in still["fitted_on"]:
        clip = source.split(":")[0].split(",")[0]
        assert "_live_" in clip and "judged alone" in source
        if "replay" in clip:
            assert "the live person's track only" in source
    assert "LFW" in still["measured_on"] and not any("lfw" in source.lower() for source in still["fitted_on"])
    assert LivenessSettings().still_threshold == STILL_POINT.threshold


def test_the_points_are_told_with_their_origin_and_a_changed_threshold_is_flagged():
    text = describe_points(CAMERA_POINT.threshold, STILL_POINT.threshold)
    assert "APCER" in text and "BPCER" in text and "camera frames of live people" in text and "Yours" not in text
    assert "Yours is 0.70, which was not measured" in describe_points(0.7, STILL_POINT.threshold)


def test_a_saved_threshold_fitted_on_web_photos_gives_way_to_the_camera_point(tmp_path):
    saved = tmp_path / "settings.toml"
    saved.write_text("[liveness]\nthreshold = 0.96\n")
    assert load_settings(saved).liveness.threshold == CAMERA_POINT.threshold
    saved.write_text("[liveness]\nthreshold = 0.8\n")  # chosen by the user: kept
    assert load_settings(saved).liveness.threshold == 0.8


# ---- command line ----

def run_cli(*argv):
    from engine.cli import liveness

    parser = argparse.ArgumentParser()
    liveness.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["liveness", *map(str, argv)])
    return args.run(args)


def test_cli_exit_codes(tmp_path, capsys):
    phone_frame = next(video_frames(PHONE_REPLAY))[2]
    spoof_image = tmp_path / "phone.png"
    cv2.imwrite(str(spoof_image), cv2.cvtColor(phone_frame, cv2.COLOR_RGB2BGR))
    assert run_cli(spoof_image) == 1
    person, phone = capsys.readouterr().out.splitlines()
    assert ": live (" in person and f"threshold {STILL_POINT.threshold:.2f}" in person  # a still: the still point
    assert "SPOOF suspected" in phone and "a trained anti-spoofing model sees a screen or a print" in phone
    # crossed arms under Obama's face look like a border to the edge cue alone; the model outweighs it
    assert run_cli(FIXTURES / "faces" / "obama.jpg", FIXTURES / "faces" / "biden.jpg") == 0
    assert capsys.readouterr().out.count(": live (") == 2
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    assert run_cli(tmp_path / "broken.mp4") == 2
    assert run_cli(tmp_path / "missing.jpg") == 2


def test_settings_say_where_the_liveness_points_come_from(qtbot):
    from gui.app import Studio
    from gui.tabs.settings import SettingsTab

    studio = Studio(load_settings())
    tab = SettingsTab(studio)
    qtbot.addWidget(tab)
    shown = tab.liveness_points.text()
    assert f"Camera: spoof score ≥ {CAMERA_POINT.threshold:.2f}" in shown
    assert "fitted on camera frames of live people" in shown
    assert "Still photos:" in shown and "APCER" in shown and "BPCER" in shown
    tab.set_value("liveness.threshold", 0.7)
    assert "Yours is 0.70, which was not measured" in tab.liveness_points.text()
    studio.close()


def test_calibrate_prints_the_liveness_points(capsys):
    from engine.cli.training import print_liveness_points

    print_liveness_points()
    out = capsys.readouterr().out
    assert out.startswith("passive liveness: Camera: spoof score") and "Still photos:" in out and "BPCER" in out
