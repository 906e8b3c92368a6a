"""How much context a tiled apply needs: tiled against one pass, as a function of the overlap.

    python benchmarks/bench_overlap.py [--models l0 llf bwp-learned] [--overlaps 32 64 96 288]
        [--megapixels 3] [--tile 1024] [--photos 3] [--restore [--no-apply]] [--json PATH]

ψ's *theoretical* reach is 288 px per side (models.RECEPTIVE_FIELD: two stride-2 levels and
dilated blocks at 1/8 resolution), and tiles used to overlap by all of it, so a 24-megapixel
apply computed about twice the photo's pixels. What matters for the 8-bit output is the
*effective* reach: how far a pixel's context still moves the rounded result. For each model,
photo and overlap this prints the tiled 8-bit output against one pass: the largest level
difference, the fraction of pixels that differ, the PSNR between the two, and the seconds.

Photos: validation photos of ``../shared/photos`` (every tenth, sorted; else the bundled
samples), the largest ones, resized (Lanczos) to ``--megapixels``, and a mosaic of four of them
at their own resolution (real fine detail, and sharp seams between photos). A guided model's
guide is computed once per photo and shared by every run (only the network is tiled).
``--restore`` does the same for restore (from the one-pass apply's output).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _photos(count: int, megapixels: float) -> list[tuple[str, np.ndarray]]:
    import cv2

    from restorable.files import read_image

    shared = ROOT.parent / "shared" / "photos"
    files = sorted(shared.glob("*.jpg"))[::10] if shared.is_dir() else []
    if not files:
        files = sorted((ROOT / "src/restorable/samples").glob("*.jpg"))
    imgs = [(f.stem, read_image(f)) for f in files]
    imgs.sort(key=lambda t: -t[1].shape[0] * t[1].shape[1])
    out = []
    for name, img in imgs[:count]:
        aspect = img.shape[1] / img.shape[0]
        h = round((megapixels * 1e6 / aspect) ** 0.5)
        w = round(h * aspect)
        out.append((name, cv2.resize(img, (w, h), interpolation=cv2.INTER_LANCZOS4)))
    # a mosaic of four photos at their own resolution: real detail, hard seams between them
    four = [img for _, img in imgs[count : count + 4]]
    if len(four) == 4:
        h = min(i.shape[0] for i in four)
        w = min(i.shape[1] for i in four)
        tiles = [i[:h, :w] for i in four]
        rows = [np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)]
        out.append(("mosaic", np.concatenate(rows, axis=0)))
    return out


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Largest level difference, fraction of differing pixels (any channel) and PSNR."""
    d = np.abs(a.astype(np.int16) - b)
    mse = float((d.astype(np.float64) ** 2).mean())
    return {
        "max_levels": int(d.max()),
        "frac_differ": float(d.any(axis=2).mean()),
        "psnr": float("inf") if mse == 0 else 10 * np.log10(255**2 / mse),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["l0", "llf", "bwp-learned"])
    p.add_argument("--overlaps", nargs="+", type=int, default=[16, 32, 48, 64, 96, 128, 288])
    p.add_argument("--megapixels", type=float, default=3.0)
    p.add_argument("--tile", type=int, default=1024, help="tile side of the tiled runs")
    p.add_argument("--photos", type=int, default=2, help="resized photos (plus one mosaic)")
    p.add_argument("--restore", action="store_true", help="also restore's overlaps")
    p.add_argument("--no-apply", action="store_true", help="restore's overlaps only")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()

    from restorable.evaluation.metrics import psnr
    from restorable.models import load

    def save(rows: list[dict]) -> None:  # after every row: a stopped run keeps its figures
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")

    rows: list[dict] = []
    photos = _photos(args.photos, args.megapixels)
    for name in args.models:
        model = load(name)
        theory = model.apply_overlap
        for pname, img in photos:
            guide = model.guide(img)
            model.guide = lambda *a, _g=guide, **k: _g  # the network alone from here
            t = time.perf_counter()
            one = model.apply(img, tile=None)
            t_one = time.perf_counter() - t
            mp = img.shape[0] * img.shape[1] / 1e6
            print(f"{name} {pname} {img.shape[1]}x{img.shape[0]} one pass {t_one:.1f} s")
            for o in [] if args.no_apply else args.overlaps:
                model.apply_overlap = o
                t = time.perf_counter()
                tiled = model.apply(img, tile=max(args.tile, 2 * o + 64))
                row = {"model": name, "photo": pname, "mp": mp, "overlap": o, "what": "apply"}
                row.update(compare(one, tiled), seconds=time.perf_counter() - t, one=t_one)
                rows.append(row)
                save(rows)
                print(
                    f"  apply overlap {o:4d}: max {row['max_levels']} levels, "
                    f"{row['frac_differ']:.2e} of pixels differ, {row['psnr']:.1f} dB, "
                    f"{row['seconds']:.1f} s"
                )
            model.apply_overlap = theory
            if args.restore:
                r_theory = model.restore_receptive_field
                r_one = model.restore(one, tile=None)
                base = psnr(img, r_one)
                for o in args.overlaps:
                    if o > r_theory:
                        continue
                    model.restore_receptive_field = o
                    t = time.perf_counter()
                    r = model.restore(one, tile=max(args.tile, 2 * o + 64))
                    row = {"model": name, "photo": pname, "mp": mp, "overlap": o}
                    row.update(compare(r_one, r), what="restore", seconds=time.perf_counter() - t)
                    row["restored_psnr_delta"] = psnr(img, r) - base
                    rows.append(row)
                    save(rows)
                    print(
                        f"  restore overlap {o:4d}: max {row['max_levels']} levels, "
                        f"{row['frac_differ']:.2e} differ, restored PSNR "
                        f"{row['restored_psnr_delta']:+.4f} dB vs one pass"
                    )
                model.restore_receptive_field = r_theory
            del model.guide


if __name__ == "__main__":
    main()
