"""``restorable train``: every way of training (one operator, ``--all``, ``--pairs``) through
the one recipe source (restorable/training/recipes.py); ``train-style`` registers itself from
restorable/training/style_cli.py."""

from __future__ import annotations

import argparse
import os

from restorable.cli.options import param_option


def cmd_train(args: argparse.Namespace) -> int:
    """``train --op`` / ``--pairs`` / ``--all``: the config from training.recipes (one recipe
    and one argument set for all three; a flag a command cannot honour is refused there)."""
    from restorable.training.recipes import check_flags, one_model_config

    command = check_flags(args)
    if command == "all":
        from restorable.training.everything_cli import run

        return run(args)
    from restorable.training.train import train

    cfg = one_model_config(args, command)
    run = train(cfg, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    stem = cfg.name or cfg.op
    print(f"model written to {run}/{stem}.safetensors")
    if cfg.pairs:
        from restorable.training.from_pairs import install_user_model

        dest = install_user_model(run, cfg.name)
        print(f"installed into {dest}: restorable apply --op {cfg.name}")
        return 0
    if args.install:
        from restorable.models import WEIGHTS_DIR, install_model

        print(f"installed into {install_model(run, stem, WEIGHTS_DIR)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` (and ``train-style``, when its module imports)."""
    s = sub.add_parser("train", help="train a restorable model for an operator (or --all)")
    s.add_argument("--op", help="operator id (or --all)")
    s.add_argument("--photos", help="folder of your own photos (default: the project's split)")
    s.add_argument("--steps", type=int)
    s.add_argument("--minutes", type=float, help="wall-clock budget (schedule follows the time)")
    s.add_argument("--batch", type=int)
    s.add_argument("--crop", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument(
        "--ema", type=float, help="keep and save an average of the weights, e.g. 0.999 (0: off)"
    )
    s.add_argument("--seed", type=int)
    s.add_argument("--threads", type=int, help="CPU threads for torch")
    s.add_argument("--device", choices=["cpu", "cuda"])
    s.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="auto (default): bf16 autocast where the device computes bf16 natively",
    )
    s.add_argument(
        "--scales",
        type=float,
        nargs="+",
        metavar="S",
        help="train also on copies of the photos rescaled so their longer side is S × the "
        "training size (max_side 640: 0.5 0.75 give 320 and 480 px; a photo too small for a "
        "copy gets none, never an upscale), each with its own f(I); validation stays plain",
    )
    s.add_argument(
        "--jitter",
        type=int,
        metavar="N",
        help="train also on N copies of each photo with exposure (±0.7 stop) and colour "
        "(±8%% per channel, ±15%% saturation) jitter, each with its own f(I); the ranges: "
        "augment in a --config file (data/augment.py)",
    )
    param_option(s, "operator parameter (repeatable)")
    s.add_argument("--config", help="JSON training config (see configs/)")
    s.add_argument("--jpeg", action="store_true", help="compression-aware training (JPEG 70-95)")
    s.add_argument("--blocks", type=int, help="invertible blocks k in φ (default 8)")
    s.add_argument(
        "--refine",
        type=int,
        metavar="WIDTH",
        help="grow ρ, a restore-side refiner of this width (e.g. 32; 0: none, the paper's), on "
        "a model carried on with --init-from (network/refine.py)",
    )
    s.add_argument(
        "--whole",
        choices=["none", "film", "grid", "curve"],
        help="ψ's view of the whole photo (network/whole_photo.py): none (the paper's), film "
        "(a thumbnail-pooled vector modulating ψ), grid (that and a bilateral-grid estimate), "
        "curve (that and per-photo tone curves); "
        "learned models default to film (curve for bwp, grid for exposure); also grows the "
        "path on a model carried on with --init-from",
    )
    s.add_argument(
        "--estimate",
        choices=["none", "pyramid", "histogram", "bilateral", "grade"],
        help="a learned estimate of f(I) that ψ reads as a guided model's ψ reads the "
        "operator's output, run on the whole photo: pyramid (a learned local Laplacian filter, "
        "network/pyramid_psi.py), histogram (tones and texture moved to learned "
        "distributions, network/histogram_psi.py), bilateral (a blend of a bilateral and a "
        "grey-guided box filter with fitted settings, network/bilateral_psi.py) or grade (a "
        "colour grade computed from the photo's statistics, network/grade_psi.py; the "
        "default of --pairs), fitted before training; on a guided model "
        "carried on with --init-from it makes a learned one (no operator at apply time)",
    )
    s.add_argument(
        "--refit-estimate",
        action="store_true",
        help="fit the learned estimate again although the weights of --init-from bring a "
        "fitted one (after its fit has changed)",
    )
    s.add_argument(
        "--loss-weights",
        type=float,
        nargs=3,
        metavar=("APPROX", "RESTORE", "DELTA"),
        help="loss weights λa λr λΔ (default 4 1 0.1)",
    )
    s.add_argument(
        "--adversarial",
        type=float,
        metavar="W",
        help="weight of a patch-discriminator term (Type III texture; default 0)",
    )
    s.add_argument("--no-psi", action="store_true", help="ablation: no encoder-decoder ψ")
    s.add_argument("--no-restore-loss", action="store_true", help="ablation: no restoration loss")
    s.add_argument(
        "--guided",
        action="store_true",
        help="ψ also reads the classic operator's output (apply runs the operator)",
    )
    s.add_argument(
        "--cond",
        action="store_true",
        help="one model (OP-cond) for a range of the main setting: l0 lam 0.01-0.04, llf alpha "
        "0.1-1, exposure gain 1.25-4 (Table 3)",
    )
    s.add_argument("--name", help="model name, e.g. l0-jpeg (default: the operator id)")
    s.add_argument(
        "--pairs",
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="learn your own edit from examples: images matched by name in two folders; the "
        "model (--name) goes into your models folder (default 20 minutes)",
    )
    s.add_argument("--run-dir", help="where checkpoints and logs go (default runs/OP)")
    s.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    s.add_argument("--install", action="store_true", help="copy the model into the package")
    from restorable.training.everything_cli import add_arguments

    add_arguments(s)
    s.set_defaults(fn=cmd_train)

    try:
        from restorable.training.style_cli import register_cli
    except ImportError:
        pass
    else:
        register_cli(sub)
