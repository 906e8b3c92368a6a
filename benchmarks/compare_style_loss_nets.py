"""Compare the two random loss networks on the same small budget (rain style).

    python benchmarks/compare_style_loss_nets.py [--steps 200] [--out runs/loss_net_compare]

Trains one style network per loss network design (same seed, steps, crops), then writes a PNG
sheet of validation photos (columns: photo, deep, pyramid) and prints the independent metrics of
:mod:`restorable.evaluation.style_metrics` (lower is better for both).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restorable.data.pairs import shared_photos
from restorable.evaluation.style_metrics import content_distance, resize_long, style_distance
from restorable.operators.style_transfer import load_style_net, run_net
from restorable.training.style import load_style
from restorable.training.style_losses import LOSS_NETWORKS

VAL_PHOTOS = [
    "scikit-image__astronaut.jpg",
    "scikit-image__chelsea.jpg",
    "gcompris-qt-data__explore_monuments__france_montStMichel.jpg",
    "lomiri-wallpapers-16.04__aitzgorri_by_Aitzol_Berasategi.jpg",
]


def main(argv: list[str] | None = None) -> int:
    from restorable.training.style import train_style

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default=str(shared_photos().parent / "styles" / "rain_princess.jpg"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--out", default="runs/loss_net_compare")
    ap.add_argument("--kinds", default=",".join(LOSS_NETWORKS))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    kinds = args.kinds.split(",")
    for kind in kinds:
        if not (out / kind / "style_cmp.safetensors").exists():
            train_style(
                args.style,
                "cmp",
                steps=args.steps,
                size=args.size,
                batch=4,
                out_dir=out / kind,
                run_dir=out / kind / "run",
                loss_net=kind,
                log=lambda m: print(m, flush=True),
            )
    style = load_style(Path(args.style), 256).permute(1, 2, 0).numpy()
    rows = []
    scores = {k: [] for k in kinds}
    for name in VAL_PHOTOS:
        img = np.asarray(Image.open(shared_photos() / name).convert("RGB"), np.float32) / 255
        img = resize_long(img, 320)
        row = [img]
        for kind in kinds:
            y = run_net(load_style_net("cmp", out / kind), img)
            scores[kind].append((style_distance(y, style), content_distance(y, img)))
            row.append(y)
        h = min(r.shape[0] for r in row)
        rows.append(np.concatenate([r[:h] for r in row], axis=1))
    w = min(r.shape[1] for r in rows)
    sheet = np.concatenate([r[:, :w] for r in rows], axis=0)
    Image.fromarray((sheet * 255).round().astype(np.uint8)).save(out / "sheet.png")
    for kind in kinds:
        s = np.mean(scores[kind], axis=0)
        print(f"{kind:8s} style_distance {s[0]:.4f} content_distance {s[1]:.4f}")
    print(f"sheet: {out / 'sheet.png'} (columns: photo, {', '.join(kinds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
