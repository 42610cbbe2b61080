"""Threshold maths for verification: accuracy-optimal tau, ROC, TAR at a target FAR, AUC.

Distances of genuine pairs (same person) and impostor pairs (different people) go in; a pair is
accepted as "same" when its distance is at most tau.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Roc:
    thresholds: np.ndarray  # increasing
    far: np.ndarray  # impostor pairs accepted, per threshold
    tar: np.ndarray  # genuine pairs accepted, per threshold

    @property
    def auc(self) -> float:
        far = np.concatenate([[0.0], self.far, [1.0]])
        tar = np.concatenate([[0.0], self.tar, [1.0]])
        return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))


def roc(genuine: np.ndarray, impostor: np.ndarray) -> Roc:
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    tar = np.searchsorted(np.sort(genuine), thresholds, side="right") / len(genuine)
    far = np.searchsorted(np.sort(impostor), thresholds, side="right") / len(impostor)
    return Roc(thresholds, far, tar)


def accuracy(genuine: np.ndarray, impostor: np.ndarray, tau: float) -> float:
    correct = np.sum(genuine <= tau) + np.sum(impostor > tau)
    return float(correct / (len(genuine) + len(impostor)))


def best_accuracy_threshold(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """The tau of highest accuracy; midway between neighbouring distances so it generalises."""
    curve = roc(genuine, impostor)
    correct = curve.tar * len(genuine) + (1 - curve.far) * len(impostor)
    best = int(np.argmax(correct))
    upper = curve.thresholds[best + 1] if best + 1 < len(curve.thresholds) else curve.thresholds[best]
    return float((curve.thresholds[best] + upper) / 2)


def threshold_at_far(impostor: np.ndarray, target_far: float) -> float:
    """Largest tau whose false-accept rate on these impostor pairs is at most target_far."""
    impostor = np.sort(impostor)
    allowed = int(np.floor(target_far * len(impostor)))
    if allowed >= len(impostor):
        return float(impostor[-1])
    return float(np.nextafter(impostor[allowed], -np.inf))


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, target_far: float) -> float:
    return float(np.mean(genuine <= threshold_at_far(impostor, target_far)))
