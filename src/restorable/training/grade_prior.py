"""The starting weights of ``train --pairs``: a network that already carries a grade through.

A model learned from a user's pairs reads the grade estimate (``network/grade_psi.py``), which
on ImageMagick's ``-auto-level -auto-gamma`` reproduces the held-back AFTER images to 45 dB after
a 2-minute fit. Started from nothing, the network around it approximated them to only 32.15 dB
after 8 more CPU minutes (1165 steps): in that time ψ does not learn to carry its guide into the
output. Started from the guided ``l0``'s weights, whose ψ carries a guide best of the shipped
models (fed this estimate untrained: ``l0`` 33.7 dB, ``wmf`` 32.9, ``llf`` 31.6, ``exposure``
16.0), it reached 36.47 / 39.32 dB (approx. / restore).

So the starting weights are trained once, here, for that one skill: pairs of the project's
training photos under random grades (levels, gamma, an S-curve, a partial equalize, saturation
and channel gains, drawn per photo), ψ reading the AFTER image itself as its guide
(``TrainConfig.target_guide``), carried on from the guided ``l0``'s weights. After 30 CPU
minutes (one thread, 2026-12-05) a model learned from the auto-level pairs from them reached
39.40 / 38.98 dB in the same 10 minutes. ``train --pairs`` starts from them
(``from_pairs.START``) and fits its own estimate. Run once, by a maintainer; the weights ship
in ``restorable/weights/priors`` (fp16; not a model ``list`` shows)::

    python -m restorable.training.grade_prior --minutes 30 --threads 1 --install
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np

from restorable.network.grade_psi import LUMA
from restorable.training.from_pairs import START as PRIOR

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


def random_grade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 HxWx3 → the photo under a random global grade (uint8): what photo editors' tone
    and colour controls do, each drawn from ``rng``."""
    x = img[..., :3].astype(np.float64) / 255
    if rng.random() < 0.5:  # a partial equalize: towards each channel's cumulative histogram
        share = rng.uniform(0.2, 1.0)
        for c in range(3):
            counts = np.bincount(img[..., c].ravel(), minlength=256)[:256]
            cdf = np.cumsum(counts) / max(counts.sum(), 1)
            x[..., c] = (1 - share) * x[..., c] + share * cdf[img[..., c]]
    black = rng.uniform(0.0, 0.15) + rng.uniform(-0.03, 0.03, 3)
    white = rng.uniform(0.8, 1.0) + rng.uniform(-0.03, 0.03, 3)
    x = np.clip((x - black) / (white - black), 0, 1)
    x = x ** np.exp(rng.uniform(-0.6, 0.6) + rng.uniform(-0.15, 0.15, 3))
    if rng.random() < 0.6:  # sigmoidal contrast (ImageMagick's form), or its inverse
        k, mid = rng.uniform(1.0, 7.0), rng.uniform(0.3, 0.7)
        lo, hi = 1 / (1 + np.exp(k * mid)), 1 / (1 + np.exp(k * (mid - 1)))
        s = (1 / (1 + np.exp(k * (mid - x))) - lo) / (hi - lo)
        x = s if rng.random() < 0.75 else 2 * x - s
    grey = x @ LUMA
    x = grey[..., None] + rng.uniform(0.4, 1.7) * (x - grey[..., None])
    x = x * rng.uniform(0.85, 1.15, 3)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def make_pairs(out: Path, max_side: int = 640, seed: int = 0) -> tuple[Path, Path]:
    """BEFORE: the project's training photos (never the validation split) at ``max_side``;
    AFTER: each under its own random grade, seeded by its name."""
    from tqdm import tqdm

    from restorable.data.pairs import photo_paths, resize_max_side
    from restorable.files import read_image, write_image

    before, after = out / "before", out / "after"
    before.mkdir(parents=True, exist_ok=True)
    after.mkdir(exist_ok=True)
    for path in tqdm(photo_paths(None, "train"), desc="graded pairs", leave=False):
        b, a = before / f"{path.stem}.png", after / f"{path.stem}.png"
        if b.exists() and a.exists():
            continue
        img = resize_max_side(read_image(path), max_side)
        rng = np.random.default_rng([seed, zlib.crc32(path.stem.encode())])
        write_image(b, img)
        write_image(a, random_grade(img, rng))
    return before, after


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="training budget")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", default="runs/pairs-prior", help="pairs and run go here")
    p.add_argument("--resume", action="store_true", help="carry on the run's checkpoint")
    p.add_argument(
        "--init-from",
        default=str(WEIGHTS / "l0.safetensors"),
        help="weights to start from (default: the guided l0's, whose ψ carries a guide best)",
    )
    p.add_argument("--install", action="store_true", help="ship the weights (weights/priors)")
    args = p.parse_args()

    from restorable.models import load, save_model
    from restorable.training.from_pairs import CARRY_ON, pairs_config
    from restorable.training.train import TrainConfig, train

    out = Path(args.out)
    before, after = make_pairs(out)
    base = {"init_from": args.init_from, "net": {"whole": "film", "estimate": "grade"}}
    base.update(CARRY_ON)  # from a trained model, as configs/carry-on.json carries one on
    cfg = pairs_config(before, after, "pairs-prior", args.device, base=base)
    cfg.update(minutes=args.minutes, run_dir=str(out / "run"), target_guide=True)
    if args.threads:
        cfg["threads"] = args.threads
    run = train(TrainConfig.from_dict(cfg), progress=True, resume=args.resume)
    if args.install:  # fp16, as the models ship: a starting point, trained on from there
        model = load("pairs-prior", run)
        save_model(model.net, model.card, PRIOR.parent, half=True)
        print(f"installed {PRIOR}")


if __name__ == "__main__":
    main()
