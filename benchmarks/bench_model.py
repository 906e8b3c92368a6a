"""Apply and restore time of a restorable model on a 640x480 photo, with its parameter count.

    python benchmarks/bench_model.py --op l0 [--weights DIR] [--repeats 5] [--threads N]

Prints CPU figures, and CUDA figures too where a GPU is present. For a guided model the apply
time is split into the classic operator (the guide) and the network.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from restorable.data.pairs import resize_max_side
from restorable.files import read_image
from restorable.models import load

SAMPLE = Path(__file__).parents[1] / "src" / "restorable" / "samples" / "scikit-image__coffee.jpg"


def photo_640x480() -> np.ndarray:
    img = resize_max_side(read_image(SAMPLE), 640)
    h, w = min(480, img.shape[0]), min(640, img.shape[1])
    return np.pad(img, ((0, 480 - h), (0, 640 - w), (0, 0)), mode="reflect")[:480, :640]


def timed(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--op", default="l0")
    p.add_argument("--weights")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    img = photo_640x480()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("| op | device | params | guide (s) | apply net (s) | restore (s) |")
    print("|---|---|---|---|---|---|")
    for device in devices:
        print(bench_device(load(args.op, args.weights, device=device), img, args.repeats))


def bench_device(model, img: np.ndarray, repeats: int) -> str:
    """One table row: guide, apply and restore medians on ``model``'s device."""
    x = img.astype(np.float32) / 255
    sync = torch.cuda.synchronize if model.device == "cuda" else (lambda: None)
    n = sum(p.numel() for p in model.net.parameters())
    guide = model.reference_guide(x)
    t_guide = timed(lambda: model.reference_guide(x), repeats) if guide is not None else 0.0
    t_apply = timed(lambda: model.apply_float(x, guide), repeats, sync)
    stored = model.apply(img, tile=None)
    t_restore = timed(lambda: model.restore(stored, tile=None), repeats, sync)
    return (
        f"| {model.op} | {model.device} ({torch.get_num_threads()} threads) | {n / 1e6:.2f} M | "
        f"{t_guide:.3f} | {t_apply:.3f} | {t_restore:.3f} |"
    )


if __name__ == "__main__":
    main()
