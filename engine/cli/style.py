"""Style commands: `style` (neural style transfer) and `convnet` (what a VGG19 unit responds to)."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..config import VGG19_CONV_LAYERS, load_settings
from ..errors import BadInput
from . import EXIT_OK, output_file
from .progress import ProgressBar


def register(commands) -> None:
    style = commands.add_parser("style", help="paint CONTENT in the style of STYLE (Gatys et al. 2015)")
    style.add_argument("content", type=Path)
    style.add_argument("styles", nargs="+", type=Path, metavar="style")
    style.add_argument("-o", "--output", type=output_file, required=True, help="PNG file; the settings are stored in it")
    style.add_argument("--style-weights", type=float, nargs="+", help="blend weights, one per style image")
    for flag, kind, key in (("--alpha", float, "alpha"), ("--beta", float, "beta"), ("--iters", int, "iterations"),
                            ("--size", int, "size"), ("--tv", float, "tv_weight"), ("--seed", int, "seed"),
                            ("--lr", float, "learning_rate")):
        style.add_argument(flag, type=kind, dest=key, help=f"settings' style.{key}")
    style.add_argument("--optimizer", choices=["lbfgs", "adam"])
    style.add_argument("--init", choices=["noise", "content", "blend"])
    style.add_argument("--preserve-colors", action="store_true", default=None)
    style.add_argument("--cpu", action="store_true", help="do not use a GPU even if one is present")
    style.set_defaults(run=run_style)

    convnet = commands.add_parser("convnet", help="the nine image patches that excite VGG19 units most")
    convnet.add_argument("--layer", default="conv3_1", choices=VGG19_CONV_LAYERS)
    convnet.add_argument("--units", type=int, nargs="+", default=list(range(8)))
    convnet.add_argument("--folder", type=Path, help="images to scan (default: the set shipped in resources/)")
    convnet.add_argument("-o", "--output", type=output_file, required=True, help="PNG grid: one row of nine per unit")
    convnet.set_defaults(run=run_convnet)


STYLE_KEYS = ("alpha", "beta", "iterations", "size", "tv_weight", "seed", "learning_rate", "optimizer", "init",
              "preserve_colors")


def run_style(args) -> int:
    from ..images import load_image
    from ..style.transfer import StyleTransfer, estimate_memory, save_png_with_recipe

    overrides = {key: getattr(args, key) for key in STYLE_KEYS if getattr(args, key) is not None}
    settings = dataclasses.replace(load_settings().style, **overrides)
    if args.style_weights and len(args.style_weights) != len(args.styles):
        raise BadInput("Give one --style-weights value per style image.")
    content, styles = load_image(args.content), [load_image(p) for p in args.styles]
    transfer = StyleTransfer(settings, use_gpu=not args.cpu)
    height = round(settings.size * min(content.shape[:2]) / max(content.shape[:2]))
    print(f"{settings.size} px on {transfer.device}, "
          f"about {estimate_memory(height, settings.size, settings) / 2**20:.0f} MB",
          file=sys.stderr)
    bar = ProgressBar(settings.iterations, "style")
    result = transfer.run(content, styles, args.style_weights,
                          on_progress=lambda p: bar.update(p.iteration, f"J={p.cost:.3g}"))
    bar.close()
    save_png_with_recipe(result, args.output, {
        "content": str(args.content), "styles": [str(s) for s in args.styles],
        "style_weights": args.style_weights, "settings": dataclasses.asdict(settings),
    })
    print(f"wrote {args.output}")
    return EXIT_OK


def run_convnet(args) -> int:
    from ..convnet import scan_folder, top_patches_grid

    scan = scan_folder(args.layer, args.folder)
    grid = top_patches_grid(scan, args.units)
    from PIL import Image

    Image.fromarray(grid).save(args.output)
    print(f"wrote {args.output}: units {args.units} of {args.layer}, {len(scan.image_paths)} images scanned")
    return EXIT_OK
