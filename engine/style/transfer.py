"""Neural style transfer (Gatys, Ecker & Bethge 2015): gradient descent on the pixels of G to minimise
J(G) = alpha * J_content(C, G) + beta * J_style(S, G) (+ a total-variation weight).

One loop; each iteration is reported through `on_progress` with a small frozen StyleProgress, and the loop
checks `should_stop()` and a pause event between iterations, so a GUI can preview, pause and cancel.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import VGG19_CONV_LAYERS, StyleSettings
from ..images import resize_longest
from ..runtime import torch_device
from .losses import content_cost, gram_matrix, style_cost, total_variation
from .vgg import WIDTHS, load_vgg19

COARSE_TO_FINE_FROM = 512  # outputs this large first run at half size, then refine
LBFGS_HISTORY = 100  # pairs of image-sized vectors L-BFGS keeps: at large sizes most of the memory


@dataclass(frozen=True)
class StyleProgress:
    iteration: int  # 1-based, over all scales
    total: int
    cost: float
    content: float
    style: float
    tv: float
    elapsed: float  # seconds of optimisation since the start (time spent paused is not counted)
    image: np.ndarray | None  # uint8 RGB (H, W, 3), every preview_every iterations and at the end

    @property
    def eta(self) -> float:
        return self.elapsed / self.iteration * (self.total - self.iteration)


def resize_to_area(image: np.ndarray, pixels: int) -> np.ndarray:
    """The image scaled, aspect ratio kept, to about `pixels` pixels."""
    scale = (pixels / (image.shape[0] * image.shape[1])) ** 0.5
    return resize_longest(image, max(1, round(max(image.shape[:2]) * scale)))


def to_tensor(rgb: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].detach().clamp(0, 255).permute(1, 2, 0).round().byte().cpu().numpy()


def keep_content_colors(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance of the result with the chroma of the content (Gatys et al. 2016, color preservation)."""
    content = cv2.resize(content, (result.shape[1], result.shape[0]), interpolation=cv2.INTER_AREA)
    mixed = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    mixed[..., 0] = cv2.cvtColor(result, cv2.COLOR_RGB2YCrCb)[..., 0]
    return cv2.cvtColor(mixed, cv2.COLOR_YCrCb2RGB)


