"""How far each model's phase lift rises on photos it never edited: the null the identification
threshold should sit above, per model rather than one for all.

    python benchmarks/identify_nulls.py --limit 30 --json results/identify-nulls-train.json
    python benchmarks/identify_nulls.py --json results/identify-nulls-train.json --write
                                        # the largest lift per model into data/lift_nulls.json

For each unedited photo of the split (the same central square as benchmarks/bench_identify.py),
stored as PNG and after JPEG q90, every candidate model's consistency at the four Haar phases is
measured (no first-look pruning: every model, so every model gets its null), and its lift kept.
A model whose lift on unedited photos stays near 0 (rgf) can be believed at a lift of 1 dB on an
edit; a near-identity model (retouch) lifts over 1 dB on some unedited photos and cannot.
Written as it goes (``--json``), so a long run can be read before it ends.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument(
        "--side",
        type=int,
        default=384,
        help="central square (px), as bench_identify's",
    )
    ap.add_argument("--jpeg", type=int, nargs="*", default=[90])
    ap.add_argument("--json", required=True)
    ap.add_argument("--write", action="store_true", help="write the nulls that --json holds")
    ap.add_argument("--models", nargs="*", help="measure (again) only these, into --json's rows")
    args = ap.parse_args()
    if args.write:
        return write(Path(args.json))
    import torch
    from bench_identify import _evidence, jpeg

    from restorable.data.pairs import shared_photos
    from restorable.data.split import load_split
    from restorable.files import read_image
    from restorable.models import load
    from restorable.realworld import candidates, central_crop, lift, measure

    torch.set_num_threads(1)
    names = args.models or candidates()
    models = {n: load(n) for n in names}
    photos = load_split()[args.split][args.skip : args.skip + args.limit]
    out = Path(args.json)
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    at = {(r["photo"], r["storage"]): r for r in rows}
    for photo in photos:
        img = central_crop(read_image(shared_photos() / photo), args.side)
        for storage in ["png", *(f"q{q}" for q in args.jpeg)]:
            row = at.get((photo, storage))
            if row is not None and not args.models:
                continue  # measured; --models measures those again (e.g. a new version)
            y = img if storage == "png" else jpeg(img, int(storage[1:]))
            t0 = time.time()
            # no first look (keep above their number): every model gets its null; on a JPEG,
            # measure() tries the OP-jpeg models only, as decide() reads them only
            ev = measure(y, models, keep=len(models) + 1)
            if row is not None and storage != "png" and ev.traces >= 0.5:
                ev.full = {n: v for n, v in ev.full.items() if ev.jpeg[n]}
            lifts = {n: round(lift(s)[0], 3) for n, s in ev.full.items()}
            if row is None:
                row = dict(photo=photo, storage=storage, lifts={}, versions={}, evidence={})
                row["evidence"] = dict(full={}, traces=round(ev.traces, 3))
                rows.append(row)
                at[(photo, storage)] = row
            row["lifts"].update(lifts)
            row.setdefault("versions", {}).update({n: models[n].card.version for n in lifts})
            row["evidence"]["full"].update(_evidence(ev)["full"])
            row["traces"] = round(ev.traces, 3)
            print(
                f"{photo[:40]:40} {storage:4} {time.time() - t0:5.1f} s  max "
                f"{max(lifts, key=lifts.get, default='-')} {max(lifts.values(), default=0):.2f}",
                flush=True,
            )
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(dict(rows=rows)))
            tmp.replace(out)


def write(trials: Path) -> None:
    """Each model's largest lift over the rows of ``trials``, per storage (png; jpeg for any
    JPEG quality), with its version, into the package's data/lift_nulls.json (what
    realworld.decide reads)."""
    from restorable.realworld import NULLS_FILE

    rows = json.loads(trials.read_text())["rows"]
    nulls: dict = {
        "measured": f"benchmarks/identify_nulls.py, {len(rows)} rows of {trials.name}",
        "png": {},
        "jpeg": {},
    }
    for r in rows:
        kind = "png" if r["storage"] == "png" else "jpeg"
        for n, v in r["lifts"].items():
            e = nulls[kind].setdefault(n, {"max": v, "photos": 0, "versions": set()})
            e["max"], e["photos"] = max(e["max"], v), e["photos"] + 1
            e["versions"].add(r["versions"][n])  # the version measured
    for kind in ("png", "jpeg"):
        for e in nulls[kind].values():
            e["versions"] = sorted(e["versions"])
        nulls[kind] = dict(sorted(nulls[kind].items()))
    tmp = NULLS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(nulls, indent=1) + "\n")
    tmp.replace(NULLS_FILE)
    print(f"wrote {NULLS_FILE}: {len(nulls['png'])} models (png), {len(nulls['jpeg'])} (jpeg)")


if __name__ == "__main__":
    main()
