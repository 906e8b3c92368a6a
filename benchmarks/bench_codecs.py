"""Restoration after real codecs: edited files re-saved by ImageMagick, libjpeg-turbo and WebP.

    python benchmarks/bench_codecs.py [--limit 10] [--side 512] [--models l0 l0-jpeg] [--docs]

For each validation photo (a central ``--side`` px square on the 8-px grid; 0 = whole photo)
and each model (default: l0, l0-jpeg and every other OP-jpeg shipped): apply, save as
restorable does (PNG; and JPEG q90 4:4:4 for the JPEG-aware models), then round-trip the PNG
through each codec below, read the result back with ``restorable.files.read_image`` and restore.
Prints mean restore PSNR (dB, against the photo) per model and codec, all in one run. Needs
``convert`` (ImageMagick), ``cjpeg`` (libjpeg-turbo-progs) and ``cwebp`` (webp); a missing
tool's column is skipped. ``--docs`` writes the table into docs/results.md between its
codecs-table markers (the one place it lives).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restorable.data.pairs import shared_photos
from restorable.data.split import load_split
from restorable.evaluation.metrics import psnr
from restorable.files import read_image, write_image
from restorable.models import available_models, load
from restorable.realworld import central_crop

DOCS_MARKERS = ("<!-- codecs-table:start -->", "<!-- codecs-table:end -->")
PHOTOS = shared_photos()  # $RESTORABLE_PHOTOS or ../shared/photos, as training finds them

# name: (tool, suffix, command from the PNG (or PPM for cjpeg) to the output)
CODECS = {
    "IM q90 4:4:4": ("convert", ".jpg", "convert {png} -quality 90 -sampling-factor 4:4:4 {out}"),
    "IM q85 4:2:0": ("convert", ".jpg", "convert {png} -quality 85 -sampling-factor 4:2:0 {out}"),
    "cjpeg q75": ("cjpeg", ".jpg", "cjpeg -quality 75 -outfile {out} {ppm}"),
    "cwebp q90": ("cwebp", ".webp", "cwebp -quiet -q 90 {png} -o {out}"),
}


def default_models() -> list[str]:
    have = available_models()
    extra = [n for n in have if n.endswith("-jpeg") and n != "l0-jpeg"]
    return [n for n in ("l0", "l0-jpeg") if n in have] + extra


def round_trip(edited: np.ndarray, folder: Path) -> dict[str, np.ndarray]:
    """The edit as each codec gives it back (decoded uint8), keyed by the codec's name."""
    png, ppm = folder / "edited.png", folder / "edited.ppm"
    Image.fromarray(edited).save(png)
    Image.fromarray(edited).save(ppm)
    out = {}
    for name, (tool, suffix, command) in CODECS.items():
        if shutil.which(tool) is None:
            continue
        dst = folder / f"out{suffix}"
        dst.unlink(missing_ok=True)
        argv = command.format(png=png, ppm=ppm, out=dst).split()
        subprocess.run(argv, check=True, capture_output=True)
        out[name] = read_image(dst)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=10, help="validation photos (default 10)")
    ap.add_argument("--side", type=int, default=512, help="central square, px (0: whole photo)")
    ap.add_argument("--models", nargs="*", help="default: l0, l0-jpeg and every OP-jpeg")
    ap.add_argument("--weights", help="folder of the models' weights (default: shipped)")
    ap.add_argument("--docs", action="store_true", help="write the table into docs/results.md")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    names = args.models or default_models()
    missing = [c for c, (tool, _, _) in CODECS.items() if shutil.which(tool) is None]
    if missing:
        print(f"skipped (tool not installed): {', '.join(missing)}")
    photos = load_split()["val"][: args.limit]
    table: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in names:
            model = load(name, args.weights)
            for photo in photos:
                img = read_image(PHOTOS / photo)
                img = central_crop(img, args.side) if args.side else img
                edited = model.apply(img)
                files = {"PNG (restorable)": edited}
                if name.endswith("-jpeg"):
                    dst = folder / "restorable.jpg"
                    write_image(dst, edited, quality=90, force=True)
                    files["JPEG q90 (restorable)"] = read_image(dst)
                files.update(round_trip(edited, folder))
                for codec, stored in files.items():
                    score = psnr(img, model.restore(stored))
                    table[name].setdefault(codec, []).append(score)
                print(
                    f"{name:10} {photo[:44]:44} "
                    + " ".join(f"{v[-1]:6.2f}" for v in table[name].values()),
                    flush=True,
                )
    seen = {c for row in table.values() for c in row}
    codecs = [c for c in ("PNG (restorable)", "JPEG q90 (restorable)", *CODECS) if c in seen]
    print(f"\nrestore PSNR (dB), mean of {len(photos)} validation photos, {time.time() - t0:.0f} s")
    lines = ["| model | " + " | ".join(codecs) + " |", "|---|" + "---|" * len(codecs)]
    for name, row in table.items():
        cells = [f"{np.mean(row[c]):.2f}" if c in row else "-" for c in codecs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.docs:
        sys.path.insert(0, str(Path(__file__).parent))
        from paper_tables import write_between

        docs = Path(__file__).parents[1] / "docs" / "results.md"
        write_between(docs, *DOCS_MARKERS, "\n".join(lines))


if __name__ == "__main__":
    main()
