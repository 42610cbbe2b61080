"""Training an encoder with triplet loss: fine-tune the shipped network or train the small ConvNet from scratch.

Modes:
  full        every weight of the shipped dlib ResNet moves;
  last-block  only its last residual block and the 256 -> 128 projection move; the frozen part is run once per
              chip (and its mirror image) and cached, so an epoch costs a small fraction of a full pass;
  small       SmallFaceNet from random weights.

An epoch is a fixed number of P x K batches. After each epoch the held-out people (never trained on) are
embedded and every pair of them scored; training keeps the weights with the best TAR at FAR 1 % (ties, common
when a good encoder already separates them all, go to the larger d', the gap between genuine and impostor
distances in standard deviations) and stops when that has not improved for `patience` epochs. Epoch 0 is the
starting point, so fine-tuning can only return weights that do at least as well as the shipped ones on the
held-out people. Runs on CUDA when present.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, cast

import numpy as np
import torch
import torch.nn.functional as F

from .calibration import roc, tar_at_far
from .datasets import FaceSet
from .dlib_resnet import DlibResNet
from .small_net import SmallFaceNet
from .triplet import MINING, batch_triplet_loss, pk_batches

MODES = ("last-block", "full", "small")
VALIDATION_FAR = 1e-2


@dataclass(frozen=True)
class TrainConfig:
    mode: str = "last-block"
    margin: float = 0.2
    mining: str = "batch-hard"
    people_per_batch: int = 16
    shots_per_person: int = 4
    steps_per_epoch: int = 50
    epochs: int = 20
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    patience: int = 3
    flip: bool = True  # mirror half the chips of each batch at random
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mining not in MINING:
            raise ValueError(f"mining must be one of {', '.join(MINING)}, not {self.mining!r}")


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    loss: float  # mean L per mined triplet over the epoch (0 for epoch 0)
    active_fraction: float  # triplets with L > 0
    held_out_tar: float  # TAR at FAR 1 % over every pair of held-out faces
    held_out_auc: float
    held_out_dprime: float  # (mean impostor - mean genuine distance) / pooled std: breaks ties when TAR saturates
    seconds: float

    @property
    def score(self) -> tuple[float, float]:
        return self.held_out_tar, self.held_out_dprime


@dataclass
class TrainResult:
    model: torch.nn.Module  # best weights, uint8 chips (N, 150, 150, 3) -> raw 128-D
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0


# ----- the network being trained, and the inputs it is fed -----

def _dlib_stem(model: DlibResNet, chips: torch.Tensor) -> torch.Tensor:
    """Everything before the last residual block: (N, 256, 3, 3)."""
    x = (chips.permute(0, 3, 1, 2).float() - model.mean) / 256.0
    x = F.max_pool2d(F.relu(model.affine(model.conv(x))), 3, 2)
    return model.blocks[:-1](x)


def _dlib_head(model: DlibResNet, stem: torch.Tensor) -> torch.Tensor:
    return model.fc(model.blocks[-1](stem).mean(dim=(2, 3)))


class TrainableEncoder:
    """The module being trained plus how a batch reaches it (raw chips, or cached stem features)."""

    def __init__(self, mode: str, base_model: Path | None = None, model: torch.nn.Module | None = None,
                 device: torch.device | None = None):
        from ..runtime import torch_device

        self.mode = mode
        self.device = device or torch_device()
        if model is not None:
            self.model = model
        elif mode == "small":
            self.model = SmallFaceNet()
        else:
            from ..faces.encode import MODEL_FILE
            from ..runtime import model_path

            self.model = DlibResNet.from_onnx(base_model or model_path(MODEL_FILE))
        self.model.to(self.device)
        self._stem_cache: dict[bytes, torch.Tensor] = {}
        if mode == "last-block":
            for name, parameter in self.model.named_parameters():
                parameter.requires_grad = name.startswith((f"blocks.{len(cast(DlibResNet, self.model).blocks) - 1}.", "fc."))

    def parameters(self):
        return [p for p in self.model.parameters() if p.requires_grad]

    def inputs(self, chips: np.ndarray, mirrored: bool = True) -> "Inputs":
        """What the trainable part takes for each chip; in last-block mode the frozen stem's output, computed
        once per distinct chip (and its mirror image when `mirrored`) and remembered."""
        if self.mode != "last-block":
            return Inputs(torch.from_numpy(chips), None, flip_dim=2)
        plain = self._stems(chips)
        return Inputs(plain, self._stems(np.ascontiguousarray(chips[:, :, ::-1])) if mirrored else None, flip_dim=None)

    def _stems(self, chips: np.ndarray, batch: int = 64) -> torch.Tensor:
        keys = [hashlib.sha1(chip.tobytes()).digest() for chip in chips]
        todo = sorted({i for i, key in enumerate(keys) if key not in self._stem_cache})
        with torch.no_grad():
            for start in range(0, len(todo), batch):
                index = todo[start:start + batch]
                stems = _dlib_stem(cast(DlibResNet, self.model), torch.from_numpy(chips[index]).to(self.device)).cpu()
                for i, stem in zip(index, stems):
                    self._stem_cache[keys[i]] = stem
        return torch.stack([self._stem_cache[key] for key in keys]) if keys else torch.zeros(0, 256, 3, 3)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (FaceNet constrains f(x) to the hypersphere; alpha is set on that scale)."""
        x = x.to(self.device)
        raw = _dlib_head(cast(DlibResNet, self.model), x) if self.mode == "last-block" else self.model(x)
        return F.normalize(raw, dim=1)


