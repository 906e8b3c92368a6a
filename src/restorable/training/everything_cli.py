"""``restorable train --all``: the options that only the train-everything run has, and its
handler (called by the main CLI's ``train`` when ``--all`` is given).

    restorable train --all [--ops l0,llf] [--variants png,jpeg,learned,ied,stega] [--device cuda]
                     [--minutes M | --model-minutes M] [--out DIR] [--install]
"""

from __future__ import annotations

import argparse


def add_arguments(s: argparse.ArgumentParser) -> None:
    """The ``--all`` options, added to the ``train`` subcommand."""
    g = s.add_argument_group("train everything (--all)")
    g.add_argument("--all", action="store_true", help="train every operator's models at once")
    g.add_argument("--ops", help="comma-separated operator ids (default: all twelve)")
    g.add_argument(
        "--variants",
        help="comma-separated: png (OP), jpeg (OP-jpeg), learned (OP-learned), learned-wide "
        "(a wider ψ on larger crops), the paper's baselines ied and stega (OP-ied, OP-stega), "
        "its ablations ablation-no-psi, ablation-k4, ablation-no-restore-loss "
        "(OP-ablation-...), cond (OP-cond: one model for a range of l0's lam, llf's alpha, "
        "exposure's gain; Table 3). VARIANT:OP+OP trains that variant on those operators only "
        "(e.g. ied:l0+llf); default png,jpeg. With --op: the one variant to train (e.g. learned)",
    )
    g.add_argument("--out", help="folder for runs, weights, results (default runs-all)")
    g.add_argument(
        "--model-minutes",
        type=float,
        help="minutes per fresh model (forks half) instead of splitting --minutes",
    )
    g.add_argument("--workers", type=int, help="models trained at once (default: by device)")
    g.add_argument("--eval-photos", type=int, help="validation photos per eval (default all 40)")
    g.add_argument(
        "--init-from",
        help="earlier weights to carry on from: a folder of NAME.safetensors (with --all, or "
        "for --op), or one .safetensors file (--op); the net comes from the card beside them",
    )
    g.add_argument("--retrain", action="store_true", help="start the chosen models afresh")


def run(args: argparse.Namespace) -> int:
    from restorable.training.everything import install, train_all
    from restorable.training.recipes import TUNING, base_from_args

    # the same config file and tuning flags as one model's; --minutes is the whole run's budget
    base = base_from_args(args, [k for k in TUNING if k != "minutes"])
    base.pop("op", None)
    out = args.out or "runs-all"
    ops = [o for o in (args.ops or "").split(",") if o] or None
    variants = [v for v in (args.variants or "png,jpeg").split(",") if v]
    summary = train_all(
        ops,
        variants,
        out,
        device=args.device or "cpu",
        minutes=60.0 if args.minutes is None else args.minutes,
        model_minutes=args.model_minutes,
        workers=args.workers,
        photos=args.photos,
        base=base,
        eval_photos=args.eval_photos,
        retrain=args.retrain,
        init_from=args.init_from,
    )
    failed = [s for s in summary if "error" in s]
    for s in failed:
        print(f"error: {s['name']}: {s['error']}")
    print(f"{len(summary) - len(failed)} models trained, {len(failed)} failed; see {out}/")
    if args.install:
        names = install(out)
        print(f"installed {len(names)} models: {' '.join(names)}")
    return 1 if failed else 0
