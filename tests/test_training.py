"""Triplet loss and mining, training on real face chips, the pair classifier, calibrate's tau."""
from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.training.calibration import threshold_at_far
from engine.training.datasets import FaceSet
from engine.pair_classifier import PairClassifier, pair_features
from engine.training.pair_classifier import fit_pair_classifier
from engine.training.small_net import SmallFaceNet
from engine.training.train import TrainableEncoder, all_pair_distances, config_for, train
from engine.training.triplet import (
    batch_hard_triplets, batch_triplet_loss, pk_batches, random_triplets, semi_hard_triplets, squared_distances,
    triplet_losses,
)

FIXTURES = Path(__file__).parent / "fixtures" / "training"


@pytest.fixture(scope="module")
def faces() -> FaceSet:
    """48 real aligned chips: 12 LFW people x 4 photos."""
    files = sorted(FIXTURES.glob("*.jpg"))
    people = [f.stem.rsplit("_", 1)[0] for f in files]
    names, labels = np.unique(people, return_inverse=True)
    chips = np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])
    return FaceSet(chips, labels.astype(np.int64), tuple(names), tuple(map(str, files)))


@pytest.fixture(scope="module")
def shipped_embeddings(faces) -> tuple[np.ndarray, str]:
    from engine.faces.encode import FaceEncoder

    encoder = FaceEncoder(use_gpu=False)
    return encoder.encode(faces.chips), encoder.id


def random_batch(seed=0, people=4, shots=3, dim=5):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(people * shots, dim, generator=generator)
    return embeddings, torch.arange(people).repeat_interleave(shots)


# ----- the loss -----

def test_triplet_loss_matches_hand_computed_values():
    anchor = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    positive = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    negative = torch.tensor([[0.0, 2.0], [0.5, 0.5], [1.0, 1.5]])
    # d_ap^2 = 1, 1, 1; d_an^2 = 4, 0.5, 0.25; L = max(d_ap^2 - d_an^2 + 0.2, 0)
    losses = triplet_losses(anchor, positive, negative, margin=0.2)
    assert torch.allclose(losses, torch.tensor([0.0, 0.7, 0.95]))
    batch = batch_triplet_loss(torch.cat([anchor[:1], positive[:1], negative[:1]]), torch.tensor([0, 0, 1]), 0.2,
                               "batch-hard")
    # anchor 0: hardest positive is 1 (d2=1), nearest negative 2 (d2=4): 0; anchor 1: positive 0 (1), negative 2
    # (d2 = 1 + 4 = 5): 0; anchor 2 has no positive. J = 0, nothing active
    assert float(batch.total) == 0.0 and batch.triplets == 2 and batch.active == 0


def test_squared_distances_are_pairwise():
    embeddings, _ = random_batch()
    expected = torch.cdist(embeddings, embeddings) ** 2
    assert torch.allclose(squared_distances(embeddings), expected, atol=1e-5)


# ----- mining against brute force -----

def test_batch_hard_picks_the_farthest_positive_and_nearest_negative():
    for seed in range(5):
        embeddings, labels = random_batch(seed)
        d2 = squared_distances(embeddings)
        triplets = batch_hard_triplets(d2, labels)
        assert triplets.anchor.tolist() == list(range(len(labels)))
        for a, p, n in zip(triplets.anchor.tolist(), triplets.positive.tolist(), triplets.negative.tolist()):
            positives = [j for j in range(len(labels)) if labels[j] == labels[a] and j != a]
            negatives = [j for j in range(len(labels)) if labels[j] != labels[a]]
            assert p == max(positives, key=lambda j: d2[a, j])
            assert n == min(negatives, key=lambda j: d2[a, j])


