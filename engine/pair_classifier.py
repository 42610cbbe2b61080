"""Verification as binary classification (DeepFace, Taigman et al. 2014): a logistic unit on features of a pair.

    P(same | f1, f2) = sigmoid(sum_k w_k phi_k(f1, f2) + b)      one weight per embedding value, and a bias

phi is either
  "abs"   |f1_k - f2_k|
  "chi2"  (u1_k - u2_k)^2 / (u1_k + u2_k) with u = (1 + f) / 2.
The chi-square distance is meant for non-negative histograms (DeepFace's features were ReLU outputs); our
embeddings are unit vectors whose components lie in [-1, 1], so f1_k + f2_k can be zero or negative and the
raw formula would divide by zero or flip sign. Shifting each component to u = (1 + f) / 2 in [0, 1] keeps every
term finite and non-negative and, unlike taking |f|, keeps the sign (|f| would call 0.1 and -0.1 identical).

Inference is plain numpy, so the engine can use a saved classifier without torch; fitting one is in
engine/training/pair_classifier.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = ("abs", "chi2")
# trained on LFW View-1 DevTrain pairs with the shipped encoder (`python main.py train-pairs`, README.md)
SHIPPED = Path(__file__).resolve().parent.parent / "resources" / "calibration" / "pair_classifier_lfw.npz"


def pair_features(f1: np.ndarray, f2: np.ndarray, kind: str) -> np.ndarray:
    """(N, D) x (N, D) -> (N, D) features of each pair (D: the embedding length, 128 or 640)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if kind == "abs":
        return np.abs(f1 - f2)
    if kind == "chi2":
        u1, u2 = (1 + f1) / 2, (1 + f2) / 2
        return (u1 - u2) ** 2 / np.maximum(u1 + u2, 1e-12)
    raise ValueError(f"pair features must be one of {', '.join(FEATURES)}, not {kind!r}")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))  # no overflow for large |z|


@dataclass(frozen=True)
class PairClassifier:
    weights: np.ndarray  # (D,)
    bias: float
    features: str
    encoder_id: str  # the encoder whose embeddings it was trained on; others must not be scored

    def probability(self, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
        """P(same person) for each pair of rows (or for one pair of vectors)."""
        single = np.ndim(f1) == 1
        p = sigmoid(pair_features(np.atleast_2d(f1), np.atleast_2d(f2), self.features) @ self.weights + self.bias)
        return p[0] if single else p

    def same(self, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
        return self.probability(f1, f2) >= 0.5

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, weights=self.weights, bias=self.bias, features=self.features, encoder_id=self.encoder_id)

    @classmethod
    def load(cls, path: Path, encoder_id: str | None = None) -> "PairClassifier":
        """The classifier in `path`; with encoder_id, refuses one trained on another encoder's embeddings."""
        from .errors import EncoderMismatch

        with np.load(path) as data:
            loaded = cls(data["weights"], float(data["bias"]), str(data["features"]), str(data["encoder_id"]))
        if encoder_id is not None and loaded.encoder_id != encoder_id:
            raise EncoderMismatch(f"The pair classifier {path} was trained on the encoder {loaded.encoder_id}, "
                                  f"not {encoder_id}: train it again with `python main.py train-pairs`.")
        return loaded


def default_path(encoder_id: str) -> Path:
    """Where `train-pairs` keeps the user's classifier for this encoder's embeddings."""
    from .config import data_dir

    return data_dir() / f"pair_classifier-{encoder_id.replace(':', '_')}.npz"


def shipped_path(encoder_id: str) -> Path:
    """The shipped classifier trained on this encoder's embeddings (the dlib one when none is)."""
    for path in sorted(SHIPPED.parent.glob("pair_classifier_lfw*.npz")):
        with np.load(path) as data:
            if str(data["encoder_id"]) == encoder_id:
                return path
    return SHIPPED


def pair_classifier_for(decision: str, encoder_id: str) -> PairClassifier | None:
    """The classifier that decides when the settings' decision is "classifier", else None (d <= tau decides)."""
    return load_pair_classifier(encoder_id) if decision == "classifier" else None


def load_pair_classifier(encoder_id: str) -> PairClassifier:
    """The user's own classifier (from `train-pairs`) if there is one, else the shipped one of this encoder
    (resources/calibration/pair_classifier_lfw*.npz); either must have been trained on this encoder's
    embeddings. Raises ModelUnavailable or EncoderMismatch with the reason."""
    from .errors import ModelUnavailable

    path = default_path(encoder_id) if default_path(encoder_id).exists() else shipped_path(encoder_id)
    try:
        return PairClassifier.load(path, encoder_id)
    except (OSError, KeyError, ValueError) as error:
        raise ModelUnavailable(f"The pair classifier {path} cannot be read ({error}); "
                               "run `python main.py train-pairs` to make a new one.") from error
