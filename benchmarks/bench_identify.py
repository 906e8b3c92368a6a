"""Identification from the pixels, and restoration of crops at any offset, on validation photos.

    python benchmarks/bench_identify.py [--limit 10] [--jpeg 90 80] [--side 384] [--no-crops]
        [--json results/bench_identify.json] [--note "this 2-core machine"] [--docs]
    python benchmarks/bench_identify.py --from-json results/bench_identify.json --docs
    python benchmarks/bench_identify.py --split train --lossy-jpeg-models-only --trials T.json
    python benchmarks/bench_identify.py --redecide T.json [--json ...] [--docs]

For each photo (a central ``--side`` px square, on the 8-px grid) and each model identification
tries (:func:`restorable.realworld.candidates`, or ``--models``): apply, then store as PNG and as
JPEG at each quality (Pillow, 4:2:0 as most re-saves are), strip the record, and ask
:func:`restorable.realworld.identify` which model made it. Unedited photos are asked too (the
right answer is "none"). Prints accuracy per model and storage, the lifts (score) and margins,
and what a user gets: the restoration by the model identified against the one by the model that
made the edit; then restore PSNR of PNG edits cropped by (1, 1) and (3, 6) px: uncropped,
cropped and restored naively, and cropped and restored on the phase ``find_phase`` picks.

Each trial keeps what :func:`restorable.realworld.measure` found (every candidate's consistency
at each phase, the JPEG traces) and the restoration by every plausible answer, so a new rule
(:func:`restorable.realworld.decide`) is scored again with ``--redecide`` without measuring:
calibrate on ``--split train``, then score the validation trials once.
``--json`` keeps the counts as a dated record in results/bench_identify.json (``--trials`` writes
every trial); ``--docs`` writes the table of docs/real-world.md from that file's last record
(earlier records as a sentence each).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import bench_records
import numpy as np

RESULTS = bench_records.ROOT / "results" / "bench_identify.json"
PAGE = "real-world.md"  # in docs/
START, END = "<!-- identify:start -->", "<!-- identify:end -->"
KEY = ("script", "models", "photos", "side", "storages")


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG at ``quality``, 4:2:0 (Pillow's default, as most re-saves are), decoded."""
    from restorable.network.storage import jpeg_roundtrip

    return jpeg_roundtrip(img, quality, subsampling=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=10, help="validation photos (default 10)")
    ap.add_argument("--jpeg", type=int, nargs="*", default=[90, 80])
    ap.add_argument("--side", type=int, default=384, help="px of each photo's central square")
    ap.add_argument("--json", help="keep the counts in this file (results/bench_identify.json)")
    ap.add_argument("--trials", help="write every trial here")
    ap.add_argument("--note", help='what the machine was doing, e.g. "this 2-core machine"')
    ap.add_argument("--docs", action="store_true", help="write the table into docs/real-world.md")
    ap.add_argument("--from-json", help="render this file's records without measuring")
    ap.add_argument("--crops-only", action="store_true", help="skip identification")
    ap.add_argument("--no-crops", action="store_true", help="skip the crop offsets")
    ap.add_argument("--models", nargs="*", help="models to edit with and identify among")
    ap.add_argument("--split", default="val", help="photos of this split (calibrate on train)")
    ap.add_argument(
        "--photos",
        help="the .jpg/.png photos of this folder (sorted) instead of the split's, e.g. the "
        "second set (~/.cache/restorable/second_set) for unedited photos nothing was chosen on",
    )
    ap.add_argument("--skip", type=int, default=0, help="leave out the split's first N photos")
    ap.add_argument(
        "--lossy-jpeg-models-only",
        action="store_true",
        help="JPEG storages only for OP-jpeg models' edits (and unedited photos)",
    )
    ap.add_argument(
        "--keep", type=int, default=None, help="models the first look keeps (default: identify's)"
    )
    ap.add_argument("--redecide", help="trials file (--trials) to decide again, measuring nothing")
    ap.add_argument(
        "--unedited-only",
        action="store_true",
        help="ask only about the unedited photos (how often a model is named for none)",
    )
    ap.add_argument(
        "--measure-all",
        action="store_true",
        help="measure every candidate at both sizes (no first look), so that --redecide can "
        "score a new first look too (about twice the time)",
    )
    args = ap.parse_args()
    if args.from_json:
        return _write(bench_records.load(args.from_json), args.docs)
    if args.redecide:
        return redecide(args)
    import torch

    from restorable.data.pairs import shared_photos
    from restorable.data.split import load_split
    from restorable.errors import RestorableError
    from restorable.evaluation.metrics import psnr
    from restorable.files import read_image
    from restorable.models import load
    from restorable.realworld import (
        CROP,
        PREFILTER_ABOVE,
        candidates,
        central_crop,
        decide,
        find_phase,
        measure,
        phase_scores,
        restore_at_phase,
    )

    photos_dir = shared_photos()  # $RESTORABLE_PHOTOS or ../shared/photos, as training finds them
    torch.set_num_threads(1)
    names = args.models or candidates()
    models = {n: load(n) for n in names}
    if args.photos:
        photos_dir = Path(args.photos).expanduser()
        found = sorted(p.name for p in photos_dir.iterdir() if p.suffix in (".jpg", ".png"))
        photos = found[args.skip : args.skip + args.limit]
    else:
        photos = load_split()[args.split][args.skip : args.skip + args.limit]
    keep = args.keep or PREFILTER_ABOVE
    storages = ["png"] + [f"q{q}" for q in args.jpeg]
    trials, crops = [], []
    t0 = time.time()
    for photo in photos:
        img = central_crop(read_image(photos_dir / photo), args.side)
        for src in ["none"] if args.unedited_only else ["none", *names]:
            edited = img if src == "none" else models[src].apply(img)
            for storage in [] if args.crops_only else storages:
                lossy_skip = args.lossy_jpeg_models_only and src != "none"
                if storage != "png" and lossy_skip and not models[src].card.training.get("jpeg"):
                    continue
                y = edited if storage == "png" else jpeg(edited, int(storage[1:]))
                t1 = time.time()
                ev = measure(y, models, keep=len(models) if args.measure_all else keep)
                if args.measure_all:  # the first look's evidence too, for every candidate
                    small = central_crop(y, CROP // 2)
                    ev.quick = {n: phase_scores(models[n], small) for n in ev.full}
                seconds = time.time() - t1
                try:
                    found = decide(ev)
                    got, score, margin = found.name, found.score, found.margin
                except RestorableError:
                    got, score, margin = "none", float("nan"), float("nan")
                trial = dict(photo=photo, src=src, storage=storage, got=got, score=score)
                trial.update(margin=margin, seconds=round(seconds, 2), evidence=_evidence(ev))
                if src != "none":  # what the user gets, against what the right model gives
                    trial["restore_true"] = psnr(img, models[src].restore(y))
                    # every plausible answer's restoration, so a new rule can be scored again
                    plausible = {n for n, s in ev.full.items() if _lift(s) >= 1.0} | {got}
                    trial["restore_by"] = {
                        n: psnr(img, models[n].restore(y)) for n in plausible if n != "none"
                    }
                    trial["restore_found"] = trial["restore_by"].get(got, float("nan"))
                trials.append(trial)
                print(
                    f"{photo[:40]:40} {src:8} {storage:4} -> {got:8} {score:5.1f} {margin:5.1f}",
                    flush=True,
                )
            if args.trials:  # as it goes: a long run can be read before it ends
                _keep_trials(args.trials, trials, crops)
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
    if args.trials:
        _keep_trials(args.trials, trials, crops)
    report(args, trials, crops, list(models), storages, len(photos))


def _keep_trials(path: str, trials: list[dict], crops: list[dict]) -> None:
    """Every trial (and the command that measured them), for --redecide; written as it goes."""
    data = dict(command=bench_records.command(), trials=trials, crops=crops)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _lift(scores: dict) -> float:
    best = max(scores.values())
    return best - (sum(scores.values()) - best) / (len(scores) - 1)


def _evidence(ev) -> dict:
    """An Evidence as JSON: phases as "dy,dx" keys."""

    def table(t: dict) -> dict:
        return {n: {f"{p[0]},{p[1]}": round(v, 3) for p, v in s.items()} for n, s in t.items()}

    return dict(
        full=table(ev.full),
        quick=table(ev.quick),
        traces=round(ev.traces, 4),
        quality=ev.quality,
        # significant digits, not decimals: decide reads ln(p / p_rival), and p is often 1e-6
        fingerprint={n: float(f"{p:.4g}") for n, p in ev.fingerprint.items()},
    )


def load_evidence(e: dict, models: dict):
    """:func:`_evidence` back into an Evidence (``models``: name → (op, jpeg))."""
    from restorable.realworld import Evidence

    def table(t: dict) -> dict:
        return {
            n: {tuple(int(c) for c in k.split(",")): v for k, v in s.items()} for n, s in t.items()
        }

    return Evidence(
        full=table(e["full"]),
        op={n: op for n, (op, _) in models.items()},
        jpeg={n: j for n, (_, j) in models.items()},
        traces=e["traces"],
        quality=e.get("quality", 0),
        quick=table(e["quick"]),
        fingerprint=e.get("fingerprint", {}),
    )


def redecide(args) -> None:
    """The trials of ``--redecide`` decided again by today's :func:`decide` (no measuring)."""
    from restorable.errors import RestorableError
    from restorable.models import read_card_of
    from restorable.realworld import decide

    data = json.loads(Path(args.redecide).read_text())
    trials, crops = data["trials"], data.get("crops", [])
    names = list(dict.fromkeys(t["src"] for t in trials if t["src"] != "none"))
    measured = {n for t in trials for n in t["evidence"]["full"]}
    cards = {n: read_card_of(n) for n in sorted(measured | set(names))}
    models = {n: (c.op, bool(c.training.get("jpeg"))) for n, c in cards.items()}
    for t in trials:
        try:
            found = decide(load_evidence(t["evidence"], models))
            t.update(got=found.name, score=found.score, margin=found.margin)
        except RestorableError:
            t.update(got="none", score=float("nan"), margin=float("nan"))
        if t["src"] != "none":  # the right model's restoration is always stored
            found = t["restore_true"] if t["got"] == t["src"] else float("nan")
            t["restore_found"] = t["restore_by"].get(t["got"], found)
    storages = list(dict.fromkeys(t["storage"] for t in trials))
    photos = len({t["photo"] for t in trials})
    measured = data.get("command", "an unrecorded command")
    source = f"evidence measured by `{measured}`, then decided by --redecide"
    report(args, trials, crops, names, storages, photos, source)


def report(args, trials, crops, names, storages, photos, source: str | None = None) -> None:
    """Print the tables; keep the record (``--json``) and the docs (``--docs``)."""
    models = names
    print("| edited by | stored as | identified right | mean lift (dB) | mean margin (dB) |")
    print("|---|---|---|---|---|")
    for src in [*names, "none"]:
        for storage in storages:
            rows = [t for t in trials if t["src"] == src and t["storage"] == storage]
            right = sum(t["got"] == src for t in rows)
            ok = [t for t in rows if t["got"] != "none"]
            lift = np.mean([t["score"] for t in ok]) if ok else float("nan")
            margin = np.mean([t["margin"] for t in ok]) if ok else float("nan")
            if rows:
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
    if args.no_crops or not crops:
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
        record = {"script": "bench_identify.py", **bench_records.stamp(args.note)}
        record.update(models=list(models), photos=photos, side=args.side)
        if source:
            record["source"] = source
        record.update(summary(trials, list(models), storages))
        bench_records.merge(args.json, record, KEY)
        print(f"wrote {args.json}")
    if args.docs:
        _write(bench_records.load(args.json or RESULTS), True)


def _mean(values: list[float]) -> float | None:
    """The mean of the numbers that are not NaN, rounded for the record (None: there are none)."""
    values = [v for v in values if not math.isnan(v)]
    return round(float(np.mean(values)), 2) if values else None


def summary(trials: list[dict], names: list[str], storages: list[str]) -> dict:
    """The record's counts: per edit model and storage how many were identified right, with the
    mean lift and margin; unedited photos called unedited; and per storage the totals and the
    restoration with the model found against the model that made the edit."""
    rows, unedited, totals = [], [], []
    for storage in storages:
        mine = [t for t in trials if t["storage"] == storage]
        for src in names:
            got = [t for t in mine if t["src"] == src]
            if not got:  # not asked (--lossy-jpeg-models-only)
                continue
            found = [t for t in got if t["got"] != "none"]
            rows.append(
                dict(
                    model=src,
                    storage=storage,
                    right=sum(t["got"] == src for t in got),
                    n=len(got),
                    lift_db=_mean([t["score"] for t in found]),
                    margin_db=_mean([t["margin"] for t in found]),
                )
            )
        none = [t for t in mine if t["src"] == "none"]
        unedited.append(dict(storage=storage, right=sum(t["got"] == "none" for t in none)))
        unedited[-1]["n"] = len(none)
        edits = [t for t in mine if t["src"] != "none"]
        if edits:
            totals.append(
                dict(
                    storage=storage,
                    right=sum(t["got"] == t["src"] for t in edits),
                    n=len(edits),
                    called_unedited=sum(t["got"] == "none" for t in edits),
                    restore_found_db=_mean([t["restore_found"] for t in edits]),
                    restore_true_db=_mean([t["restore_true"] for t in edits]),
                )
            )
    rows.sort(key=lambda r: names.index(r["model"]))  # a model's storages side by side
    return {"storages": storages, "rows": rows, "unedited": unedited, "totals": totals}


def _storage(storage: str | None) -> str:
    return "" if storage is None else "PNG" if storage == "png" else f"JPEG {storage}"


def _db(value: float | None) -> str:
    return "– (none found)" if value is None else f"{value:.1f} dB"


def _count(what: str, storage: str | None, row: dict) -> str:
    """'l0-jpeg JPEG q90 10/10' (the storage left out where the record does not say it)."""
    return " ".join(x for x in (what, _storage(storage), f"{row['right']}/{row['n']}") if x)


def markdown(records: list[dict]) -> str:
    """The last record as a table (identified right / asked, mean lift of the model named) and
    its totals; each earlier record as one sentence."""
    if not records:
        return ""
    last, lines = records[-1], []
    storages = last["storages"]
    head = ["edited by"] + [x for s in storages for x in (_storage(s), "lift (dB)")]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cell = {(r["model"], r["storage"]): r for r in last["rows"]}
    for model in dict.fromkeys(r["model"] for r in last["rows"]):
        cells = [model]
        for s in storages:
            r = cell.get((model, s))
            lift = "–" if r is None or r["lift_db"] is None else f"{r['lift_db']:.1f}"
            cells += ["–" if r is None else f"{r['right']}/{r['n']}", lift]
        lines.append("| " + " | ".join(cells) + " |")
    total = {t["storage"]: t for t in last.get("totals", [])}
    none = {u["storage"]: u for u in last.get("unedited", [])}
    for label, by in (("all edits", total), ("unedited photos (right: none)", none)):
        cells = [f"**{label}**"]
        for s in storages:
            cells += [f"{by[s]['right']}/{by[s]['n']}" if s in by else "–", ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for t in last.get("totals", []):
        lines.append(
            f"- {_storage(t['storage'])}: {t['called_unedited']} of the {t['n']} edits called "
            f"unedited; restored with the model found {_db(t['restore_found_db'])}, with the "
            f"model that made the edit {_db(t['restore_true_db'])}."
        )
    lines.append(
        f"- {len(last['models']) if last.get('models') else '?'} models × {last['photos']} "
        f"validation photos, {last['side']}-px squares; {bench_records.provenance(last)}."
    )
    for r in records[:-1]:
        said = [_count(x["model"], x["storage"], x) for x in r["rows"]]
        said += [_count("unedited", u["storage"], u) + " called unedited" for u in r["unedited"]]
        lines.append(
            f"- Earlier, {r['photos']} photos: {', '.join(said)}; {bench_records.provenance(r)}."
        )
    return "\n".join(lines)


def blocks(records: list[dict]) -> dict[tuple[str, str], str]:
    """{(start, end) markers in docs/real-world.md: the text between them}."""
    return {(START, END): markdown(records)}


def _write(records: list[dict], docs: bool) -> None:
    bench_records.show(PAGE, blocks(records), docs)


if __name__ == "__main__":
    main()
