"""What a ConvNet learns (Zeiler & Fergus 2013): for a unit of a VGG19 layer, the nine image patches that
excite it most, each patch being the unit's receptive field around its strongest response in an image.

scan_folder() runs the network once over a folder and keeps, for every unit of the layer, each image's
maximum response and where it is; the result is cached on disk, so switching units costs nothing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .config import VGG19_CONV_LAYERS, data_dir
from .errors import BadInput, Cancelled
from .images import IMAGE_SUFFIXES, load_image, resize_longest
from .style.vgg import load_vgg19

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples" / "convnet"
SCAN_SIZE = 224  # longest side of the images as the network sees them
PATCH_PX = 64
# Max pooling, as VGG19 was trained: we look at what the trained network's units respond to. (Style transfer
# uses average pooling, which Gatys et al. found better for synthesis; it changes the deeper activations.)
POOLING = "max"


def receptive_field(layer: str) -> tuple[int, int, float]:
    """(size, stride, centre of unit 0) in input pixels, for VGG19's 3x3/1 convs and 2x2/2 poolings."""
    size, stride, start = 1, 1, 0.5
    for index, name in enumerate(VGG19_CONV_LAYERS[: VGG19_CONV_LAYERS.index(layer) + 1]):
        if index > 0 and name.endswith("_1"):
            size, start, stride = size + stride, start + 0.5 * stride, stride * 2
        size += 2 * stride
    return size, stride, start


@dataclass(frozen=True)
class Scan:
    layer: str
    image_paths: tuple[str, ...]
    peaks: np.ndarray  # (images, units) strongest response of each unit in each image
    where: np.ndarray  # (images, units, 2) its row and column in the layer's map

    def top(self, unit: int, count: int = 9) -> list[tuple[int, int, int, float]]:
        """(image index, row, column, response) of the strongest images for this unit, strongest first."""
        order = np.argsort(-self.peaks[:, unit])[:count]
        return [(int(i), int(self.where[i, unit, 0]), int(self.where[i, unit, 1]), float(self.peaks[i, unit]))
                for i in order]


def _images(folder: Path) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not paths:
        raise BadInput(f"The folder {folder} holds no images to scan.")
    return paths


def load_scaled(path: Path) -> np.ndarray:
    return resize_longest(load_image(path), SCAN_SIZE)


def _cache_file(layer: str, paths: list[Path]) -> Path:
    key = hashlib.sha256("\n".join(f"{p}:{p.stat().st_mtime_ns}" for p in paths).encode()).hexdigest()[:16]
    return data_dir() / "convnet_cache" / f"{layer}-{POOLING}-{key}.npz"


def scan_folder(layer: str, folder: Path | None = None, on_progress=None, should_stop=None) -> Scan:
    """Every image of the folder through VGG19 up to `layer` (cached; on_progress(done, total) while scanning).
    Raises Cancelled between two images once should_stop() says so."""
    paths = _images(Path(folder) if folder else SAMPLES)
    cache = _cache_file(layer, paths)
    if cache.exists():
        with np.load(cache) as data:
            return Scan(layer, tuple(map(str, paths)), data["peaks"], data["where"])
    network = load_vgg19("cpu", POOLING)
    peaks, where = [], []
    with torch.no_grad():
        for done, path in enumerate(paths, 1):
            if should_stop is not None and should_stop():
                raise Cancelled(f"The scan of {layer} was cancelled.")
            rgb = torch.from_numpy(load_scaled(path)).permute(2, 0, 1)[None].float()
            response = network(rgb, [layer])[layer][0]  # (units, rows, cols)
            flat = response.flatten(1)
            best = flat.argmax(dim=1)
            peaks.append(flat.max(dim=1).values.numpy())
            where.append(np.stack([(best // response.shape[2]).numpy(), (best % response.shape[2]).numpy()], axis=1))
            if on_progress:
                on_progress(done, len(paths))
    scan = Scan(layer, tuple(map(str, paths)), np.stack(peaks), np.stack(where))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, peaks=scan.peaks, where=scan.where)
    return scan


def patch(image: np.ndarray, layer: str, row: int, col: int) -> np.ndarray:
    """The receptive field of the unit at (row, col), cut from the scaled image (zero-padded at the borders)."""
    size, stride, start = receptive_field(layer)
    cy, cx = start + row * stride, start + col * stride
    half = size / 2
    y0, x0 = int(round(cy - half)), int(round(cx - half))
    padded = cv2.copyMakeBorder(image, size, size, size, size, cv2.BORDER_CONSTANT, value=0)
    return padded[y0 + size: y0 + 2 * size, x0 + size: x0 + 2 * size]


def top_patches(scan: Scan, unit: int, count: int = 9) -> list[np.ndarray]:
    """The `count` patches that excite the unit most, strongest first, each PATCH_PX square (RGB)."""
    return [cv2.resize(patch(load_scaled(Path(scan.image_paths[i])), scan.layer, r, c), (PATCH_PX, PATCH_PX),
                       interpolation=cv2.INTER_NEAREST if receptive_field(scan.layer)[0] < PATCH_PX else cv2.INTER_AREA)
            for i, r, c, _ in scan.top(unit, count)]


def top_patches_grid(scan: Scan, units: list[int], gap: int = 4) -> np.ndarray:
    """One row of nine patches per unit, as one RGB image."""
    rows = []
    for unit in units:
        if not 0 <= unit < scan.peaks.shape[1]:
            raise BadInput(f"{scan.layer} has units 0 to {scan.peaks.shape[1] - 1}, not {unit}.")
        tiles = top_patches(scan, unit)
        rows.append(np.concatenate([np.pad(t, ((gap // 2,) * 2, (gap // 2,) * 2, (0, 0)), constant_values=255)
                                    for t in tiles], axis=1))
    return np.concatenate(rows, axis=0)
