"""Mean time of each registered reference operator on a 640x480 photo (3 repeats).

python benchmarks/bench_operators.py
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from restorable.operators import get_operator, operator_ids

PHOTO = Path(__file__).parents[1].parent / "shared" / "photos" / "cimg-examples__parrot.jpg"


def test_image() -> np.ndarray:
    """A 640x480 float32 RGB photo: a shared photo if present, else skimage's astronaut."""
    if PHOTO.exists():
        rgb = cv2.imread(str(PHOTO))[:, :, ::-1]
    else:
        import skimage.data

        rgb = skimage.data.astronaut()
    rgb = cv2.resize(np.ascontiguousarray(rgb), (640, 480), interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32) / 255.0


def main(repeats: int = 3) -> None:
    img = test_image()
    print("| operator | type | mean time (s), 640x480 |")
    print("|---|---|---|")
    for op in operator_ids():
        info = get_operator(op)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            info.fn(img)
            times.append(time.perf_counter() - start)
        print(f"| {op} | {info.kind} | {np.mean(times):.3f} |")


if __name__ == "__main__":
    main()