def test_semi_hard_takes_the_nearest_negative_farther_than_the_positive():
    for seed in range(5):
        embeddings, labels = random_batch(seed, people=5, shots=4)
        d2 = squared_distances(embeddings)
        triplets = semi_hard_triplets(d2, labels)
        pairs = [(a, p) for a in range(len(labels)) for p in range(len(labels)) if labels[a] == labels[p] and a != p]
        assert list(zip(triplets.anchor.tolist(), triplets.positive.tolist())) == pairs
        fallbacks = 0
        for a, p, n in zip(triplets.anchor.tolist(), triplets.positive.tolist(), triplets.negative.tolist()):
            assert labels[n] != labels[a]
            negatives = [j for j in range(len(labels)) if labels[j] != labels[a]]
            farther = [j for j in negatives if d2[a, j] > d2[a, p]]
            if farther:
                assert d2[a, n] > d2[a, p] and n == min(farther, key=lambda j: d2[a, j])
            else:  # no semi-hard negative: the farthest (easiest) one, never the hardest
                fallbacks += 1
                assert n == max(negatives, key=lambda j: d2[a, j])
        assert fallbacks < len(pairs)


def test_random_triplets_are_valid():
    _, labels = random_batch(people=6, shots=2)
    triplets = random_triplets(labels, torch.Generator().manual_seed(0))
    assert len(triplets) == len(labels)
    assert (labels[triplets.positive] == labels[triplets.anchor]).all()
    assert (triplets.positive != triplets.anchor).all()
    assert (labels[triplets.negative] != labels[triplets.anchor]).all()


def test_pk_batches_take_p_people_with_k_photos_each():
    labels = np.repeat(np.arange(10), [5, 5, 5, 5, 2, 2, 1, 3, 4, 6])
    for index in pk_batches(labels, people=4, shots=3, batches=20, rng=np.random.default_rng(0)):
        people, counts = np.unique(labels[index], return_counts=True)
        assert len(people) == 4 and 6 not in people  # person 6 has one photo: no positive
        assert np.all(counts == np.minimum(3, np.bincount(labels)[people]))
        assert len(set(index.tolist())) == len(index)


# ----- training on real chips -----

def _loss_on(encoder, faces, mining="batch-hard"):
    with torch.no_grad():
        embeddings = encoder.embed(encoder.inputs(faces.chips, mirrored=False).plain)
        return batch_triplet_loss(embeddings, torch.from_numpy(faces.labels), 0.2, mining).mean


@pytest.mark.parametrize("mode", ["small", "last-block"])
def test_a_few_steps_on_real_faces_lower_the_loss(faces, mode):
    torch.manual_seed(0)
    encoder = TrainableEncoder(mode)
    encoder.model.train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3 if mode == "small" else 1e-4)
    inputs, labels = encoder.inputs(faces.chips, mirrored=False), torch.from_numpy(faces.labels)
    before = _loss_on(encoder, faces)
    for _ in range(8):
        loss = batch_triplet_loss(encoder.embed(inputs.plain), labels, 0.2, "batch-hard")
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
    after = _loss_on(encoder, faces)
    assert after < 0.8 * before, (before, after)
    if mode == "last-block":  # only the last block and the projection moved
        frozen = dict(TrainableEncoder("last-block").model.named_parameters())
        for name, parameter in encoder.model.named_parameters():
            assert torch.equal(parameter, frozen[name]) != (name.startswith(("blocks.13.", "fc.")))


def test_train_checkpoints_resumes_and_keeps_the_best_epoch(faces, tmp_path):
    train_set, held_out = faces.split_people(0.25, seed=0)
    config = config_for("small", epochs=2, steps_per_epoch=3, people_per_batch=6, shots_per_person=4, patience=5)
    checkpoint = tmp_path / "run.pt"
    first = train(train_set, held_out, config, TrainableEncoder("small"), checkpoint)
    assert [h.epoch for h in first.history] == [0, 1, 2] and checkpoint.exists()
    more = config_for("small", epochs=3, steps_per_epoch=3, people_per_batch=6, shots_per_person=4, patience=5)
    resumed = train(train_set, held_out, more, TrainableEncoder("small"), checkpoint)
    assert [h.epoch for h in resumed.history] == [0, 1, 2, 3]
    assert resumed.history[:3] == first.history
    assert resumed.history[resumed.best_epoch].score == max(h.score for h in resumed.history)
    assert all(0 <= h.active_fraction <= 1 for h in resumed.history)


