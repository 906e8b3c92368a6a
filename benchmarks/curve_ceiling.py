"""How much of an operator a single per-photo tone curve can do: the ceiling of a curve path.

    python benchmarks/curve_ceiling.py [--op bwp] [--photos 10] [--side 640]
    python benchmarks/curve_ceiling.py --shared 40 --photos 12    # one table for every photo

For each validation photo (longer side ``--side``), the best 256-entry lookup table from the
input's luma (Rec. 709) to the operator's 8-bit output (per grey level, the mean output of the
pixels at that level; the same on all three channels) is applied, and scored by PSNR against
the output. It is an oracle (the table is fitted to the very output it is scored on), so it says
how far a learned whole-photo curve could go, not how far one goes.

``--shared N`` asks the opposite question: how much of the operator is ONE table shared by all
photos, read at each pixel's rank in its own photo (its luma's cumulative histogram, the form
of a plain histogram match), or at (rank, level) on a 64×64 grid, fitted on N training photos
and scored on the validation photos. Where that falls far below the per-photo ceiling, a curve
path needs more of the photo than (level, CDF) at each knot (network/global_psi.py).
"""

from __future__ import annotations

import argparse

import numpy as np


def _rank_and_level(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's luma rank in its photo (in (0, 1)) and its luma, flattened."""
    from restorable.image import as_float_image

    luma = (as_float_image(img) @ np.array([0.2126, 0.7152, 0.0722])).ravel()
    rank = np.empty(luma.size)
    rank[np.argsort(luma, kind="stable")] = (np.arange(luma.size) + 0.5) / luma.size
    return rank, luma


def shared_tables(op: str, n_train: int, n_val: int, side: int) -> None:
    """Fit one table from rank (256 bins) and one from (rank, level) (64×64) on ``n_train``
    training photos spread over the split; print their PSNR on ``n_val`` validation photos."""
    from restorable import reference
    from restorable.data.pairs import photo_paths, resize_max_side
    from restorable.evaluation.metrics import psnr
    from restorable.files import read_image
    from restorable.image import as_float_image, to_uint8

    fn = reference(op)

    def pair(path):
        img = resize_max_side(read_image(path), side)
        out = to_uint8(fn(as_float_image(img)))
        return (*_rank_and_level(img), out)

    def bins(rank, luma):
        r = np.minimum((rank * 64).astype(int), 63)
        return np.minimum((rank * 256).astype(int), 255), r * 64 + np.minimum(
            (luma * 64).astype(int), 63
        )

    sums = [np.zeros((256, 3)), np.zeros((4096, 3))]
    counts = [np.zeros(256), np.zeros(4096)]
    train = photo_paths(None, "train")
    for path in train[:: max(1, len(train) // n_train)][:n_train]:
        rank, luma, out = pair(path)
        for s, c, b in zip(sums, counts, bins(rank, luma), strict=True):
            np.add.at(s, b, out.reshape(-1, 3).astype(float))
            np.add.at(c, b, 1)
    tables = [s / np.maximum(c, 1)[:, None] for s, c in zip(sums, counts, strict=True)]
    scores = {"rank": [], "rank+level": []}
    for path in photo_paths(None, "val")[:n_val]:
        rank, luma, out = pair(path)
        b1, b2 = bins(rank, luma)
        # a (rank, level) cell no training pixel fell in is read from the rank table
        t2 = np.where(counts[1][b2, None] > 0, tables[1][b2], tables[0][b1])
        for name, t in (("rank", tables[0][b1]), ("rank+level", t2)):
            scores[name].append(psnr(np.rint(t).reshape(out.shape).astype(np.uint8), out))
    for name, v in scores.items():
        print(f"{op}: one {name} table from {n_train} training photos, mean {np.mean(v):.2f} dB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", default="bwp")
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--side", type=int, default=640)
    ap.add_argument("--shared", type=int, default=0, metavar="N", help="one table, N photos")
    args = ap.parse_args()
    from restorable import reference
    from restorable.data.pairs import photo_paths, resize_max_side
    from restorable.evaluation.metrics import psnr
    from restorable.files import read_image
    from restorable.image import as_float_image, to_uint8

    if args.shared:
        shared_tables(args.op, args.shared, args.photos, args.side)
        return
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
