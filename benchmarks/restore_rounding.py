"""What limits a model's restoration: the 8-bit rounding of the stored image, or Δ = 0?
Restoration PSNR on validation photos from the unrounded output, the stored 8-bit one (as
restore does, through ρ where the model has one), and the 8-bit one with the true Δ.

    python benchmarks/restore_rounding.py --op bwp [--limit 10] [--models DIR]
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
    p.add_argument("--op", default="bwp", help="model name")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--models", help="folder of the model (default: shipped, then yours)")
    args = p.parse_args()
    model = load(args.op, args.models)
    net = model.net.float().eval()
    paths = photo_paths(None, "val")[: args.limit]
    pairs = load_pairs(compute_pairs(model.card.op, paths, model.card.params, None))
    names = ("unrounded output, Δ = 0", "8-bit output, Δ = 0 (restore)", "8-bit output, true Δ")
    scores: dict[str, list[float]] = {k: [] for k in names}
    for img, ref in pairs:
        x, (h, w) = pad_to_multiple(img.astype(np.float32) / 255, model.multiple)
        g = pad_to_multiple(ref.astype(np.float32) / 255, model.multiple)[0]
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa: E731
        with torch.no_grad():
            out, delta = net(as_t(x), as_t(g) if net.cfg.guided else None)
            stored = torch.round(out.clamp(0, 1) * 255) / 255
            backs = (net.inverse(out), net.inverse(stored), net.inverse(stored, delta))
        for name, back in zip(names, backs, strict=True):
            restored = to_uint8(back[0].permute(1, 2, 0).numpy()[:h, :w])
            scores[name].append(psnr(restored, img))
    print(f"{model.card.stem}: restoration PSNR on {len(pairs)} validation photos")
    for name, values in scores.items():
        print(f"  {name:32} {np.mean(values):6.2f} dB")


if __name__ == "__main__":
    main()