@dataclass
class Inputs:
    """What the trainable part of the network takes, for every chip, with a way to get mirrored versions."""

    plain: torch.Tensor
    mirrored: torch.Tensor | None  # precomputed (cached stems) or None: flip the chips on the fly
    flip_dim: int | None

    def __len__(self) -> int:
        return len(self.plain)

    def batch(self, index: np.ndarray, flip: np.ndarray | None = None) -> torch.Tensor:
        x = self.plain[index]
        if flip is None or not flip.any():
            return x
        if self.flip_dim is None and self.mirrored is None:
            raise ValueError("These inputs were prepared without their mirror images.")
        flip_t = torch.from_numpy(flip)
        if self.mirrored is not None:
            return torch.where(flip_t[:, None, None, None], self.mirrored[index], x)
        assert self.flip_dim is not None  # checked above
        x = x.clone()
        x[flip_t] = x[flip_t].flip(self.flip_dim)
        return x


# ----- evaluation on held-out people -----

def embed_all(encoder: TrainableEncoder, inputs: Inputs, batch: int = 128) -> np.ndarray:
    encoder.model.eval()
    with torch.no_grad():
        out = [encoder.embed(inputs.batch(np.arange(i, min(i + batch, len(inputs))))) for i in range(0, len(inputs), batch)]
    return torch.cat(out).cpu().numpy()


def all_pair_distances(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) distances over every unordered pair of faces."""
    first, second = np.triu_indices(len(labels), k=1)
    d = np.sqrt(np.clip(2 - 2 * np.sum(embeddings[first] * embeddings[second], axis=1), 0, None))
    same = labels[first] == labels[second]
    return d[same], d[~same]


def decidability(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Daugman's d': how far apart the two distance distributions are, in pooled standard deviations."""
    return float((impostor.mean() - genuine.mean()) / np.sqrt((genuine.var() + impostor.var()) / 2 + 1e-12))


