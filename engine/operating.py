"""Operating points: the distance at which a comparison becomes "this is the person".

verify (1:1) keeps the encoder's τ: one probe, one claimed person. identify (1:K) compares a stranger with all K
enrolled people, so a stranger is named when *any* of K comparisons passes. For a target false-positive
identification rate FPIR ("a stranger is named at most 1 time in N"), each comparison may pass an impostor at most

    FAR = 1 − (1 − FPIR)^(1/K)

and the identification threshold is the distance at which the impostor distances' CDF equals that FAR. It tightens
as the gallery grows, and it is never looser than τ.

Whose impostors? A door's strangers look like its enrolled people (one camera, one light): on ORL they sit 0.63
(dlib), 0.84 (dlib+facenet) and 1.30 (dlib+sface) LFW standard deviations closer than LFW's web photos, so a
threshold from LFW names strangers in a room. With at least
MIN_PEOPLE people enrolled, the impostor distances are the gallery's own (each enrolled shot against every other
person's reference, as `match.identify` compares a probe). A few hundred distances cannot show a tail at 1e-5, so
they give the location and scale, and the encoder's LFW impostor histogram (millions of pairs) gives the shape of
the tail. A mean of a few people's distances is uncertain, so it is taken CAUTION = 2 standard errors lower (a
one-sided 97.5 % bound on it): a gallery of 15 moves about 0.03, one of 1,000 0.004. With one standard error,
dlib+sface named 0.9-1.3 % of ORL's strangers at K = 10-20 for a target of 1 %, and dlib alone 1.0 % at K = 10
(bench/open_set.py). A smaller gallery falls back to the encoder's LFW curve moved closer by how much closer ORL's
room is for that encoder (ROOM_SHIFT, fitted on ORL: so ORL cannot test it) plus ROOM_MARGIN for rooms closer
still; an encoder never measured in a room gets UNKNOWN_SHIFT.

Misses (an enrolled person not recognised) come from the gallery's own repeat shots when at least MIN_PEOPLE people
have two or more, else from LFW's genuine pairs (web photos vary more than a door's camera: an upper bound).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .match import GalleryMatrix, distances
from .training.calibration import Calibration

MIN_PEOPLE = 10  # fewer: the gallery's location and scale vary by +-0.03 or more (ORL, bench/open_set.py)
# How much closer ORL's one-camera impostors sit than LFW's, in the encoder's LFW impostor standard deviations
# (the encoder's id before ":"), measured on all ORL pairs; a small gallery's fallback adds ROOM_MARGIN.
ROOM_SHIFT = {"dlib_resnet_v1": 0.63, "dlib+facenet": 0.84, "dlib+sface": 1.30}
ROOM_MARGIN = 0.7
UNKNOWN_SHIFT = 2.0
CAUTION = 2.0  # the gallery's mean impostor distance is taken this many standard errors (std / sqrt(people)) lower
SAMPLE = 1000  # at most this many people and shots enter the gallery's estimates (1e6 distances: a few 100 ms)
TAIL_PAIRS = 10  # below the FAR of this many LFW pairs the tail is extrapolated as a normal one


@dataclass(frozen=True)
class TailShape:
    """The standardised shape of an encoder's LFW impostor histogram (millions of pairs)."""

    calibration: Calibration
    mean: float
    std: float

    @classmethod
    def of(cls, calibration: Calibration) -> TailShape:
        centres = (calibration.edges[1:] + calibration.edges[:-1]) / 2
        weights = calibration.impostor / calibration.impostor.sum()
        mean = float(weights @ centres)
        return cls(calibration, mean, float(np.sqrt(weights @ (centres - mean) ** 2)))

    def quantile(self, far: float) -> float:
        """The standardised distance below which a fraction `far` of impostors lies; below the FAR of TAIL_PAIRS
        pairs the histogram cannot tell, and the tail goes on as a normal one from there."""
        floor = TAIL_PAIRS / self.calibration.impostor.sum()
        if far >= floor:
            return (self.calibration.tau_for_far(far) - self.mean) / self.std
        low, high = self.calibration.tau_for_far(floor), self.calibration.tau_for_far(10 * floor)
        normal = NormalDist()
        slope = (high - low) / (normal.inv_cdf(10 * floor) - normal.inv_cdf(floor))
        return (low + slope * (normal.inv_cdf(far) - normal.inv_cdf(floor)) - self.mean) / self.std

    def cdf(self, z: float) -> float:
        """The fraction of impostors at or below the standardised distance z."""
        return self.calibration.far(self.mean + self.std * z)


