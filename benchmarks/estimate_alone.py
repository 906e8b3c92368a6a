"""How close a learned model's whole-photo estimate alone comes to the classic operator.

    python benchmarks/estimate_alone.py --model llf-learned [--weights DIR] [--against DIR]

A learned model with ``NetConfig.estimate`` (``--estimate pyramid``, ``histogram`` or
``bilateral``) runs its estimate on the whole photo and ψ reads it as a guided model's ψ reads
the operator's output.
This prints the estimate's own PSNR against f(I) (8-bit, the stored-size validation photos and,
when built, the second set: ``python benchmarks/second_set.py``), next to leaving the photo
unchanged and, with ``--against``, the estimate of the model in that folder (e.g. the shipped
one while a run's weights are in ``--weights``). It is what ψ starts from: a better estimate
leaves ψ less to do.
"""

from __future__ import annotations

import argparse

import numpy as np

from restorable.data.pairs import compute_pairs, default_cache_dir, load_pairs, photo_paths
from restorable.evaluation.metrics import psnr
from restorable.models import load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a learned model with an estimate")
    p.add_argument("--weights", help="folder of the model (default: shipped)")
    p.add_argument("--against", help="folder of another version of the model to compare")
    p.add_argument("--limit", type=int, default=None, help="photos of each set (default all)")
    args = p.parse_args()
    model = load(args.model, args.weights)
    other = load(args.model, args.against) if args.against else None
    if getattr(model.net, "estimator", None) is None:
        raise SystemExit(f"{args.model} has no learned estimate (NetConfig.estimate)")
    sets = {"validation": None}
    second = default_cache_dir() / "second_set"
    if second.is_dir():
        sets["second set"] = str(second)
    for label, photos in sets.items():
        paths = photo_paths(photos, "val")[: args.limit]
        pairs = load_pairs(compute_pairs(model.card.op, paths, model.card.params, None))
        rows = []
        for x, y in pairs:
            row = [psnr(model.guide(x), y), psnr(x, y)]
            if other is not None:
                row.append(psnr(other.guide(x), y))
            rows.append(row)
        mean = np.mean(rows, axis=0)
        line = f"{label} ({len(rows)} photos): estimate {mean[0]:.2f} dB, unchanged {mean[1]:.2f}"
        if other is not None:
            line += f", the other version's estimate {mean[2]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