def held_out_scores(embeddings: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(TAR at FAR 1 %, AUC, d') over every pair of these faces."""
    genuine, impostor = all_pair_distances(embeddings, labels)
    return tar_at_far(genuine, impostor, VALIDATION_FAR), roc(genuine, impostor).auc, decidability(genuine, impostor)


# ----- the loop -----

def train(train_set: FaceSet, held_out: FaceSet, config: TrainConfig, encoder: TrainableEncoder | None = None,
          checkpoint: Path | None = None, on_step: Callable[[int, int, float], None] | None = None,
          on_epoch: Callable[[EpochLog], None] | None = None) -> TrainResult:
    """Train with triplet loss; with `checkpoint`, save after every epoch and resume from it if it exists."""
    encoder = encoder or TrainableEncoder(config.mode)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    train_inputs, held_inputs = encoder.inputs(train_set.chips, config.flip), encoder.inputs(held_out.chips, False)
    state = _resume(checkpoint, encoder, optimizer, config)
    if state is None:
        scores = held_out_scores(embed_all(encoder, held_inputs), held_out.labels)
        state = {"history": [EpochLog(0, 0.0, 0.0, *scores, 0.0)], "best": copy.deepcopy(encoder.model.state_dict()),
                 "best_epoch": 0}
        if on_epoch:
            on_epoch(state["history"][0])
    history = state["history"]
    labels = torch.from_numpy(train_set.labels)
    generator = torch.Generator().manual_seed(config.seed)
    while len(history) <= config.epochs and len(history) - 1 - state["best_epoch"] < config.patience:
        epoch = len(history)
        rng = np.random.default_rng([config.seed, epoch])  # the same batches whether resumed or not
        start, losses, triplets, active = time.monotonic(), 0.0, 0, 0
        encoder.model.train()
        batches = pk_batches(train_set.labels, config.people_per_batch, config.shots_per_person, config.steps_per_epoch, rng)
        for step, index in enumerate(batches, 1):
            flip = rng.random(len(index)) < 0.5 if config.flip else None
            embeddings = encoder.embed(train_inputs.batch(index, flip))
            loss = batch_triplet_loss(embeddings, labels[index].to(encoder.device), config.margin, config.mining, generator)
            optimizer.zero_grad()
            loss.total.backward()
            optimizer.step()
            losses, triplets, active = losses + float(loss.total.detach()), triplets + loss.triplets, active + loss.active
            if on_step:
                on_step(step, config.steps_per_epoch, losses / max(triplets, 1))
        scores = held_out_scores(embed_all(encoder, held_inputs), held_out.labels)
        log = EpochLog(epoch, losses / max(triplets, 1), active / max(triplets, 1), *scores, time.monotonic() - start)
        history.append(log)
        if log.score > history[state["best_epoch"]].score:
            state["best"], state["best_epoch"] = copy.deepcopy(encoder.model.state_dict()), epoch
        if on_epoch:
            on_epoch(log)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, encoder, optimizer, config, state)
    encoder.model.load_state_dict(state["best"])
    return TrainResult(encoder.model.eval(), history, state["best_epoch"])


def _save_checkpoint(path: Path, encoder, optimizer, config: TrainConfig, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_suffix(".tmp")
    torch.save({"config": asdict(config), "model": encoder.model.state_dict(), "optimizer": optimizer.state_dict(),
                "best": state["best"], "best_epoch": state["best_epoch"],
                "history": [asdict(h) for h in state["history"]]}, draft)
    draft.replace(path)  # a crash mid-save leaves the previous checkpoint whole


def _resume(path: Path | None, encoder, optimizer, config: TrainConfig) -> dict | None:
    if path is None or not path.exists():
        return None
    saved = torch.load(path, map_location=encoder.device, weights_only=False)
    if saved["config"]["mode"] != config.mode:
        raise ValueError(f"The checkpoint {path} trains mode {saved['config']['mode']}, not {config.mode}.")
    encoder.model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    return {"history": [EpochLog(**h) for h in saved["history"]], "best": saved["best"], "best_epoch": saved["best_epoch"]}


# ----- export -----

def export_encoder(model: torch.nn.Module, out: Path, info: dict | None = None) -> str:
    """Write the model as ONNX (input "chips" uint8 (N, 150, 150, 3), output "descriptors" (N, 128)), the
    format FaceEncoder loads, check ONNX Runtime agrees with torch, and return the encoder id it will carry."""
    import onnxruntime as ort

    from ..faces.encode import FaceEncoder
    from .dlib_resnet import export_onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    draft = out.with_name(out.stem + ".draft.onnx")
    model = model.cpu().eval()
    export_onnx(model, draft)
    chips = np.random.default_rng(0).integers(0, 256, (4, 150, 150, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.from_numpy(chips)).numpy()
    session = ort.InferenceSession(str(draft), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"chips": chips})
    if not np.allclose(got, expected, atol=1e-4):
        draft.unlink()
        raise RuntimeError(f"The exported encoder disagrees with torch by {np.abs(got - expected).max():.2e}.")
    draft.replace(out)
    encoder_id = FaceEncoder.model_id(out)
    out.with_suffix(".json").write_text(json.dumps({"id": encoder_id, **(info or {})}, indent=2))
    return encoder_id


def default_learning_rate(mode: str) -> float:
    return 1e-3 if mode == "small" else 1e-4


def config_for(mode: str, **overrides) -> TrainConfig:
    return replace(TrainConfig(mode=mode, learning_rate=default_learning_rate(mode)), **overrides)
