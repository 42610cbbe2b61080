"""Distances, 1:1 verification and 1:K open-set identification against a brute-force reference."""
import numpy as np

from engine.match import GalleryMatrix, distances, identify, verify


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def gallery(seed=0, people=50, shots=3):
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(people, 128)))
    embeddings = unit(np.repeat(centres, shots, axis=0) + 0.01 * rng.normal(size=(people * shots, 128)))
    return GalleryMatrix(embeddings.astype(np.float32), np.repeat(np.arange(people), shots),
                         tuple(f"p{i}" for i in range(people))), centres


def test_distances_equal_the_brute_force_norm():
    g, centres = gallery()
    brute = np.linalg.norm(centres[:5, None] - g.embeddings[None], axis=2)
    assert np.allclose(distances(centres[:5].astype(np.float32), g.embeddings), brute, atol=1e-5)


def test_verify_compares_with_the_mean_of_the_enrolled_embeddings():
    g, centres = gallery()
    own, other = g.embeddings[:3], g.embeddings[3:6]
    result = verify(centres[0], own, tau=0.5)
    assert result.same and np.isclose(result.distance, np.linalg.norm(unit(own.mean(axis=0)) - centres[0]), atol=1e-5)
    result = verify(centres[0], other, tau=0.5)
    assert not result.same and result.distance > 0.5


def test_identify_finds_the_person_and_a_different_runner_up():
    g, centres = gallery()
    probes = unit(centres[[7, 21]] + 0.01 * np.random.default_rng(1).normal(size=(2, 128))).astype(np.float32)
    found = identify(probes, g, tau=0.5, rule="best")
    for probe, person, result in zip(probes, (7, 21), found):
        assert result.recognized and result.name == f"p{person}"
        brute = np.linalg.norm(g.embeddings - probe, axis=1)
        assert np.isclose(result.distance, brute[g.owners == person].min(), atol=1e-5)
        assert result.runner_up_name != result.name
        assert np.isclose(result.runner_up_distance, brute[g.owners != person].min(), atol=1e-5)
        assert result.margin > 0


def test_a_stranger_is_not_recognized_but_the_closest_is_named():
    g, _ = gallery()
    stranger = unit(np.random.default_rng(99).normal(size=(1, 128))).astype(np.float32)
    (result,) = identify(stranger, g, tau=0.5)
    assert not result.recognized and result.name is None and result.best_name is not None


def test_the_mean_rule_compares_with_each_persons_mean():
    g, centres = gallery()
    (result,) = identify(centres[[3]].astype(np.float32), g, tau=0.5, rule="mean")
    mean = unit(g.embeddings[g.owners == 3].mean(axis=0))
    assert result.name == "p3" and np.isclose(result.distance, np.linalg.norm(mean - centres[3]), atol=1e-5)


def test_a_one_person_gallery_has_no_runner_up():
    g = GalleryMatrix(unit(np.ones((2, 128), np.float32)), np.array([0, 0]), ("only",))
    (result,) = identify(g.embeddings[:1], g, tau=0.5)
    assert result.recognized and result.runner_up_name is None and result.margin == float("inf")
