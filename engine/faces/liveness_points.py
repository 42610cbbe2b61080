"""The operating points of passive liveness, one per population of live people, each with where it came from.

A camera's live view and a still photo are different questions: a camera frame of a live person at a door is not
a photo found on the web, and the model scores them differently. resources/calibration/liveness.json holds one
point per population, written by `python bench/liveness.py --fit` with its provenance (what it was fitted on, how,
the command) and what it measured. Only the standard library here, outside the liveness package (which loads
OpenCV and the models): engine.config reads the defaults at import.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

POINTS_FILE = Path(__file__).resolve().parents[2] / "resources" / "calibration" / "liveness.json"
POPULATIONS = ("camera", "still")


@dataclass(frozen=True)
class OperatingPoint:
    """A spoof-score threshold (a face scoring this or more is a suspected spoof) and its provenance."""

    population: str  # "camera": faces followed through a stream; "still": a face judged on one image
    threshold: float
    bona_fide: str  # who the live people it was fitted on are, in words
    fitted_on: tuple[str, ...]  # the files (clips, image lists) whose live faces fixed it
    attack_data_used: bool  # always False: a point is fixed on live faces only
    method: str
    command: str
    apcer: float  # share of attacks accepted at this point, measured on `measured_on`
    bpcer: float  # share of live faces rejected at this point, measured on `measured_on`
    measured_on: str

    def describe(self) -> str:
        """One line for the user: the point, where it comes from, and what it measured."""
        return (f"spoof score ≥ {self.threshold:.2f} is a suspected spoof; fitted on {self.bona_fide} "
                f"({self.method}); measured APCER {100 * self.apcer:.0f} %, BPCER {100 * self.bpcer:.0f} % "
                f"on {self.measured_on}")


def load_points(path: Path = POINTS_FILE) -> dict[str, OperatingPoint]:
    """Population -> OperatingPoint from the calibration file (both populations must be there)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    points = {}
    for population in POPULATIONS:
        entry = dict(data[population])
        entry.pop("details", None)  # the fit's working (leave-one-clip-out bars, ROC): for people, not the engine
        entry["fitted_on"] = tuple(entry["fitted_on"])
        points[population] = OperatingPoint(population=population, **entry)
    return points


POINTS = load_points()
CAMERA_POINT, STILL_POINT = POINTS["camera"], POINTS["still"]


def describe_points(camera_threshold: float, still_threshold: float) -> str:
    """What the shipped points mean, for Settings and `calibrate`; says where a user's threshold is not one of them."""
    lines = []
    for title, point, threshold in (("Camera", CAMERA_POINT, camera_threshold),
                                    ("Still photos", STILL_POINT, still_threshold)):
        yours = "" if abs(threshold - point.threshold) < 5e-5 else \
            f" Yours is {threshold:.2f}, which was not measured."
        lines.append(f"{title}: {point.describe()}.{yours}")
    return "\n".join(lines)
