"""Identification from the pixels, and restoration of crops at any offset, on validation photos.

    python benchmarks/bench_identify.py [--limit 10] [--jpeg 90 80] [--side 384] [--no-crops]

For each photo (a central ``--side`` px square, on the 8-px grid) and each model identification
tries (:func:`restorable.realworld.candidates`, or ``--models``): apply, then store as PNG and as
JPEG at each quality (Pillow, 4:2:0 as most re-saves are), strip the record, and ask
:func:`restorable.realworld.identify` which model made it. Unedited photos are asked too (the
right answer is "none"). Prints accuracy per model and storage, the lifts (score) and margins,
and what a user gets: the restoration by the model identified against the one by the model that
made the edit; then restore PSNR of PNG edits cropped by (1, 1) and (3, 6) px: uncropped,
cropped and restored naively, and cropped and restored on the phase ``find_phase`` picks.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restorable.data.pairs import shared_photos
from restorable.data.split import load_split
from restorable.errors import RestorableError
from restorable.evaluation.metrics import psnr
from restorable.files import read_image
from restorable.models import load
from restorable.realworld import (
    candidates,
    central_crop,
    find_phase,
    identify,
    restore_at_phase,
)

PHOTOS = shared_photos()  # $RESTORABLE_PHOTOS or ../shared/photos, as training finds them


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=10, help="validation photos (default 10)")
    ap.add_argument("--jpeg", type=int, nargs="*", default=[90, 80])
    ap.add_argument("--side", type=int, default=384, help="px of each photo's central square")
    ap.add_argument("--json", help="write every trial here")
    ap.add_argument("--crops-only", action="store_true", help="skip identification")
    ap.add_argument("--no-crops", action="store_true", help="skip the crop offsets")
    ap.add_argument("--models", nargs="*", help="models to edit with and identify among")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = args.models or candidates()
    models = {n: load(n) for n in names}
    photos = load_split()["val"][: args.limit]
    storages = ["png"] + [f"q{q}" for q in args.jpeg]
    trials, crops = [], []
    t0 = time.time()
    for photo in photos:
        img = central_crop(read_image(PHOTOS / photo), args.side)
        for src in ["none", *names]:
            edited = img if src == "none" else models[src].apply(img)
            for storage in [] if args.crops_only else storages:
                y = edited if storage == "png" else jpeg(edited, int(storage[1:]))
                try:
                    found = identify(y, models)
                    got, score, margin = found.name, found.score, found.margin
                except RestorableError:
                    got, score, margin = "none", float("nan"), float("nan")
                trial = dict(photo=photo, src=src, storage=storage, got=got, score=score)
                trial["margin"] = margin
                if src != "none":  # what the user gets, against what the right model gives
                    trial["restore_true"] = psnr(img, models[src].restore(y))
                    by_found = float("nan") if got == "none" else psnr(img, models[got].restore(y))
                    trial["restore_found"] = by_found
                trials.append(trial)
                print(
                    f"{photo[:40]:40} {src:8} {storage:4} -> {got:8} {score:5.1f} {margin:5.1f}",
                    flush=True,
                )
            if src == "none" or args.no_crops:
                continue
            whole = models[src].restore(edited)
            for dy, dx in [(1, 1), (3, 6)]:
                crop = edited[dy:, dx:]
                phase = find_phase(models[src], crop)
                truth = img[dy:, dx:][8:-8, 8:-8]
                crops.append(
                    dict(
                        photo=photo,
                        model=src,
                        offset=(dy, dx),
                        phase=phase,
                        uncropped=psnr(truth, whole[dy:, dx:][8:-8, 8:-8]),
                        naive=psnr(truth, models[src].restore(crop)[8:-8, 8:-8]),
                        phased=psnr(truth, restore_at_phase(models[src], crop, phase)[8:-8, 8:-8]),
                    )
                )
    print(f"\n{len(photos)} photos, {time.time() - t0:.0f} s\n")
    print("| edited by | stored as | identified right | mean lift (dB) | mean margin (dB) |")
    print("|---|---|---|---|---|")
    for src in [*names, "none"]:
        for storage in storages:
            rows = [t for t in trials if t["src"] == src and t["storage"] == storage]
            right = sum(t["got"] == src for t in rows)
            ok = [t for t in rows if t["got"] != "none"]
            lift = np.mean([t["score"] for t in ok]) if ok else float("nan")
            margin = np.mean([t["margin"] for t in ok]) if ok else float("nan")
            print(f"| {src} | {storage} | {right}/{len(rows)} | {lift:.1f} | {margin:.1f} |")
    for storage in storages:
        rows = [t for t in trials if t["storage"] == storage and t["src"] != "none"]
        none = [t for t in trials if t["storage"] == storage and t["src"] == "none"]
        if rows:
            right = sum(t["got"] == t["src"] for t in rows)
            found = [t["restore_found"] for t in rows if t["got"] != "none"]
            print(
                f"{storage}: {right}/{len(rows)} edits identified right "
                f"({sum(t['got'] == 'none' for t in rows)} called unedited), "
                f"{sum(t['got'] == 'none' for t in none)}/{len(none)} unedited called unedited; "
                f"restore PSNR with the model found {np.mean(found):.2f} dB "
                f"vs {np.mean([t['restore_true'] for t in rows]):.2f} with the true model"
            )
    if args.no_crops:
        names = []
    print("\n| model | crop offset | uncropped | cropped, naive | cropped, phase found | phase |")
    print("|---|---|---|---|---|---|")
    for src in names:
        for off in [(1, 1), (3, 6)]:
            rows = [c for c in crops if c["model"] == src and c["offset"] == off]
            right = sum(c["phase"] == (off[0] % 2, off[1] % 2) for c in rows)
            print(
                f"| {src} | {off} | {np.mean([c['uncropped'] for c in rows]):.2f} | "
                f"{np.mean([c['naive'] for c in rows]):.2f} | "
                f"{np.mean([c['phased'] for c in rows]):.2f} | {right}/{len(rows)} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(dict(trials=trials, crops=crops), indent=1))


if __name__ == "__main__":
    main()
