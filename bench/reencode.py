"""What `gallery reencode` loses when a shot's photo is gone and it is re-embedded from its stored face (the
aligned 150x150 dlib chip, JPEG quality 85): LFW View-1 DevTest pairs, the first photo of each pair enrolled
either from the photo or from its thumbnail, the second photo presented; the encoder's τ decides.

    python bench/reencode.py [--root ../shared/data/faces/lfw-view1] [--encoder dlib+sface]

Prints accuracy, TAR and FAR at τ both ways and the cosine between the two embeddings of each enrolled face.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.faces.encoders import DEFAULT_ENCODER, with_encoder  # noqa: E402
from engine.gallery import thumbnail_jpeg  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.pipeline import FacePipeline  # noqa: E402
from engine.reencode import chip_embedding, decoded_thumbnail  # noqa: E402
from engine.training.pairs import read_pairs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces/lfw-view1")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    args = parser.parse_args()
    settings = with_encoder(Settings(), args.encoder).with_value("recognition.use_gpu", False).recognition
    pipeline, tau = FacePipeline(settings), settings.tau
    pairs = read_pairs(args.root / "pairsDevTest.txt", args.root / "images")
    same, from_photo, from_thumbnail, cosines = [], [], [], []
    bar = ProgressBar(len(pairs), "pairs")
    for done, pair in enumerate(pairs, 1):
        first, second = (pipeline.embed_one(load_image(path)).face for path in (pair.first, pair.second))
        stored = chip_embedding(decoded_thumbnail(thumbnail_jpeg(first.chip)), pipeline)
        same.append(pair.same)
        from_photo.append(np.linalg.norm(first.embedding - second.embedding))
        from_thumbnail.append(np.linalg.norm(stored - second.embedding))
        cosines.append(float(stored @ first.embedding))
        bar.update(done)
    bar.close()
    same_arr = np.array(same)
    print(f"encoder {args.encoder}, τ {tau}, {len(pairs)} DevTest pairs")
    print("| enrolled from | accuracy | TAR at τ | FAR at τ |\n|---|---|---|---|")
    for name, d in (("the photo", np.array(from_photo)), ("its stored thumbnail", np.array(from_thumbnail))):
        accepted = d <= tau
        print(f"| {name} | {100 * np.mean(accepted == same_arr):.2f} % | {100 * accepted[same_arr].mean():.1f} % | "
              f"{100 * accepted[~same_arr].mean():.1f} % |")
    c = np.array(cosines)
    print(f"cosine between the two embeddings of an enrolled face: min {c.min():.4f}, "
          f"1st percentile {np.percentile(c, 1):.4f}, mean {c.mean():.4f}")


if __name__ == "__main__":
    main()
