"""How much of an operator a single per-photo tone curve can do: the ceiling of a curve path.

    python benchmarks/curve_ceiling.py [--op bwp] [--photos 10] [--side 640]

For each validation photo (longer side ``--side``), the best 256-entry lookup table from the
input's luma (Rec. 709) to the operator's 8-bit output (per grey level, the mean output of the
pixels at that level; the same on all three channels) is applied, and scored by PSNR against
the output. It is an oracle (the table is fitted to the very output it is scored on), so it says
how far a learned whole-photo curve could go, not how far one goes.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", default="bwp")
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--side", type=int, default=640)
    args = ap.parse_args()
    from restorable import reference
    from restorable.data.pairs import photo_paths, resize_max_side
    from restorable.evaluation.metrics import psnr
    from restorable.files import read_image
    from restorable.image import as_float_image, to_uint8

    fn, scores = reference(args.op), []
    for path in photo_paths(None, "val")[: args.photos]:
        img = resize_max_side(read_image(path), args.side)
        out = to_uint8(fn(as_float_image(img)))
        luma = np.rint(as_float_image(img) @ np.array([0.2126, 0.7152, 0.0722]) * 255)
        luma = luma.astype(int).clip(0, 255)
        lut = np.zeros((256, 3))
        for v in np.unique(luma):
            lut[v] = out[luma == v].mean(axis=0)
        scores.append(psnr(np.rint(lut[luma]).astype(np.uint8), out))
        print(f"{path.name[:50]:50s} {scores[-1]:.2f} dB")
    print(f"{args.op}: best per-photo curve of luma, mean {np.mean(scores):.2f} dB")


if __name__ == "__main__":
    main()
