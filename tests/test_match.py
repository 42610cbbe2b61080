"""Distances, 1:1 verification and 1:K open-set identification against a brute-force reference."""
import numpy as np
import pytest

from engine.errors import BadInput
from engine.match import CANDIDATES, GalleryMatrix, distances, identify, verify


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def gallery(seed=0, people=50, shots=3, spread=0.3):
    """People around random centres; each has `shots` embeddings at about `spread` from their centre."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(people, 128)))
    noise = spread / np.sqrt(128) * rng.normal(size=(people * shots, 128))
    embeddings = unit(np.repeat(centres, shots, axis=0) + noise)
    return GalleryMatrix(embeddings.astype(np.float32), np.repeat(np.arange(people), shots),
                         tuple(f"p{i}" for i in range(people))), centres


def near(centres, rows, seed=1, spread=0.3):
    noise = spread / np.sqrt(128) * np.random.default_rng(seed).normal(size=(len(rows), 128))
    return unit(centres[rows] + noise).astype(np.float32)


def reference(probe, g, rule):
    """Brute force: every person's distance (min over their rows, or to their mean), sorted."""
    per_person = {}
    for person, name in enumerate(g.names):
        rows = g.embeddings[g.owners == person].astype(np.float64)
        if rule == "mean":
            rows = unit(rows.mean(axis=0))[None]
        per_person[name] = np.linalg.norm(rows - probe, axis=1).min()
    return sorted(per_person.items(), key=lambda item: item[1])


def test_distances_equal_the_brute_force_norm():
    g, centres = gallery()
    brute = np.linalg.norm(centres[:5, None] - g.embeddings[None], axis=2)
    assert distances(centres[:5], g.embeddings).shape == (5, 150)
    assert np.allclose(distances(centres[:5], g.embeddings), brute, atol=1e-3)
    assert distances(g.embeddings[:1], g.embeddings[:1])[0, 0] < 1e-3  # clipped at 0, never NaN


@pytest.mark.parametrize("rule", ["best", "mean"])
def test_identify_agrees_with_brute_force(rule):
    g, centres = gallery(people=200, shots=4)
    rng = np.random.default_rng(2)
    probes = np.vstack([near(centres, rng.integers(0, 200, 30)), unit(rng.normal(size=(10, 128)))]).astype(np.float32)
    for probe, result in zip(probes, identify(probes, g, tau=0.5, rule=rule)):
        (best, best_d), (second, second_d) = reference(probe, g, rule)[:2]
        assert (result.best_name, result.runner_up_name) == (best, second)
        assert np.isclose(result.distance, best_d, atol=1e-5) and np.isclose(result.runner_up_distance, second_d, atol=1e-5)
        assert result.recognized == (best_d <= 0.5) and result.name == (best if best_d <= 0.5 else None)
        assert np.isclose(result.margin, second_d - best_d, atol=1e-5)


def test_identify_finds_the_person_and_a_different_runner_up():
    g, centres = gallery()
    found = identify(near(centres, [7, 21]), g, tau=0.5, rule="best")
    assert [r.name for r in found] == ["p7", "p21"]
    assert all(r.recognized and r.runner_up_name not in (None, r.name) and r.margin > 0 for r in found)


def test_the_runner_up_is_another_person_even_behind_many_close_shots_of_the_best():
    g, centres = gallery(people=20, shots=3)
    crowd = near(centres, [5] * (2 * CANDIDATES), seed=3, spread=0.05)  # person 5 enrolled many times, all close
    g = GalleryMatrix(np.vstack([g.embeddings, crowd]), np.r_[g.owners, [5] * len(crowd)], g.names)
    probe = near(centres, [5], seed=4, spread=0.05)
    (result,) = identify(probe, g, tau=0.5, rule="best")
    (best, _), (second, second_d) = reference(probe[0], g, "best")[:2]
    assert result.name == best == "p5" and result.runner_up_name == second != "p5"
    assert np.isclose(result.runner_up_distance, second_d, atol=1e-5)


def test_a_stranger_is_not_recognized_but_the_closest_is_named():
    g, _ = gallery()
    stranger = unit(np.random.default_rng(99).normal(size=(1, 128))).astype(np.float32)
    for rule in ("best", "mean"):
        (result,) = identify(stranger, g, tau=0.5, rule=rule)
        assert not result.recognized and result.name is None and result.best_name is not None
        assert result.distance > 1.0  # random directions in 128-D are about sqrt(2) apart


def test_the_mean_rule_compares_with_each_persons_mean():
    g, centres = gallery()
    (result,) = identify(centres[[3]], g, tau=0.5, rule="mean")
    mean = unit(g.embeddings[g.owners == 3].astype(np.float64).mean(axis=0))
    assert result.name == "p3" and np.isclose(result.distance, np.linalg.norm(mean - centres[3]), atol=1e-5)


def test_verify_with_both_rules():
    g, centres = gallery()
    own, other = g.embeddings[:3], g.embeddings[3:6]
    best = verify(centres[0], own, tau=0.5, rule="best")
    assert best.same and np.isclose(best.distance, np.linalg.norm(own - centres[0], axis=1).min(), atol=1e-5)
    mean = verify(centres[0], own, tau=0.5)
    assert mean.same and np.isclose(mean.distance, np.linalg.norm(unit(own.mean(axis=0)) - centres[0]), atol=1e-5)
    assert not verify(centres[0], other, tau=0.5).same and verify(centres[0], other, tau=0.5, rule="best").distance > 0.5
    with pytest.raises(BadInput, match="rule"):
        verify(centres[0], own, tau=0.5, rule="median")


def test_a_one_person_gallery_has_no_runner_up_and_an_empty_one_recognizes_nobody():
    g = GalleryMatrix(unit(np.ones((2, 128), np.float32)), np.array([0, 0]), ("only",))
    for rule in ("best", "mean"):
        (result,) = identify(g.embeddings[:1], g, tau=0.5, rule=rule)
        assert result.recognized and result.runner_up_name is None and result.margin == float("inf")
    empty = GalleryMatrix(np.zeros((0, 128), np.float32), np.zeros(0, np.int64), ())
    (result,) = identify(g.embeddings[:1], empty, tau=0.5)
    assert not result.recognized and result.best_name is None


def test_float64_probes_and_a_single_vector_are_accepted():
    g, centres = gallery()
    (result,) = identify(centres[7], g, tau=0.5)  # (128,) float64
    assert result.name == "p7"