@dataclass(frozen=True)
class ImpostorCurve:
    """Impostor distances of one population: their mean and standard deviation, with the tail shape of the
    encoder's LFW impostors (a normal shape when the encoder has no LFW calibration)."""

    mean: float
    std: float
    shape: TailShape | None
    source: str

    def distance_at(self, far: float) -> float:
        """The distance below which a fraction `far` of impostor distances lies."""
        z = NormalDist().inv_cdf(far) if self.shape is None else self.shape.quantile(far)
        return self.mean + self.std * z

    def far_at(self, distance: float) -> float:
        """The fraction of impostor distances at or below `distance`."""
        z = (distance - self.mean) / self.std
        return NormalDist().cdf(z) if self.shape is None else self.shape.cdf(z)


@dataclass(frozen=True)
class IdentifyPoint:
    """The 1:K operating point for one gallery: its threshold, and what it means."""

    threshold: float
    tau: float  # the 1:1 threshold, which identification never exceeds
    people: int  # K
    target: int  # N of "a stranger is named at most 1 time in N"
    stranger_rate: float | None  # estimated FPIR at the threshold (None: no estimate)
    miss_rate: float | None  # estimated share of enrolled people not recognised (None: no estimate)
    impostors: str  # where the stranger estimate comes from
    genuine: str  # where the miss estimate comes from

    @property
    def from_gallery(self) -> bool:
        return self.people >= MIN_PEOPLE

    def summary(self) -> str:
        """What the point means, in sentences (Settings and `calibrate --gallery` show it)."""
        enrolled = f"With {self.people} {'person' if self.people == 1 else 'people'} enrolled"
        if self.people == 0:
            return (f"Nobody is enrolled yet: identification will name a stranger at most 1 time in {self.target}, "
                    f"with a threshold that tightens as people join (verify keeps τ {self.tau:.3f}).")
        if self.stranger_rate is None:
            return (f"{enrolled}, identification uses τ {self.tau:.3f}: this encoder has no impostor curve to "
                    f"estimate how often a stranger is named.")
        named = f"about 1 time in {_round_count(1 / self.stranger_rate)}" if self.stranger_rate > 0 else "almost never"
        bound = "at most about" if self.genuine.startswith("LFW") else "about"
        missed = "" if self.miss_rate is None else (
            f"; an enrolled person is missed {bound} {_percent(self.miss_rate)} ({self.genuine})")
        limit = (f"tighter than the 1:1 τ {self.tau:.3f}" if self.threshold < self.tau
                 else f"the 1:1 τ, already tighter than 1 in {self.target} needs")
        small = "" if self.from_gallery else (
            f" With fewer than {MIN_PEOPLE} people the gallery is too small to estimate its own strangers, so a "
            f"conservative curve is used.")
        grows = " The threshold tightens as the gallery grows." if self.threshold < self.tau else ""
        return (f"{enrolled}, a stranger is named {named}{missed}. Identification threshold "
                f"{self.threshold:.3f}, {limit}; strangers estimated from {self.impostors}.{small}{grows}")


def per_comparison_far(stranger_rate: float, people: int) -> float:
    """The FAR of one comparison that names a stranger with probability `stranger_rate` among `people`."""
    return float(-np.expm1(np.log1p(-stranger_rate) / max(people, 1)))


def identify_point(matrix: GalleryMatrix, tau: float, one_in: int, encoder_id: str) -> IdentifyPoint:
    """The threshold at which a stranger is named at most 1 time in `one_in` by this gallery (never above tau).
    Cost: one (shots x people) distance matrix, each side at most SAMPLE rows."""
    people = len(np.unique(matrix.owners)) if len(matrix.owners) else 0
    shape = lfw_shape(encoder_id)
    curve = gallery_curve(matrix, shape) if people >= MIN_PEOPLE else fallback_curve(shape, encoder_id)
    if curve is None:
        return IdentifyPoint(tau, tau, people, one_in, None, None, "nothing", "nothing")
    far = per_comparison_far(1 / one_in, people)
    threshold = float(min(tau, curve.distance_at(far)))
    stranger_rate = 1 - (1 - curve.far_at(threshold)) ** max(people, 1)
    misses, genuine = miss_rate(matrix, threshold, shape)
    return IdentifyPoint(threshold, tau, people, one_in, stranger_rate, misses, curve.source, genuine)


class IdentifyPoints:
    """identify_point() of the latest gallery matrix, computed again only when the matrix (a new object on every
    change of the gallery), tau, the target or the encoder changed: a frame or a settings change costs nothing."""

    def __init__(self):
        self._last: tuple[GalleryMatrix, tuple, IdentifyPoint] | None = None

    def of(self, matrix: GalleryMatrix, tau: float, one_in: int, encoder_id: str) -> IdentifyPoint:
        key = (tau, one_in, encoder_id)
        if self._last is None or self._last[0] is not matrix or self._last[1] != key:
            self._last = matrix, key, identify_point(matrix, *key)
        return self._last[2]


