"""Mean time of each registered reference operator on a 640x480 photo (3 repeats).

    python benchmarks/bench_operators.py [--repeats 3] [--json results/bench_model.json]
        [--note "this 2-core machine, idle"]

``--json`` keeps the times as a dated record beside ``bench_model.py``'s, where the table of
classic operators against the learned models is generated from (``bench_model.py --docs``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import bench_records
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="keep the times in this file (results/bench_model.json)")
    p.add_argument("--note", help='what the machine was doing, e.g. "this 2-core machine, idle"')
    args = p.parse_args()
    img = test_image()
    print("| operator | type | mean time (s), 640x480 |")
    print("|---|---|---|")
    means = {}
    for op in operator_ids():
        info = get_operator(op)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            info.fn(img)
            times.append(time.perf_counter() - start)
        means[op] = float(np.mean(times))
        print(f"| {op} | {info.kind} | {means[op]:.3f} |")
    if args.json:
        record = {"script": "bench_operators.py", **bench_records.stamp(args.note)}
        record.update(repeats=args.repeats, operators=means)
        bench_records.merge(args.json, record, ("script",))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
