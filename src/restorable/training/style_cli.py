"""The ``restorable train-style`` subcommand (registered by the main CLI via ``register_cli``).

::

    restorable train-style --style painting.jpg --name mystyle [--photos DIR] [--steps N]
                           [--resume] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from restorable.errors import RestorableError

HELP = "train a fast style-transfer network for a painting of your own"

DESCRIPTION = """\
Train a feed-forward style-transfer network (Johnson et al. 2016) that repaints photos in the
style of one painting. The loss uses fixed random-weight features (no pretrained network is
needed). Training runs on the CPU with one thread; checkpoints go to runs/style_NAME/ every few
minutes, and --resume continues an interrupted run. The result is style_NAME.safetensors plus a
JSON of training facts in --out (default: the package's weights folder, where a file named
style_rain / style_scream becomes the operator of that name).
"""


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train-style`` subcommand to ``subparsers``; its handler is ``args.fn``."""
    p = subparsers.add_parser(
        "train-style",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--style", required=True, metavar="IMG", help="the painting (an image file)")
    p.add_argument("--name", required=True, help="name of the style (letters, digits, _ or -)")
    p.add_argument(
        "--photos",
        metavar="DIR",
        default=None,
        help="folder of training photos (default: the project's photos, train split)",
    )
    p.add_argument("--steps", type=int, default=2600, help="training steps (default 2600)")
    p.add_argument("--size", type=int, default=192, help="crop size in pixels (default 192)")
    p.add_argument("--batch", type=int, default=2, help="crops per step (default 2)")
    p.add_argument(
        "--style-weight", type=float, default=5.0, help="weight of the Gram loss (default 5)"
    )
    p.add_argument("--resume", action="store_true", help="continue from runs/style_NAME/")
    p.add_argument(
        "--out", metavar="DIR", default=None, help="where to write the weights (default: package)"
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.set_defaults(fn=run_train_style, func=run_train_style)  # main CLI dispatches on fn
    return p


def run_train_style(args: argparse.Namespace) -> int:
    """Handler of ``train-style``: returns a process exit code (0 on success)."""
    import torch
    from tqdm import tqdm

    from restorable.training.style import train_style

    style = Path(args.style)
    if not style.is_file():
        raise RestorableError(f"{style}: no such image file")
    if not args.name.replace("_", "").replace("-", "").isalnum():
        raise RestorableError(f"style name {args.name!r} may only hold letters, digits, _ and -")
    if args.steps < 1:
        raise RestorableError("--steps must be at least 1")
    if args.photos is not None and not Path(args.photos).is_dir():
        raise RestorableError(f"{args.photos}: not a folder")
    torch.set_num_threads(max(1, args.threads))

    bar = tqdm(total=args.steps, desc=f"train-style {args.name}", unit="step")

    def progress(step: int, parts: dict) -> None:
        bar.n = step
        bar.set_postfix(loss=f"{parts['loss']:.3f}", refresh=False)
        bar.refresh()

    try:
        path = train_style(
            style,
            args.name,
            photos_dir=args.photos,
            steps=args.steps,
            size=args.size,
            batch=args.batch,
            out_dir=args.out,
            resume=args.resume,
            style_weight=args.style_weight,
            log=bar.write,
            progress=progress,
        )
    except ValueError as e:
        raise RestorableError(str(e)) from None
    finally:
        bar.close()
    print(f"wrote {path}")
    return 0
