"""Which per-person rule identifies better: the closest stored embedding ("best") or the person's mean?

    python bench/gallery_rule.py --root ../shared/data/faces/lfw-view1 [--shots 3] [--tau 0.42]

Open-set 1:K on LFW View-1 images: people with more than --shots photos are enrolled from their first
--shots photos and probed with the others; people with one photo are strangers who must not be recognized.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lfw import central_face  # noqa: E402
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings  # noqa: E402
from engine.match import GalleryMatrix, identify  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.pipeline import FacePipeline  # noqa: E402


def embed(pipeline: FacePipeline, paths: list[Path]) -> np.ndarray:
    rows, bar = [], ProgressBar(len(paths), "embedding")
    for i, path in enumerate(paths, 1):
        image = load_image(path)
        faces = pipeline.observe(image)
        rows.append(central_face(faces, image.shape).embedding if faces else np.full(128, np.nan, np.float32))
        if i % 50 == 0 or i == len(paths):
            bar.update(i)
    bar.close()
    return np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--tau", type=float, default=RecognitionSettings().tau)
    args = parser.parse_args()
    by_person = defaultdict(list)
    for path in sorted((args.root / "images").glob("*/*.jpg")):
        by_person[path.parent.name].append(path)
    enrolled = {name: paths for name, paths in by_person.items() if len(paths) > args.shots}
    strangers = [paths[0] for paths in by_person.values() if len(paths) == 1]
    names = sorted(enrolled)
    gallery_paths = [p for n in names for p in enrolled[n][: args.shots]]
    probe_paths = [p for n in names for p in enrolled[n][args.shots:]]
    pipeline = FacePipeline(RecognitionSettings(use_gpu=False))
    vectors = embed(pipeline, gallery_paths + probe_paths + strangers)
    gallery = GalleryMatrix(vectors[: len(gallery_paths)], np.repeat(np.arange(len(names)), args.shots), tuple(names))
    probes = vectors[len(gallery_paths): len(gallery_paths) + len(probe_paths)]
    truth = [p.parent.name for p in probe_paths]
    outsiders = vectors[len(gallery_paths) + len(probe_paths):]
    print(f"{len(names)} people enrolled with {args.shots} photos each, {len(probes)} probes, "
          f"{len(outsiders)} strangers, tau {args.tau}")
    print("| rule | rank-1 correct | at tau: recognized and correct | at tau: strangers accepted "
          "| correct at 1 % strangers accepted | correct at 5 % |\n|---|---|---|---|---|---|")
    for rule in ("best", "mean"):
        found = identify(probes, gallery, args.tau, rule)
        outsider_d = np.array([f.distance for f in identify(outsiders, gallery, args.tau, rule)])
        right = np.array([f.best_name == t for f, t in zip(found, truth)])
        probe_d = np.array([f.distance for f in found])

        def correct_at(accepted: float) -> float:
            tau = np.quantile(outsider_d, accepted)
            return 100 * np.mean(right & (probe_d <= tau))

        print(f"| {rule} | {100 * right.mean():.2f} % | {100 * np.mean(right & (probe_d <= args.tau)):.2f} % "
              f"| {100 * np.mean(outsider_d <= args.tau):.2f} % | {correct_at(0.01):.2f} % | {correct_at(0.05):.2f} % |")


if __name__ == "__main__":
    main()
