"""Is this a live person? Two layers: an active challenge (challenge.py) and passive cues (cues.py), the
faces of a stream followed one by one (tracks.py).

1. ChallengeSession: asks for a random sequence of actions (blink, turn the head left, turn it right)
   and checks them frame by frame from the head yaw (5 RetinaFace points) and the eye openness (FaceMesh).
   A recorded video of the owner does not know the order, and a wrong turn fails the challenge.
2. PassiveLiveness: signs of a screen or a print on every frame of one tracked face, each with a
   physical reason, combined into one spoof score in 0..1 (spoof at or above a threshold):
   - model: a trained anti-spoofing model (MiniFASNet, engine/faces/antispoof.py) sees a screen or a
     print in the face and its surroundings.
   - screen_frame: a corner of a frame under the face, a straight edge beneath it met by a straight side
     (a phone's or monitor's border). Behind a live person no straight line can pass under the chin:
     the neck and shoulders are in the way. It raises the model's bar; it cannot call a spoof alone.
   - frozen: the face has not moved at all for seconds; a live face always does a little.
   - cut: the face is cut by the image's border, so it cannot be judged live.
   LivenessMonitor tracks the faces of a stream by box overlap and keeps one PassiveLiveness per face.
   The thresholds are operating points per population (a camera's stream, a still image), fitted on live
   people only, with their provenance: engine/faces/liveness_points.py.

A spoof is a result (PassiveVerdict.live is False, with reasons in words), never an exception.
"""
from __future__ import annotations

from .challenge import Action, ChallengeSession, ChallengeState, ChallengeStatus, random_actions
from .cues import CUE_WEIGHTS, DEFAULT_THRESHOLD, Cue, PassiveLiveness, PassiveVerdict
from .tracks import LivenessMonitor, TrackedVerdict, TrackReport, assess_frames

__all__ = ["CUE_WEIGHTS", "DEFAULT_THRESHOLD", "Action", "ChallengeSession", "ChallengeState", "ChallengeStatus", "Cue",
           "LivenessMonitor", "PassiveLiveness", "PassiveVerdict", "TrackReport", "TrackedVerdict", "assess_frames",
           "random_actions"]
