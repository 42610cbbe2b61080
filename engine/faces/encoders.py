"""The encoder registry: which encoders ship, what each gives and costs, and how a setting's value opens one.

Settings › Recognition › encoder is one of SHIPPED_ENCODERS or the path of an .onnx made by
`python main.py train`; "" is dlib (the setting's value before FaceNet shipped: existing users keep their gallery).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .encode import EMBEDDING_SIZE, FaceEncoder
from .fusion import FUSIONS, FusedEncoder, fused_id
from .sface import SFaceEncoder


@dataclass(frozen=True)
class EncoderFacts:
    """What a shipped encoder gives on LFW View-1 (bench/lfw.py --encoder NAME: tau of best accuracy on the
    DevTrain pairs, accuracy and TAR at FAR 1e-3 on the DevTest pairs) and costs (bench/speed.py, ms per face
    on one core of the development machine)."""

    tau: float
    accuracy: float
    tar: float
    ms_per_face: float

    def __str__(self) -> str:
        return f"LFW {self.accuracy:.2f} %, TAR {self.tar:.1f} % at FAR 1e-3, {self.ms_per_face:.0f} ms per face"


ENCODER_FACTS = {
    "dlib+sface": EncoderFacts(0.9306, 99.40, 99.0, 20.8),
    "sface": EncoderFacts(1.1419, 99.20, 98.6, 13.5),
    "dlib+facenet": EncoderFacts(0.6465, 99.20, 97.2, 16.0),
    "dlib": EncoderFacts(0.42, 98.60, 95.4, 6.0),
    "facenet": EncoderFacts(1.1483, 98.90, 96.4, 9.5),
}
SHIPPED_ENCODERS = tuple(ENCODER_FACTS)
DEFAULT_ENCODER = "dlib+sface"  # Settings' default (engine/config.py)
EARLIER_DEFAULTS = ("dlib+facenet", "dlib")  # newest first: a user without a settings file keeps the gallery they have


def with_encoder(settings, name: str):
    """Settings that use another encoder, with that encoder's own tau when it is a shipped one (distances of
    different encoders live on different scales)."""
    settings = settings.with_value("recognition.encoder", name)
    facts = ENCODER_FACTS.get(name or "dlib")
    return settings.with_value("recognition.tau", facts.tau) if facts else settings


def open_encoder(name: str = "", use_gpu: bool = True):
    """The encoder a setting names (see SHIPPED_ENCODERS); raises ModelUnavailable when it cannot be loaded."""
    if name in ("", "dlib"):
        return FaceEncoder(use_gpu=use_gpu)
    if name == "sface":
        return SFaceEncoder(use_gpu=use_gpu)
    if name in FUSIONS:
        return FusedEncoder(name, use_gpu)
    return FaceEncoder(Path(name), use_gpu)


def embedding_size(encoder_id: str) -> int:
    """The length of the vectors of the encoder with this id (trained encoders make 128 values, like dlib's)."""
    fusion = FUSIONS.get(encoder_id.partition(":")[0])
    return fusion.size if fusion else EMBEDDING_SIZE


def encoder_id(name: str = "") -> str:
    """The id of the encoder a setting names, without loading it: galleries and calibrations are keyed by it."""
    if name in ("", "dlib"):
        return FaceEncoder.model_id()
    if name == "sface":
        return SFaceEncoder.model_id()
    if name in FUSIONS:
        return fused_id(name)
    return FaceEncoder.model_id(Path(name))


def stronger_encoder(name: str) -> str | None:
    """A sentence saying how to move to the default encoder when the shipped encoder `name` is less accurate;
    None when `name` is the default, at least as accurate, or an encoder of the user's own."""
    facts, best = ENCODER_FACTS.get(name or "dlib"), ENCODER_FACTS[DEFAULT_ENCODER]
    if facts is None or facts.accuracy >= best.accuracy:
        return None
    return (f"A more accurate encoder ships with Likeness: {DEFAULT_ENCODER} ({best}). "
            "`python main.py gallery reencode` moves everyone to it, into a new gallery (this one is kept).")
