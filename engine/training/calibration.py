"""Threshold maths for verification: accuracy-optimal tau, ROC, TAR at a target FAR, AUC.

Distances of genuine pairs (same person) and impostor pairs (different people) go in; a pair is
accepted as "same" when its distance is at most tau.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


SHIPPED_CALIBRATION = Path(__file__).resolve().parent.parent.parent / "resources" / "calibration" / "lfw_devtrain.npz"
PRESET_FARS = {"Fast": 1e-2, "Balanced": 1e-3, "Secure": 1e-4}


@dataclass(frozen=True)
class Calibration:
    """Genuine and impostor distance histograms of one encoder on a labelled set of faces.

    Compact (a few kB) and enough to answer "what false-accept rate does this tau give?".
    """

    edges: np.ndarray  # (bins + 1,) distance bin edges
    genuine: np.ndarray  # (bins,) counts of same-person pairs
    impostor: np.ndarray  # (bins,) counts of different-person pairs
    encoder_id: str
    source: str

    @classmethod
    def from_embeddings(cls, embeddings: np.ndarray, labels: np.ndarray, encoder_id: str, source: str,
                        bins: int = 4000) -> "Calibration":
        """Every pair of the given faces: same label -> genuine, different label -> impostor."""
        edges = np.linspace(0.0, 2.0, bins + 1)  # unit vectors are at most 2 apart
        genuine, impostor = np.zeros(bins, np.int64), np.zeros(bins, np.int64)
        for start in range(0, len(embeddings), 512):  # blocks keep memory flat for large sets
            block = embeddings[start:start + 512]
            d = np.sqrt(np.clip(2 - 2 * block @ embeddings.T, 0, None))
            later = np.arange(len(embeddings))[None, :] > np.arange(start, start + len(block))[:, None]
            same = labels[start:start + len(block), None] == labels[None, :]
            genuine += np.histogram(d[later & same], edges)[0]
            impostor += np.histogram(d[later & ~same], edges)[0]
        return cls(edges, genuine, impostor, encoder_id, source)

    @classmethod
    def from_distances(cls, genuine: np.ndarray, impostor: np.ndarray, encoder_id: str, source: str,
                       bins: int = 4000) -> "Calibration":
        """From the distances of genuine and impostor pairs measured elsewhere."""
        edges = np.linspace(0.0, 2.0, bins + 1)
        return cls(edges, np.histogram(genuine, edges)[0], np.histogram(impostor, edges)[0], encoder_id, source)

    def far(self, tau: float) -> float:
        """Fraction of impostor pairs at distance <= tau (resolution: one bin)."""
        return float(self.impostor[: np.searchsorted(self.edges, tau, side="right") - 1].sum() / self.impostor.sum())

    def frr(self, tau: float) -> float:
        """Fraction of genuine pairs at distance > tau."""
        return float(1 - self.genuine[: np.searchsorted(self.edges, tau, side="right") - 1].sum() / self.genuine.sum())

    def tau_for_far(self, target_far: float) -> float:
        """Largest bin edge whose false-accept rate is at most target_far."""
        accepted = np.concatenate([[0], np.cumsum(self.impostor)]) / self.impostor.sum()
        return float(self.edges[np.searchsorted(accepted, target_far, side="right") - 1])

    def curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tau, FAR, FRR) at every bin edge: what each tau would accept and reject."""
        impostors_accepted = np.concatenate([[0], np.cumsum(self.impostor)]) / self.impostor.sum()
        genuine_accepted = np.concatenate([[0], np.cumsum(self.genuine)]) / self.genuine.sum()
        return self.edges, impostors_accepted, 1 - genuine_accepted

    def tau_range(self) -> tuple[float, float]:
        """The taus whose rates were measured: from the first genuine pair accepted (below it everyone is
        rejected) to the last impostor pair accepted (above it everyone is accepted)."""
        tau, far, frr = self.curves()
        return float(tau[np.argmax(frr < 1)]), float(tau[np.argmax(far >= 1)])

    def presets(self) -> dict[str, float]:
        return {name: self.tau_for_far(far) for name, far in PRESET_FARS.items()}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, edges=self.edges, genuine=self.genuine, impostor=self.impostor,
                            encoder_id=self.encoder_id, source=self.source)

    @classmethod
    def load(cls, path: Path = SHIPPED_CALIBRATION) -> "Calibration":
        with np.load(path) as data:
            return cls(data["edges"], data["genuine"], data["impostor"], str(data["encoder_id"]), str(data["source"]))

    @classmethod
    def for_encoder(cls, encoder_id: str) -> "Calibration | None":
        """The user's own calibration of this encoder (`python main.py calibrate`) if there is one, else the
        shipped LFW one measured on this encoder (resources/calibration/lfw_devtrain*.npz), else None."""
        path = user_calibration_path(encoder_id)
        if path.exists() and (calibration := cls.load(path)).encoder_id == encoder_id:
            return calibration
        return cls.shipped_for(encoder_id)

    @classmethod
    def shipped_for(cls, encoder_id: str) -> "Calibration | None":
        """The shipped LFW calibration measured on the encoder with this id (each file says its encoder), or None."""
        for path in sorted(SHIPPED_CALIBRATION.parent.glob("lfw_devtrain*.npz")):
            calibration = cls.load(path)
            if calibration.encoder_id == encoder_id:
                return calibration
        return None


def user_calibration_path(encoder_id: str) -> Path:
    from ..config import data_dir

    return data_dir() / "calibration" / f"{encoder_id.replace(':', '_')}.npz"


def plot_calibration(genuine, impostor, tau: float, far: float, path: Path) -> None:
    """Three panels: distance histograms, ROC (log FAR), FAR and FRR against tau."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = roc(genuine, impostor)
    fig, (hist, roc_ax, rates) = plt.subplots(1, 3, figsize=(14, 4))
    bins = np.linspace(0, max(genuine.max(), impostor.max()) * 1.02, 80)
    hist.hist(genuine, bins, alpha=0.6, density=True, label=f"same person ({len(genuine)})")
    hist.hist(impostor, bins, alpha=0.6, density=True, label=f"different people ({len(impostor)})")
    hist.axvline(tau, color="k", ls="--", label=f"tau={tau:.3f}")
    hist.set(xlabel="embedding distance", ylabel="density", title="distances")
    hist.legend()
    floor = 0.5 / len(impostor)
    roc_ax.semilogx(np.maximum(curve.far, floor), curve.tar)
    roc_ax.axvline(max(far, floor), color="k", ls="--", label=f"FAR {far:g}")
    roc_ax.set(xlabel="false accept rate", ylabel="true accept rate", title=f"ROC (AUC {curve.auc:.4f})")
    roc_ax.legend()
    roc_ax.grid(True, which="both", alpha=0.3)
    rates.semilogy(curve.thresholds, np.maximum(curve.far, floor), label="FAR")
    rates.semilogy(curve.thresholds, np.maximum(1 - curve.tar, 0.5 / len(genuine)), label="FRR")
    rates.axvline(tau, color="k", ls="--", label=f"tau={tau:.3f}")
    rates.set(xlabel="tau", ylabel="rate", title="FAR and FRR against tau")
    rates.legend()
    rates.grid(True, which="both", alpha=0.3)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)

