"""Style transfer speed and memory: ours against a plain reference of the same method, side by side.

    python bench/style_speed.py --content ../shared/data/art/tubingen.jpg --style ../shared/data/art/starry_night.jpg
    python bench/style_speed.py ... --quality      # also the 300-iteration quality run at 256 px -> docs/
    python bench/style_speed.py ... --sizes 256 --iters 6 --devices cpu   # quicker

On a machine with CUDA the same table is measured on the GPU too (peak memory there is
torch.cuda.max_memory_allocated; on the CPU it is the process's max RSS).

The reference is written here in the structure of the classic PyTorch tutorial: an nn.Sequential of
VGG19's layers with content- and style-loss modules inserted after the chosen layers (cut after the last
one), the network's weights left trainable as the classic tutorial left them. Both use the same weights, the
same normalised costs (on post-ReLU activations, as Gatys et al.) and the same start, so they produce the
same image; the cost after the last iteration is printed for both to show it. Each run is a separate process
so its peak memory (max RSS) is its own. Time is the median per iteration (one forward and backward pass).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.config import VGG19_CONV_LAYERS, StyleSettings  # noqa: E402
from engine.style.losses import gram_matrix  # noqa: E402
from engine.images import load_image, resize_longest  # noqa: E402
from engine.style.transfer import StyleTransfer, to_tensor  # noqa: E402
from engine.style.vgg import BGR_MEAN, load_vgg19  # noqa: E402


# --- the reference, tutorial style ------------------------------------------------------------------
class Normalization(nn.Module):
    def forward(self, x):
        return x.flip(1) - torch.tensor(BGR_MEAN, device=x.device).view(1, 3, 1, 1)


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, x):
        self.loss = ((x - self.target) ** 2).sum() / (4 * x.numel())
        return x


class StyleLoss(nn.Module):
    def __init__(self, target_feature, weight):
        super().__init__()
        self.target, self.weight = gram_matrix(target_feature).detach(), weight

    def forward(self, x):
        self.loss = self.weight * ((gram_matrix(x) - self.target) ** 2).sum() / (2 * x.numel()) ** 2
        return x


def reference_model(settings: StyleSettings, content: torch.Tensor, style: torch.Tensor):
    vgg = load_vgg19(str(content.device))
    model, content_losses, style_losses = nn.Sequential(Normalization()), [], []
    lambdas = dict(zip(settings.style_layers, settings.style_layer_weights))
    last = max(VGG19_CONV_LAYERS.index(n) for n in (settings.content_layer, *settings.style_layers))
    for index, name in enumerate(VGG19_CONV_LAYERS[: last + 1]):
        if index > 0 and name.endswith("_1"):
            model.add_module(f"pool_{name}", nn.AvgPool2d(2))
        conv = nn.Conv2d(*vgg.convs[name].weight.shape[1::-1], 3, padding=1).to(content.device)
        conv.load_state_dict(vgg.convs[name].state_dict())  # trainable, as in the classic tutorial
        model.add_module(name, conv)
        model.add_module(f"relu_{name}", nn.ReLU(inplace=False))
        if name == settings.content_layer:
            loss = ContentLoss(model(content))
            model.add_module(f"content_{name}", loss)
            content_losses.append(loss)
        if name in lambdas:
            loss = StyleLoss(model(style), lambdas[name])
            model.add_module(f"style_{name}", loss)
            style_losses.append(loss)
    return model, content_losses, style_losses


def run_reference(settings, content, style, iterations, device):
    content_t, style_t = to_tensor(content, device), to_tensor(style, device)
    model, content_losses, style_losses = reference_model(settings, content_t, style_t)
    noise = torch.rand(content_t.shape, generator=torch.Generator().manual_seed(settings.seed)) * 255
    generated = noise.to(device).requires_grad_(True)
    optimiser = (torch.optim.LBFGS([generated], lr=1.0, max_iter=1, history_size=100) if settings.optimizer == "lbfgs"
                 else torch.optim.Adam([generated], lr=settings.learning_rate))
    last = {}

    def closure():
        optimiser.zero_grad()
        model(generated)
        cost = (settings.alpha * sum(layer.loss for layer in content_losses)
                + settings.beta * sum(layer.loss for layer in style_losses))
        cost.backward()
        last["cost"] = cost.item()
        return cost

    times = []
    for _ in range(iterations):
        optimiser.step(closure)
        with torch.no_grad():
            generated.clamp_(0, 255)
        times.append(time.perf_counter())
    return median_step(times), last["cost"]


def run_ours(settings, content, style, iterations, device):
    costs, times = [], []
    transfer = StyleTransfer(settings, device=torch.device(device))
    transfer.run(content, [style], on_progress=lambda p: (costs.append(p.cost), times.append(time.perf_counter())))
    return median_step(times), costs[-1]


def median_step(times: list[float]) -> float:
    """Median seconds between consecutive iterations (the first, with its warm-up, is not counted; the
    median, not the mean, so that another job briefly sharing the CPU does not decide the result)."""
    return float(np.median(np.diff(times)))


def worker(args) -> None:
    settings = StyleSettings(size=args.size, iterations=args.iters, optimizer=args.optimizer, preview_every=10**3,
                             coarse_to_fine=False)  # one scale, as the reference
    content = resize_longest(load_image(args.content), args.size)
    style = cv2.resize(load_image(args.style), content.shape[1::-1], interpolation=cv2.INTER_AREA)
    run = run_ours if args.worker == "ours" else run_reference
    seconds, cost = run(settings, content, style, args.iters, args.device)
    if args.device == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cost": cost, "peak_mb": peak_mb}))


def compare(args) -> None:
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices {', '.join(devices)}, "
          f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    print("| device | size | optimiser | ours s/iter | reference s/iter | speed-up | ours peak MB | "
          "reference peak MB | cost ours / reference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for device in devices:
        for size in args.sizes:
            for optimizer in ("lbfgs", "adam"):
                compare_one(args, device, size, optimizer)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def compare_one(args, device: str, size: int, optimizer: str) -> None:
    """Ours and the reference alternate for `rounds` rounds; each keeps its fastest round (another job on a
    shared machine only ever adds time) and its largest peak memory."""
    iters = args.iters if size <= 256 or device == "cuda" else max(3, args.iters // 2)
    runs = {"ours": [], "reference": []}
    for _ in range(args.rounds):
        for impl in runs:
            command = [sys.executable, __file__, "--worker", impl, "--size", str(size), "--iters", str(iters),
                       "--optimizer", optimizer, "--device", device, "--content", str(args.content),
                       "--style", str(args.style)]
            runs[impl].append(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))
    ours, ref = ({"seconds": min(r["seconds"] for r in rs), "peak_mb": max(r["peak_mb"] for r in rs),
                  "cost": rs[0]["cost"]} for rs in runs.values())
    print(f"| {device} | {size} | {optimizer} | {ours['seconds']:.3f} | {ref['seconds']:.3f} | "
          f"{ref['seconds'] / ours['seconds']:.2f}x | {ours['peak_mb']:.0f} | {ref['peak_mb']:.0f} | "
          f"{ours['cost'] / ref['cost']:.4f} |", flush=True)


def quality(args) -> None:
    settings = StyleSettings(size=256, iterations=args.quality_iters)
    progress = []
    transfer = StyleTransfer(settings, use_gpu=False)
    result = transfer.run(load_image(args.content), [load_image(args.style)], on_progress=progress.append)
    out = ROOT / "docs" / "style_tubingen_starry.png"
    cv2.imwrite(str(out), cv2.cvtColor(result, cv2.COLOR_RGB2BGR))
    print(f"quality run: 256 px, {settings.iterations} L-BFGS iterations in {progress[-1].elapsed:.0f} s; J_style "
          f"{progress[0].style:.3g} -> {progress[-1].style:.3g} "
          f"({progress[0].style / progress[-1].style:.0f}x lower); {out}")
    plot_costs(progress, settings, ROOT / "docs" / "style_costs.png")


def plot_costs(progress, settings: StyleSettings, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps = [p.iteration for p in progress]
    for label, values in (("J", [p.cost for p in progress]),
                          ("α·J_content", [settings.alpha * p.content for p in progress]),
                          ("β·J_style", [settings.beta * p.style for p in progress])):
        ax.semilogy(steps, values, label=label)
    ax.set(xlabel="iteration", ylabel="cost", title="tubingen + starry night, 256 px")
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--iters", type=int, default=10, help="timed iterations at 256 px (half as many above)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each; the fastest counts")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"],
                        help="cuda is skipped when no GPU is present")
    parser.add_argument("--quality-iters", type=int, default=300)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--worker", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    compare(args)
    if args.quality:
        quality(args)


if __name__ == "__main__":
    main()
