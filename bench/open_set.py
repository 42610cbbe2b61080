"""Open-set identification at the shipped operating point: FPIR and FNIR on ORL and LFW View-1.

    python bench/open_set.py [--orl ../shared/data/faces/orl] [--lfw ../shared/data/faces/lfw-view1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings  # noqa: E402
from engine.images import load_image  # noqa: E402
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
    from engine.faces.encode import encoder_id

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orl", type=Path, default=SHARED / "orl")
    parser.add_argument("--lfw", type=Path, default=SHARED / "lfw-view1")
    parser.add_argument("--encoder", default=RecognitionSettings().encoder)
    args = parser.parse_args()
    settings = RecognitionSettings(use_gpu=False, encoder=args.encoder)
    for root in (args.orl, args.lfw):
        embeddings, labels, identity = cached_embeddings(root, settings)
        print(root.name, embeddings.shape, np.isnan(embeddings[:, 0]).sum(), "without a face", identity)


if __name__ == "__main__":
    main()