def save_png_with_recipe(rgb: np.ndarray, path: Path, recipe: dict) -> None:
    """PNG with the recipe (inputs and settings) as a text chunk "likeness-style", so a result can be reproduced."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("likeness-style", json.dumps(recipe))
    Image.fromarray(rgb).save(path, pnginfo=info)


def estimate_memory(height: int, width: int, settings: StyleSettings) -> int:
    """Rough bytes needed: activations of every layer up to the deepest used, kept for the backward pass
    (about 3 copies: output, ReLU mask, gradient), plus the weights (80 MB) and the optimiser's state
    (L-BFGS: LBFGS_HISTORY pairs of image-sized vectors once the history is full; Adam: two moments).
    The Python, torch and OpenCV runtime itself (about 250 MB resident on a CPU) is not included."""
    deepest = max(VGG19_CONV_LAYERS.index(n) for n in (settings.content_layer, *settings.style_layers))
    values = sum(WIDTHS[int(name[4])] * (height >> (int(name[4]) - 1)) * (width >> (int(name[4]) - 1))
                 for name in VGG19_CONV_LAYERS[: deepest + 1])
    optimiser_vectors = 2 * LBFGS_HISTORY + 2 if settings.optimizer == "lbfgs" else 3
    return 4 * (3 * values + optimiser_vectors * 3 * height * width) + 80_000_000


class StyleTransfer:
    def __init__(self, settings: StyleSettings, device: torch.device | None = None, use_gpu: bool = True):
        self.settings = settings
        self.device = device or torch_device(use_gpu)
        self.network = load_vgg19(str(self.device))
        self.resume = threading.Event()  # cleared = paused; set again to resume
        self.resume.set()
        self._paused_seconds = 0.0

    def run(self, content: np.ndarray, styles: list[np.ndarray], style_weights: list[float] | None = None,
            on_progress=None, should_stop=None) -> np.ndarray:
        """Content and styles as uint8 RGB arrays; returns G as uint8 RGB at the settings' size.

        on_progress(StyleProgress) is called after every iteration. should_stop() is checked before every
        iteration (and while paused): when it turns true the run returns the current G at once."""
        settings = self.settings
        should_stop = should_stop or (lambda: False)
        self._paused_seconds = 0.0
        coarse_first = settings.coarse_to_fine and settings.size >= COARSE_TO_FINE_FROM
        sizes = [settings.size // 2, settings.size] if coarse_first else [settings.size]
        per_scale = [settings.iterations // len(sizes)] * len(sizes)
        per_scale[-1] += settings.iterations - sum(per_scale)
        weights = np.asarray(style_weights or [1.0] * len(styles), dtype=np.float64)
        generated, done, start = None, 0, time.monotonic()
        for size, iterations in zip(sizes, per_scale):
            content_small = resize_longest(content, size)
            generated = self._initial(content_small, generated)
            targets = self._targets(content_small, styles, weights / weights.sum())
            generated, done = self._optimise(generated, targets, iterations, done, start, on_progress, should_stop)
            if should_stop():
                break
        assert generated is not None  # there is always at least one scale
        result = to_image(generated)
        return keep_content_colors(result, content) if settings.preserve_colors else result

    def _initial(self, content: np.ndarray, coarser: torch.Tensor | None) -> torch.Tensor:
        content_t = to_tensor(content, self.device)
        if coarser is not None:  # coarse-to-fine: start from the upsampled coarse result
            return torch.nn.functional.interpolate(coarser, size=content_t.shape[2:], mode="bicubic").clamp(0, 255)
        noise = torch.rand(content_t.shape,
                           generator=torch.Generator().manual_seed(self.settings.seed)).to(self.device) * 255
        return {"noise": noise, "content": content_t, "blend": 0.5 * noise + 0.5 * content_t}[self.settings.init]

    @torch.no_grad()
    def _targets(self, content: np.ndarray, styles: list[np.ndarray], weights: np.ndarray) -> dict:
        """Content activations and the blended style Grams, computed once per scale.

        Each style keeps its aspect ratio and is scaled to G's number of pixels. A Gram is a sum over
        positions, so it is rescaled by (G's positions / S's positions) per layer to be on G's scale."""
        settings = self.settings
        layers = {settings.content_layer, *settings.style_layers}
        content_acts = self.network(to_tensor(content, self.device), layers)
        grams = {name: 0 for name in settings.style_layers}
        for style, weight in zip(styles, weights):
            acts = self.network(to_tensor(resize_to_area(style, content.shape[0] * content.shape[1]), self.device),
                                settings.style_layers)
            for name in settings.style_layers:
                positions = content_acts[name][0, 0].numel() / acts[name][0, 0].numel()
                grams[name] = grams[name] + float(weight) * positions * gram_matrix(acts[name])
        return {"content": content_acts[settings.content_layer], "grams": grams}

    def _costs(self, generated: torch.Tensor, targets: dict):
        settings = self.settings
        lambdas = dict(zip(settings.style_layers, settings.style_layer_weights))
        acts = self.network(generated, {settings.content_layer, *settings.style_layers})
        j_content = content_cost(targets["content"], acts[settings.content_layer])
        j_style = style_cost(targets["grams"], acts, lambdas)
        j_tv = total_variation(generated) if settings.tv_weight > 0 else torch.zeros((), device=generated.device)
        return settings.alpha * j_content + settings.beta * j_style + settings.tv_weight * j_tv, j_content, j_style, j_tv

    def _optimise(self, generated, targets, iterations, done, start, on_progress, should_stop):
        settings = self.settings
        generated = generated.detach().clone().requires_grad_(True)
        if settings.optimizer == "lbfgs":
            optimiser = torch.optim.LBFGS([generated], lr=1.0, max_iter=1, history_size=LBFGS_HISTORY)
        else:
            optimiser = torch.optim.Adam([generated], lr=settings.learning_rate)
        last = {}

        def closure():
            optimiser.zero_grad()
            cost, j_content, j_style, j_tv = self._costs(generated, targets)
            cost.backward()
            last.update(cost=cost.item(), content=j_content.item(), style=j_style.item(), tv=j_tv.item())
            return cost

        total = settings.iterations
        for _ in range(iterations):
            self._wait_while_paused(should_stop)
            if should_stop():
                break
            optimiser.step(closure)
            with torch.no_grad():
                generated.clamp_(0, 255)
            done += 1
            if on_progress is not None:
                preview = done % settings.preview_every == 0 or done == total
                on_progress(StyleProgress(done, total, last["cost"], last["content"], last["style"], last["tv"],
                                          time.monotonic() - start - self._paused_seconds,
                                          to_image(generated) if preview else None))
        return generated.detach(), done

    def _wait_while_paused(self, should_stop) -> None:
        """Block while `resume` is cleared; a cancel ends the wait too (polled every 50 ms)."""
        began = time.monotonic()
        while not self.resume.wait(0.05) and not should_stop():
            pass
        self._paused_seconds += time.monotonic() - began
