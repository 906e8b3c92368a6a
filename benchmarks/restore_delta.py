"""Restore with Δ = 0 (the paper) or with Gaussian noise in place of Δ (the authors' code):
restoration PSNR of each on validation photos, stored as 8-bit PNG.

    python benchmarks/restore_delta.py --op l0 [--limit 20]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from restorable.data.pairs import compute_pairs, load_pairs, photo_paths
from restorable.evaluation.metrics import psnr
from restorable.image import to_uint8
from restorable.models import load
from restorable.tiling import pad_to_multiple


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--op", default="l0")
    p.add_argument("--limit", type=int, default=20)
    args = p.parse_args()
    model = load(args.op)
    paths = photo_paths(None, "val")[: args.limit]
    pairs = load_pairs(compute_pairs(model.card.op, paths, model.card.params, None))
    # zero: no Δ at all, as restore runs (a model with ρ refines only then, network/refine.py)
    choices = {"zero": None, "noise N(0, 0.01²)": 0.01, "noise N(0, 1) (authors' code)": 1.0}
    scores: dict[str, list[float]] = {k: [] for k in choices}
    gen = torch.Generator().manual_seed(0)
    for img, ref in pairs:
        x = img.astype(np.float32) / 255
        guide = ref.astype(np.float32) / 255 if model.net.cfg.guided else None
        stored = to_uint8(model.apply_float(x, guide))
        yp, (h, w) = pad_to_multiple(stored.astype(np.float32) / 255, model.multiple)
        y = torch.from_numpy(np.ascontiguousarray(yp)).permute(2, 0, 1)[None]
        for name, sigma in choices.items():
            shape = (1, 12, y.shape[2] // 2, y.shape[3] // 2)
            delta = None if sigma is None else sigma * torch.randn(shape, generator=gen)
            with torch.no_grad():
                back = model.net.inverse(y, delta)[0].permute(1, 2, 0).numpy()[:h, :w]
            scores[name].append(psnr(to_uint8(back), img))
    print(f"{model.op}: restoration PSNR on {len(pairs)} validation photos (PNG)")
    for name, values in scores.items():
        print(f"  Δ = {name:32} {np.mean(values):6.2f} dB")


if __name__ == "__main__":
    main()
