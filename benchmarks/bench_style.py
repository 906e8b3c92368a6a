"""Quality and speed of the style operators (rain, scream) against two baselines.

    python benchmarks/bench_style.py [--photos 8] [--long-side 384] [--sheet docs/style_sheet.jpg]

For each style, on validation photos (train/val split of the project): the style distance to the
painting and the content distance to the photo (both defined in
:mod:`restorable.evaluation.style_metrics`, measured with random networks independent of the
training loss network; lower is better for each, and the two pull against each other), for

- ``ours``       the shipped network,
- ``reinhard``   colour-statistics transfer (Reinhard et al. 2001, Lab mean/std),
- ``untrained``  the same architecture with its random initial weights (seed 0),
- ``photo``      the photo itself (content distance 0 by definition; a reference point),

plus the time to stylise one 640x480 image on the CPU with one thread.

Last run (shipped weights, 8 validation photos at 384 px, 2-core shared CPU, 1 thread)::

    style   method     style_dist content_dist
    rain    ours           0.0324       0.5281
    rain    reinhard       0.1852       0.4345
    rain    untrained      0.8534       0.8419
    rain    photo          0.8666       0.0000
    scream  ours           0.0153       0.4718
    scream  reinhard       0.1595       0.4299
    scream  untrained      0.8757       0.8419
    scream  photo          1.6577       0.0000
    time rain: 0.639 s per 640x480 image (CPU, 1 thread)
    time scream: 0.644 s per 640x480 image (CPU, 1 thread)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restorable.data.pairs import shared_photos
from restorable.evaluation.style_metrics import (
    STYLE_SIZE,
    content_distance,
    reinhard_colour_transfer,
    resize_long,
    style_distance,
)
from restorable.operators.style_transfer import StyleNet, load_style_net, run_net, stylise
from restorable.training.style import load_style, split_photos

STYLES = {
    "rain": str(shared_photos().parent / "styles" / "rain_princess.jpg"),
    "scream": str(shared_photos().parent / "styles" / "the_scream.jpg"),
}
SHEET_PHOTOS = [
    "scikit-image__astronaut.jpg",
    "scikit-image__chelsea.jpg",
    "gcompris-qt-data__explore_monuments__france_montStMichel.jpg",
    "lomiri-wallpapers-16.04__aitzgorri_by_Aitzol_Berasategi.jpg",
]


def _read(path: Path, long_side: int) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return resize_long(img, long_side)


def bench_photos(n: int) -> list[Path]:
    """The sheet photos first, then further validation photos (sorted) up to ``n``."""
    val = split_photos(shared_photos(), "val")
    first = [p for p in val if p.name in SHEET_PHOTOS]
    rest = [p for p in val if p.name not in SHEET_PHOTOS]
    return (first + rest)[:n]


def time_640x480(name: str, repeats: int = 3) -> float:
    img = np.random.default_rng(0).random((480, 640, 3), dtype=np.float32)
    stylise(img, name)  # load + warm up
    t = time.perf_counter()
    for _ in range(repeats):
        stylise(img, name)
    return (time.perf_counter() - t) / repeats


def write_sheet(path: Path, long_side: int = 360) -> None:
    """Rows: sheet photos; columns: photo, rain, scream (JPEG, quality chosen to stay < 400 KB)."""
    rows = []
    for name in SHEET_PHOTOS:
        img = _read(shared_photos() / name, long_side)
        h, w = img.shape[:2]
        if h > w:  # keep rows the same height: fit portrait photos to the row height
            img = resize_long(img, round(long_side * 0.75))
        cells = [img, stylise(img, "rain"), stylise(img, "scream")]
        rows.append(np.concatenate(cells, axis=1))
    width = max(r.shape[1] for r in rows)
    pad = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows]
    sheet = (np.concatenate(pad, axis=0) * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    for quality in (88, 80, 70, 60):
        Image.fromarray(sheet).save(path, quality=quality, optimize=True)
        if path.stat().st_size < 400_000:
            break
    print(f"sheet: {path} ({path.stat().st_size // 1024} KB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=8, help="number of validation photos")
    ap.add_argument("--long-side", type=int, default=384, help="photo size for the metrics")
    ap.add_argument("--sheet", default=None, help="also write the README sheet (JPEG) here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    photos = [_read(p, args.long_side) for p in bench_photos(args.photos)]
    torch.manual_seed(0)
    untrained = StyleNet().eval()
    print(f"{len(photos)} validation photos at {args.long_side} px long side; lower is better")
    print(f"{'style':7s} {'method':10s} {'style_dist':>10s} {'content_dist':>12s}")
    for name, style_file in STYLES.items():
        style = load_style(Path(style_file), STYLE_SIZE).permute(1, 2, 0).numpy()
        net = load_style_net(name)
        methods = {
            "ours": lambda x, net=net: run_net(net, x),
            "reinhard": lambda x, style=style: reinhard_colour_transfer(x, style),
            "untrained": lambda x: run_net(untrained, x),
            "photo": lambda x: x,
        }
        for method, fn in methods.items():
            scores = []
            for x in photos:
                y = fn(x)
                scores.append((style_distance(y, style), content_distance(y, x)))
            s, c = np.mean(scores, axis=0)
            print(f"{name:7s} {method:10s} {s:10.4f} {c:12.4f}")
    for name in STYLES:
        print(f"time {name}: {time_640x480(name):.3f} s per 640x480 image (CPU, 1 thread)")
    if args.sheet:
        write_sheet(Path(args.sheet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
