"""Downscaled training photos, small enough to travel to a lent GPU machine.

    python -m restorable.data.carry --out carry/train [--every 2] [--max-side 512]

The GPU machine cannot see ``../shared``, and at most 64 MiB travels there: the tracked tree
(about 55 MiB, mostly the shipped weights) plus what a call carries. So this writes only the
*training* split's photos (every ``--every``-th of them; 161 at 512 px, JPEG q90 4:2:0 as most
cameras save, take 6.4 MiB; at 640 px they took 8.6 MiB, and the device tool refused the
55.2 + 8.6 = 63.8 MiB as over its limit on 2026-12-04, so the check below keeps ``HEADROOM``
spare), and the GPU command trains on them as a folder of the user's own
(``--photos carry/train``). Validation photos never travel: an evaluation there holds out
every tenth carried photo (indicative; the figures that count are measured back here on the
validation split, at stored size). Pairs computed from these copies are consistent (I and f(I)
come from the same pixels).
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from restorable.data.pairs import SHARED_PHOTOS, resize_max_side
from restorable.data.split import load_split
from restorable.files import read_image

TRAVEL_LIMIT = 64 * 2**20  # what the device tool lets travel: tracked files and carried paths
# The tool counts more than the files' bytes (63.8 MiB of them was refused): keep this spare.
HEADROOM = 2 * 2**20


def make_carry(out: Path, max_side: int = 512, quality: int = 90, every: int = 1) -> int:
    """Write every ``every``-th training photo, downscaled, into ``out``; returns its bytes."""
    if every < 1:
        raise ValueError(f"every must be at least 1, not {every}")
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in tqdm(load_split()["train"][::every], desc="carry photos"):
        dst = out / name
        if not dst.exists():
            img = resize_max_side(read_image(SHARED_PHOTOS / name), max_side)
            tmp = dst.with_suffix(".tmp.jpg")
            Image.fromarray(img).save(tmp, "JPEG", quality=quality)  # 4:2:0, as cameras save
            os.replace(tmp, dst)
        total += dst.stat().st_size
    return total


def tracked_bytes(repo: Path) -> int | None:
    """Bytes of the files git tracks in ``repo`` (they all travel with every call); None
    outside a git checkout (an installed package), where nothing travels but the folder."""
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    files = [repo / n.decode() for n in names if n]
    return sum(f.stat().st_size for f in files if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="carry/train")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--every", type=int, default=2, help="every N-th training photo (default 2)")
    args = ap.parse_args()
    if args.every < 1:
        ap.error("--every must be at least 1")
    n = make_carry(Path(args.out), args.max_side, every=args.every)
    tracked = tracked_bytes(Path.cwd())
    if tracked is None:
        print(f"{args.out}: {n / 2**20:.1f} MiB (not in a git checkout: the tree's size unknown)")
        return
    print(f"{args.out}: {n / 2**20:.1f} MiB; tracked tree {tracked / 2**20:.1f} MiB; "
          f"together {(n + tracked) / 2**20:.1f} of the {TRAVEL_LIMIT / 2**20:.0f} MiB that travel")
    if n + tracked > TRAVEL_LIMIT - HEADROOM:
        print(f"too large to travel (keep {HEADROOM / 2**20:.0f} MiB spare): raise --every or "
              "lower --max-side")


if __name__ == "__main__":
    main()
