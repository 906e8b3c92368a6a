"""Learn a restorable version of an edit nobody wrote as an operator: an ImageMagick colour grade.

    N training photos ─► BEFORE/*.png (≤ 640 px)
                    └──► convert -modulate 110,130,95 -sigmoidal-contrast 4x50% ─► AFTER/*.png
    restorable train --pairs BEFORE AFTER --name magick-grade --minutes M
    ─► eval on the held-back tenth: approx (stored PNG vs AFTER), restore (vs BEFORE), identity

    python benchmarks/learn_from_pairs.py --minutes 10 [--photos 60] [--device cuda]
    python benchmarks/learn_from_pairs.py --recipe "-auto-level -auto-gamma" --whole none
                                          # a whole-photo edit, with and without ψ's thumbnail

The model installs into a private ``RESTORABLE_HOME`` under ``--out`` (yours is left alone
unless ``--install``). "identity" is what leaving the photo unchanged scores against AFTER:
the approximation must beat it for the model to have learned the edit at all.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from restorable.network.whole_photo import KINDS

RECIPE = "-modulate 110,130,95 -sigmoidal-contrast 4x50%"


def make_pairs(out: Path, n: int, recipe: str, max_side: int) -> tuple[Path, Path]:
    """BEFORE: the first ``n`` training photos downscaled; AFTER: ImageMagick's ``recipe``."""
    from restorable.data.pairs import photo_paths, resize_max_side
    from restorable.files import read_image, write_image

    if shutil.which("convert") is None:
        raise SystemExit("ImageMagick's convert is needed (apt-get install imagemagick)")
    before, after = out / "before", out / "after"
    before.mkdir(parents=True, exist_ok=True)
    after.mkdir(exist_ok=True)
    for path in photo_paths(None, "train")[:n]:
        b, a = before / f"{path.stem}.png", after / f"{path.stem}.png"
        if not b.exists():
            write_image(b, resize_max_side(read_image(path), max_side))
        if not a.exists():  # PNG24: 8-bit RGB whatever the content
            cmd = ["convert", str(b), *shlex.split(recipe), f"PNG24:{a}"]
            subprocess.run(cmd, check=True, capture_output=True)
    return before, after


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training budget")
    p.add_argument("--photos", type=int, default=60, help="pairs to make (every tenth held back)")
    p.add_argument("--recipe", default=RECIPE, help="convert options (default: the recipe above)")
    p.add_argument("--name", default="magick-grade")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--max-side", type=int, default=640, help="BEFORE photos' longer side")
    p.add_argument("--out", default="runs/learn-from-pairs", help="pairs, run and model go here")
    p.add_argument("--install", action="store_true", help="install into your models folder")
    p.add_argument(
        "--whole",
        choices=["none", *KINDS[1:]],
        help="ψ's view of the whole photo (default: train --pairs' own, grid)",
    )
    p.add_argument(
        "--estimate",
        choices=["none", "grade"],
        help="the whole-photo estimate ψ reads (default: train --pairs' own)",
    )
    p.add_argument(
        "--estimate-minutes",
        type=float,
        help="the estimate's fit, before the --minutes of training (default: the recipe's)",
    )
    p.add_argument(
        "--init-from",
        help="start from these weights (a shipped guided model's: its ψ already reads a guide)",
    )
    p.add_argument("--lr", type=float, help="learning rate (default: train --pairs' own)")
    args = p.parse_args()

    out = Path(args.out)
    if not args.install:
        os.environ["RESTORABLE_HOME"] = str((out / "home").resolve())
    from restorable.evaluation.evaluate import evaluate_model
    from restorable.models import load
    from restorable.training.from_pairs import learn_from_pairs

    before, after = make_pairs(out, args.photos, args.recipe, args.max_side)
    t0 = time.time()
    overrides: dict = {"threads": args.threads} if args.threads else {}
    if args.whole:
        whole = "" if args.whole == "none" else args.whole
        overrides["net"] = {"whole": whole}
        if whole == "grid":
            overrides["loss"] = {"estimate": 4.0}
    if args.estimate:
        overrides["net"] = {
            **overrides.get("net", {}),
            "estimate": "" if args.estimate == "none" else args.estimate,
        }
    if args.init_from:  # carried on as train --pairs carries its starting weights on
        from restorable.training.from_pairs import CARRY_ON

        overrides.update(CARRY_ON, init_from=str(Path(args.init_from).resolve()))
    if args.lr:
        overrides["lr"] = args.lr
    if args.estimate_minutes is not None:
        overrides["estimate_minutes"] = args.estimate_minutes
    shutil.rmtree(out / "run", ignore_errors=True)  # a fresh run each time
    folder = learn_from_pairs(
        before,
        after,
        args.name,
        minutes=args.minutes,
        device=args.device,
        run_dir=out / "run",
        overrides=overrides,
    )
    model = load(args.name)
    r = evaluate_model(model, jpeg_qualities=[90], progress=False)
    png, jpg = r["mean"]["png"], r["mean"]["jpeg90"]
    steps = model.card.training["steps"]
    pairs = len(list(before.glob("*.png")))  # the folder's, which earlier runs may have grown
    print(f"edit: convert {args.recipe}; {pairs} pairs, {r['photos']} held back for eval")
    print(f"ψ's whole-photo path: {model.net.cfg.whole or 'none'}")
    print(f"ψ's estimate: {model.net.cfg.estimate or 'none'}")
    print(f"trained {steps} steps in {(time.time() - t0) / 60:.1f} min on {args.device}")
    print(f"model installed in {folder}")
    print(f"{'':22} {'PSNR':>7} {'SSIM':>7}")
    print(f"{'approx. (vs AFTER)':22} {png['approx_psnr']:7.2f} {png['approx_ssim']:7.4f}")
    print(f"{'restore PNG':22} {png['restore_psnr']:7.2f} {png['restore_ssim']:7.4f}")
    print(f"{'restore JPEG q90':22} {jpg['restore_psnr']:7.2f} {jpg['restore_ssim']:7.4f}")
    print(f"{'identity (BEFORE)':22} {r['identity_approx_psnr']:7.2f}   (leaving it unchanged)")
    if "estimate_psnr" in r:
        print(f"{'estimate alone':22} {r['estimate_psnr']:7.2f}   (what ψ reads)")


if __name__ == "__main__":
    main()