def test_small_net_exports_to_an_onnx_encoder_the_app_can_load(tmp_path, faces):
    from engine.faces.encode import FaceEncoder
    from engine.training.train import export_encoder

    torch.manual_seed(0)
    model = SmallFaceNet().eval()
    out = tmp_path / "encoders" / "small-test.onnx"
    encoder_id = export_encoder(model, out, {"mode": "small"})
    encoder = FaceEncoder(out, use_gpu=False)
    assert encoder.id == encoder_id and encoder_id.startswith("small-test:")
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model(torch.from_numpy(faces.chips[:5])), dim=1).numpy()
    assert np.abs(encoder.encode(faces.chips[:5]) - expected).max() < 1e-4
    assert out.with_suffix(".json").exists()


# ----- pair classifier -----

def _pairs(embeddings, labels):
    first, second = np.triu_indices(len(labels), k=1)
    return embeddings[first], embeddings[second], labels[first] == labels[second]


@pytest.mark.parametrize("features", ["abs", "chi2"])
def test_pair_classifier_separates_real_pairs_of_new_people(faces, shipped_embeddings, features, tmp_path):
    embeddings, encoder_id = shipped_embeddings
    train_people = faces.labels < 6
    classifier = fit_pair_classifier(*_pairs(embeddings[train_people], faces.labels[train_people]), features, encoder_id)
    f1, f2, same = _pairs(embeddings[~train_people], faces.labels[~train_people])
    p = classifier.probability(f1, f2)
    balanced_accuracy = (np.mean(p[same] >= 0.5) + np.mean(p[~same] < 0.5)) / 2
    assert balanced_accuracy > 0.8
    assert p[same].mean() > p[~same].mean() + 0.3
    path = tmp_path / "pairs.npz"
    classifier.save(path)
    loaded = PairClassifier.load(path, encoder_id)
    assert np.allclose(loaded.probability(f1, f2), p) and loaded.features == features
    from engine.errors import EncoderMismatch

    with pytest.raises(EncoderMismatch):
        PairClassifier.load(path, "another_encoder:000000000000")


def test_chi_square_features_are_finite_for_negative_components():
    f1 = np.array([[-1.0, 0.0, 0.6, -0.8]])
    f2 = np.array([[-1.0, 0.0, -0.6, 0.8]])
    x = pair_features(f1, f2, "chi2")
    assert np.all(np.isfinite(x)) and np.all(x >= 0)
    assert x[0, 0] == 0 and x[0, 1] == 0 and x[0, 2] > 0  # opposite signs are told apart, unlike on |f|


# ----- calibrate -----

def test_calibrate_tau_is_threshold_at_far_of_the_gallery_pairs(faces, shipped_embeddings, tmp_path, monkeypatch):
    from engine.cli import training
    from engine.gallery import Gallery

    monkeypatch.setenv("LIKENESS_HOME", str(tmp_path))
    embeddings, encoder_id = shipped_embeddings
    gallery_file = tmp_path / "gallery.sqlite"
    with Gallery(gallery_file, encoder_id) as gallery:
        for person, name in enumerate(faces.names):
            shots = embeddings[faces.labels == person]
            gallery.enroll(name, shots, [f"{name}_{i}" for i in range(len(shots))], [b""] * len(shots))
    parser = argparse.ArgumentParser()
    training.register(parser.add_subparsers())
    args = parser.parse_args(["calibrate", "--gallery", str(gallery_file), "--encoder", "dlib", "--far", "0.05",
                              "--plot", str(tmp_path / "curves.png")])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.run(args) == 0
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("tau=")
    genuine, impostor = all_pair_distances(embeddings, faces.labels)
    assert float(last.removeprefix("tau=")) == pytest.approx(threshold_at_far(impostor, 0.05), abs=1e-6)
    assert (tmp_path / "curves.png").stat().st_size > 10_000
