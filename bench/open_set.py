"""Open-set identification at the shipped operating point: FPIR and FNIR on ORL and LFW View-1.

    python bench/open_set.py [--orl ../shared/data/faces/orl] [--lfw ../shared/data/faces/lfw-view1] [--splits 100]

FPIR: strangers (people not enrolled) named as someone. FNIR: enrolled people's other photos not recognised, or
named as someone else. The threshold of each gallery is engine.operating.identify_point's, exactly as the
Recognizer computes it, from nothing but the enrolled photos.
- ORL (40 people, one camera, 10 shots each): one-shot galleries of K people drawn at random, each enrolled with one
  random shot; their 9 other shots are probes, every shot of the 40 - K others is a stranger.
- LFW View-1 (web photos): K of the 1,165 people with two or more photos, enrolled with their first photo and
  probed with the others; the 1,930 people with one photo are the strangers (View-1 has no more than 1,165
  people to enrol, so K stops at 1,000).
Embeddings are cached in bench/out/cache (one file per data set and encoder): a rerun takes seconds.
Also compares raw distances with cohort-normalised ones (T-norm: each probe's distances standardised by its
distances to the whole gallery) at equal FPIR, with thresholds chosen on the strangers themselves (an oracle, for
the comparison only).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings, Settings  # noqa: E402
from engine.faces.encoders import with_encoder  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.match import GalleryMatrix, distances, identify  # noqa: E402
from engine.operating import identify_point  # noqa: E402
from engine.pipeline import FacePipeline, subject_index  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
CACHE = Path(__file__).resolve().parent / "out" / "cache"


def dataset_paths(root: Path) -> list[Path]:
    """ORL: s<N>/<i>.pgm; LFW: images/<Name>/<Name>_NNNN.jpg. Sorted by person, then by shot."""
    if (root / "images").is_dir():
        return sorted((root / "images").glob("*/*.jpg"))
    return sorted(root.glob("s*/*.pgm"), key=lambda p: (int(p.parent.name[1:]), int(p.stem)))


def cached_embeddings(root: Path, settings: RecognitionSettings) -> tuple[np.ndarray, np.ndarray, str]:
    """(embeddings (n, d) with NaN rows where no face was found, person label per row, encoder id); embedded once
    per data set and encoder, then read from bench/out/cache."""
    from engine.faces.encoders import encoder_id

    identity = encoder_id(settings.encoder)
    path = CACHE / f"{root.name}_{identity.replace(':', '_')}.npz"
    paths = dataset_paths(root)
    labels = np.array([p.parent.name for p in paths])
    if path.exists():
        with np.load(path) as data:
            if list(data["labels"]) == list(labels):
                return data["embeddings"], labels, identity
    pipeline = FacePipeline(settings)
    rows, bar = [], ProgressBar(len(paths), f"embedding {root.name}")
    for done, image_path in enumerate(paths, 1):
        image = load_image(image_path)
        faces = pipeline.observe(image)
        if faces:
            rows.append(faces[subject_index([f.box for f in faces], image.shape)].embedding)
        else:
            rows.append(np.full(pipeline.encoder.EMBEDDING_SIZE, np.nan, np.float32))
        if done % 20 == 0 or done == len(paths):
            bar.update(done)
    bar.close()
    embeddings = np.stack(rows).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, embeddings=embeddings, labels=labels)
    return embeddings, labels, identity



def one_shot_gallery(embeddings, labels, enrolled, outsiders, rng, first_shot: bool):
    """GalleryMatrix of one shot per enrolled person, probes (their other shots) with the truth, and the strangers:
    every shot of the `outsiders` who are not enrolled."""
    shots, probes, truth = [], [], []
    for person, name in enumerate(enrolled):
        rows = np.flatnonzero(labels == name)
        chosen = rows[0] if first_shot else rng.choice(rows)
        shots.append(chosen)
        probes += [r for r in rows if r != chosen]
        truth += [person] * (len(rows) - 1)
    matrix = GalleryMatrix(embeddings[shots], np.arange(len(enrolled)), tuple(enrolled))
    strangers = np.flatnonzero(np.isin(labels, outsiders) & ~np.isin(labels, enrolled))
    return matrix, embeddings[probes], np.array(truth), embeddings[strangers]


def rates(matrix, probes, truth, strangers, threshold: float) -> tuple[int, int, int, int]:
    """(strangers named, strangers, enrolled probes missed or misnamed, probes) at this threshold."""
    named = sum(m.recognized for m in identify(strangers, matrix, threshold))
    found = identify(probes, matrix, threshold)
    missed = sum(not (m.recognized and m.best_name == matrix.names[t]) for m, t in zip(found, truth))
    return named, len(strangers), missed, len(probes)


def evaluate(name, embeddings, labels, candidates, outsiders, sizes, splits, first_shot, tau, one_in, identity,
             rng) -> None:
    for size in sizes:
        point_totals, tau_totals, thresholds, predicted = np.zeros(4), np.zeros(4), [], []
        for _ in range(splits):
            enrolled = list(rng.choice(candidates, size, replace=False))
            matrix, probes, truth, strangers = one_shot_gallery(embeddings, labels, enrolled, outsiders, rng,
                                                                first_shot)
            point = identify_point(matrix, tau, one_in, identity)
            thresholds.append(point.threshold)
            predicted.append(point.stranger_rate)
            point_totals += rates(matrix, probes, truth, strangers, point.threshold)
            tau_totals += rates(matrix, probes, truth, strangers, tau)
        fpir, fnir = point_totals[0] / point_totals[1], point_totals[2] / point_totals[3]
        print(f"| {name} | {size} | {splits} | {np.mean(thresholds):.3f} ± {np.std(thresholds):.3f} "
              f"| {100 * fpir:.2f} % ({point_totals[0]:.0f} of {point_totals[1]:.0f}) | {100 * fnir:.2f} % "
              f"| {100 * tau_totals[0] / tau_totals[1]:.1f} % | {100 * tau_totals[2] / tau_totals[3]:.2f} % |",
              flush=True)


def tnorm_comparison(name, embeddings, labels, candidates, outsiders, size, splits, first_shot, rng,
                     fpirs=(0.01, 0.001)):
    """FNIR at equal FPIR of raw distances and of T-normed ones (oracle thresholds on the pooled strangers)."""
    scores = {"distance": ([], [], []), "T-norm": ([], [], [])}
    for _ in range(splits):
        enrolled = list(rng.choice(candidates, size, replace=False))
        matrix, probes, truth, strangers = one_shot_gallery(embeddings, labels, enrolled, outsiders, rng, first_shot)
        for kind in scores:
            stranger_d, probe_d = (distances(x, matrix.embeddings) for x in (strangers, probes))
            if kind == "T-norm":
                stranger_d, probe_d = tnorm(stranger_d), tnorm(probe_d)
            scores[kind][0].append(stranger_d.min(1))
            scores[kind][1].append(probe_d.min(1))
            scores[kind][2].append(probe_d.argmin(1) == truth)
    cells = []
    for kind, (stranger_best, probe_best, right) in scores.items():
        stranger_best, probe_best, right = map(np.concatenate, (stranger_best, probe_best, right))
        for fpir in fpirs:
            threshold = np.quantile(stranger_best, fpir)
            cells.append(f"{kind} FNIR {100 * (1 - np.mean(right & (probe_best <= threshold))):.2f} % at FPIR {fpir:g}")
    print(f"- {name}, K = {size}, {splits} splits: " + "; ".join(cells))


def tnorm(d: np.ndarray) -> np.ndarray:
    return (d - d.mean(axis=1, keepdims=True)) / d.std(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orl", type=Path, default=SHARED / "orl")
    parser.add_argument("--lfw", type=Path, default=SHARED / "lfw-view1")
    parser.add_argument("--encoder", default=RecognitionSettings().encoder)
    parser.add_argument("--stranger-rate", type=int, default=RecognitionSettings().stranger_rate,
                        help="N of 'a stranger named at most 1 time in N' (default: the shipped setting)")
    parser.add_argument("--splits", type=int, default=100, help="random galleries per size")
    args = parser.parse_args()
    settings = with_encoder(Settings(), args.encoder).recognition
    settings = dataclasses.replace(settings, use_gpu=False)
    rng = np.random.default_rng(0)
    print(f"encoder {args.encoder}, 1:1 tau {settings.tau}, a stranger named at most 1 time in {args.stranger_rate}\n")
    print("| data | K enrolled | galleries | threshold (mean ± sd) | FPIR | FNIR | FPIR at τ | FNIR at τ |")
    print("|---|---|---|---|---|---|---|---|")
    orl, orl_labels, identity = cached_embeddings(args.orl, settings)
    orl_people = np.unique(orl_labels)
    for first_shot in (False, True):
        evaluate("ORL, first shot enrolled" if first_shot else "ORL", orl, orl_labels, orl_people, orl_people,
                 (3, 5, 10, 15, 20, 30, 39), args.splits, first_shot, settings.tau, args.stranger_rate, identity, rng)
    lfw, lfw_labels, _ = cached_embeddings(args.lfw, settings)
    names, counts = np.unique(lfw_labels, return_counts=True)
    evaluate("LFW View-1", lfw, lfw_labels, names[counts >= 2], names[counts == 1], (10, 100, 1000),
             max(args.splits // 10, 3), True, settings.tau, args.stranger_rate, identity, rng)
    print("\nCohort normalisation (T-norm) against raw distances, FNIR at equal FPIR:")
    tnorm_comparison("ORL", orl, orl_labels, orl_people, orl_people, 39, args.splits, False, rng)
    tnorm_comparison("LFW View-1", lfw, lfw_labels, names[counts >= 2], names[counts == 1], 1000, 3, True, rng)


if __name__ == "__main__":
    main()
