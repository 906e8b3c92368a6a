"""Downscaled copy of the project's photos, small enough to travel to a lent GPU machine.

    python -m restorable.data.carry --out carry/photos [--max-side 640]

The GPU machine cannot see ``../shared``; a working tree of at most 64 MiB travels. The 361
photos at 640 px (JPEG q90 4:2:0, as most cameras save; same names) take about 19 MB; there,
``RESTORABLE_PHOTOS=carry/photos`` makes the split (``split.json``) find them. Pairs computed
from these copies are consistent (I and f(I) come from the same pixels); eval there runs at
640 px, not stored size.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from restorable.data.pairs import SHARED_PHOTOS, resize_max_side
from restorable.data.split import load_split
from restorable.files import read_image


def make_carry(out: Path, max_side: int = 640, quality: int = 90) -> int:
    """Write every photo of the split, downscaled, into ``out``; returns the bytes written."""
    out.mkdir(parents=True, exist_ok=True)
    split = load_split()
    total = 0
    for name in tqdm(split["train"] + split["val"], desc="carry photos"):
        dst = out / name
        if not dst.exists():
            img = resize_max_side(read_image(SHARED_PHOTOS / name), max_side)
            tmp = dst.with_suffix(".tmp.jpg")
            Image.fromarray(img).save(tmp, "JPEG", quality=quality)  # 4:2:0, as cameras save
            os.replace(tmp, dst)
        total += dst.stat().st_size
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="carry/photos")
    ap.add_argument("--max-side", type=int, default=640)
    args = ap.parse_args()
    n = make_carry(Path(args.out), args.max_side)
    print(f"{args.out}: {n / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