def gallery_curve(matrix: GalleryMatrix, shape: TailShape | None) -> ImpostorCurve:
    """Impostor distances of the gallery's own people: each shot against every other person's reference (the
    mean of their shots, as match.identify compares), at most SAMPLE shots and people, chosen the same every time."""
    references = matrix.per_person_means
    shots, owners = _sample(matrix.embeddings, matrix.owners)
    refs, ref_owners = _sample(references.embeddings, references.owners)
    impostors = distances(shots, refs)[owners[:, None] != ref_owners[None, :]]
    people = len(np.unique(matrix.owners))
    shaped = "shaped like LFW's impostors" if shape is not None else "with a normal tail"
    source = f"the {_round_count(len(impostors))} distances between your {people} enrolled people, {shaped}"
    mean, std = float(impostors.mean()), max(float(impostors.std()), 1e-6)  # identical distances: no spread
    return ImpostorCurve(mean - CAUTION * std / np.sqrt(people), std, shape, source)


def fallback_curve(shape: TailShape | None, encoder_id: str) -> ImpostorCurve | None:
    """The encoder's LFW impostor curve moved closer by its ROOM_SHIFT and ROOM_MARGIN (UNKNOWN_SHIFT when it was
    never measured in a room): a room's strangers are closer than web photos'. None without an LFW calibration."""
    if shape is None:
        return None
    measured = ROOM_SHIFT.get(encoder_id.partition(":")[0])
    shift = UNKNOWN_SHIFT if measured is None else measured + ROOM_MARGIN
    return ImpostorCurve(shape.mean - shift * shape.std, shape.std, shape,
                         f"LFW's impostors moved {shift:.2g} standard deviations closer, as a room's are")


def miss_rate(matrix: GalleryMatrix, threshold: float, shape: TailShape | None) -> tuple[float | None, str]:
    """The share of an enrolled person's shots farther than `threshold` from their reference, and its source:
    the gallery's repeat shots (each against the mean of the person's other shots) when MIN_PEOPLE people have
    two or more, else LFW's genuine pairs."""
    genuine = repeat_shot_distances(matrix)
    if genuine is not None:
        return float(np.mean(genuine > threshold)), f"{len(genuine)} repeat shots of your enrolled people"
    if shape is None:
        return None, "nothing"
    return shape.calibration.frr(threshold), (f"LFW's genuine pairs of web photos; a fixed camera misses fewer, and "
                                              f"two shots each of {MIN_PEOPLE} people measure it")


def repeat_shot_distances(matrix: GalleryMatrix) -> np.ndarray | None:
    """Each shot of a person with two or more shots (at most SAMPLE such people) against the re-normalised mean of
    their other shots; None when fewer than MIN_PEOPLE people have two or more shots."""
    counts = np.bincount(matrix.owners, minlength=len(matrix.names)) if len(matrix.owners) else np.zeros(0, int)
    repeated = np.flatnonzero(counts >= 2)
    if len(repeated) < MIN_PEOPLE:
        return None
    if len(repeated) > SAMPLE:
        repeated = np.sort(np.random.default_rng(0).choice(repeated, SAMPLE, replace=False))
    keep = np.isin(matrix.owners, repeated)
    owners, embeddings = matrix.owners[keep], matrix.embeddings[keep].astype(np.float64)
    sums = np.zeros((len(counts), embeddings.shape[1]))
    np.add.at(sums, owners, embeddings)
    others = sums[owners] - embeddings
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    return np.linalg.norm(embeddings - others, axis=1)


@functools.lru_cache(maxsize=8)
def lfw_shape(encoder_id: str) -> TailShape | None:
    """The tail shape of the encoder's shipped LFW calibration (resources/calibration), None when it has none."""
    calibration = Calibration.shipped_for(encoder_id)
    return None if calibration is None else TailShape.of(calibration)


def _sample(rows: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) <= SAMPLE:
        return rows, owners
    chosen = np.sort(np.random.default_rng(0).choice(len(rows), SAMPLE, replace=False))
    return rows[chosen], owners[chosen]


def _round_count(value: float) -> str:
    """1234.5 -> "1,200": two significant figures, as the estimate deserves."""
    if not np.isfinite(value):
        return "∞"
    digits = max(0, int(np.floor(np.log10(max(value, 1)))) - 1)
    return f"{round(value, -digits):,.0f}"


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f} %" if rate < 0.1 else f"{100 * rate:.0f} %"
