"""The results table (Table 1 on our validation split): every model's eval figures
(results/NAME.json, written by ``restorable eval --op NAME --jpeg 90 80 70 --json
results/NAME.json`` or by ``restorable train --all``) next to the paper's; and the README's
operator table, one row per operator, from the same files; and the second set's table
(results/second_set/NAME.json, ``restorable eval --model NAME --photos
~/.cache/restorable/second_set --json results/second_set/NAME.json``, the photos built by
``python benchmarks/second_set.py``) beside the validation figures.

    python benchmarks/results_table.py          # print the results table
    python benchmarks/results_table.py --docs   # rewrite docs/results.md and README.md's table
    python benchmarks/results_table.py --second-set  # print the second set's table

All are written between their markers, so every figure has one generated place and a test
(tests/test_docs.py) fails when a result changes and the pages were not regenerated.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "results"
WEIGHTS = ROOT / "src" / "restorable" / "weights"
START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"
OPS_START, OPS_END = "<!-- operators-table:start -->", "<!-- operators-table:end -->"
# the second evaluation set (benchmarks/second_set.py): results/second_set/NAME.json
SECOND_SET = RESULTS / "second_set"
SECOND_START, SECOND_END = "<!-- second-set:start -->", "<!-- second-set:end -->"
DOCS, README = ROOT / "docs" / "results.md", ROOT / "README.md"

# the paper's figures live in one place: paper_tables.py beside this file
sys.path.insert(0, str(Path(__file__).parent))
from paper_tables import (  # noqa: E402
    KIND,
    ORDER,
    PAPER_TABLE1,
    PAPER_TABLE5,
    _trained,
    write_between,
)

# Table 1 (PNG, MIT-Adobe 5K): approx PSNR/SSIM, restore PSNR/SSIM of the paper's own method
PAPER = {op: methods["ours"] for op, methods in PAPER_TABLE1.items()}
# Table 5 (L0, JPEG restore PSNR at q90 / q80 / q70): without and with compression-aware training
PAPER_JPEG = {
    "l0" + suffix: tuple(psnr for psnr, _ in reversed(cells))
    for suffix, cells in PAPER_TABLE5.items()
}


def _f(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return "∞" if math.isinf(x) else f"{x:.{digits}f}"


def _pair(psnr: float | None, ssim: float | None) -> str:
    return "-" if psnr is None else f"{_f(psnr)} / {_f(ssim, 3)}"


def _training(r: dict) -> str:
    """Steps, minutes, device: from the result, else from the shipped card."""
    if r.get("training") is None:
        card = WEIGHTS / f"{r.get('name') or r['model'].rsplit('-v', 1)[0]}.json"
        r = {"training": json.loads(card.read_text()).get("training") if card.exists() else None}
    return _trained(r)


def load_results(folder: Path = RESULTS, weights: Path | None = WEIGHTS) -> list[dict]:
    """Eval results of the models that ship (a card in ``weights``; every result if None):
    baselines, ablations and unshipped learned models live in results/ for paper_tables.py."""
    rows = []
    for path in folder.glob("*.json"):
        r = json.loads(path.read_text())
        if "mean" not in r:
            continue
        r.setdefault("name", r["model"].rsplit("-v", 1)[0])  # "l0-jpeg-v1" -> "l0-jpeg"
        if weights is not None and not (weights / f"{r['name']}.json").exists():
            continue
        rows.append(r)

    def key(r: dict) -> tuple:
        op, variant = r["op"], r["name"][len(r["op"]) :]
        rank = ["", "-jpeg", "-learned"]
        return (
            ORDER.index(op) if op in ORDER else 99,
            rank.index(variant) if variant in rank else 9,
        )

    return sorted(rows, key=key)


def table(folder: Path = RESULTS) -> str:
    lines = [
        "| model | type | approx. PNG (ours) | approx. (paper) | restore PNG (ours) "
        "| restore (paper) | restore JPEG q90 / q80 / q70 | identity approx. | photos | training |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in load_results(folder):
        m, op, name = r["mean"], r["op"], r["name"]
        png = m["png"]
        paper = PAPER.get(op, (None, None, None, None))
        jpeg = " / ".join(
            _f(m[f"jpeg{q}"]["restore_psnr"]) if f"jpeg{q}" in m else "-" for q in (90, 80, 70)
        )
        if name in PAPER_JPEG:
            jpeg += " (paper " + " / ".join(_f(v) for v in PAPER_JPEG[name]) + ")"
        lines.append(
            f"| {name} | {KIND.get(op, '?')} | {_pair(png['approx_psnr'], png['approx_ssim'])} "
            f"| {_pair(*paper[:2])} | {_pair(png['restore_psnr'], png['restore_ssim'])} "
            f"| {_pair(*paper[2:])} | {jpeg} | {_f(r['identity_approx_psnr'])} "
            f"| {r['photos']} | {_training(r)} |"
        )
        for k, v in png.items():
            if k.endswith("_restore_psnr"):
                what = k[: -len("_restore_psnr")]
                q90 = m.get("jpeg90", {}).get(k)
                notes.append(
                    f"- `{name}`: restore PSNR over the {what.replace('_', ' ')} pixels "
                    f"{_f(v)} dB PNG, {_f(q90)} dB JPEG q90 (the edited file itself scores "
                    f"{_f(png.get(what + '_identity_psnr'))} dB there; "
                    f"{r.get('region_photos', r['photos'])} photos)"
                )
    return "\n".join(lines + ([""] + notes if notes else []))


def operators_table(folder: Path = RESULTS, weights: Path = WEIGHTS) -> str:
    """The README's one table: per operator what it does, the models that ship, and how well
    its guided model restores (PNG; and its ``OP-jpeg`` from JPEG q90) beside the paper."""
    from restorable.models import models_by_op
    from restorable.operators import get_operator, operator_ids

    results = {r["name"]: r["mean"] for r in load_results(folder, weights)}
    shipped = models_by_op(weights)

    def restore(name: str, fmt: str) -> str:
        return _f(results.get(name, {}).get(fmt, {}).get("restore_psnr"))

    lines = [
        "| id | type | what it does | models shipped | restore PNG (`OP`) | paper "
        "| restore JPEG q90 (`OP-jpeg`) |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in operator_ids():
        info = get_operator(op)
        names = " ".join(f"`{n}`" for n in shipped.get(op, [])) or "-"
        paper = PAPER.get(op, (None,) * 4)[2]
        lines.append(
            f"| `{op}` | {info.kind} | {info.title} | {names} | {restore(op, 'png')} "
            f"| {_f(paper)} | {restore(op + '-jpeg', 'jpeg90')} |"
        )
    return "\n".join(lines)


def second_set_table(folder: Path = RESULTS, second: Path | None = None) -> str:
    """Each model measured on the second set beside its validation figures (PNG): issue #31
    ships a retrained model only if it is better on both. The set holds the bundled samples,
    which are validation photos, so "new photos" also gives the mean over the others alone."""
    from restorable.data.split import SAMPLE_PHOTOS

    second = folder / "second_set" if second is None else second
    validation = {r["name"]: r for r in load_results(folder)}
    lines = [
        "| model | validation approx. / restore | second set approx. / restore "
        "| restore vs validation | new photos only: approx. / restore | photos (new) |",
        "|---|---|---|---|---|---|",
    ]
    for r in load_results(second) if second.is_dir() else []:
        val = validation.get(r["name"], {}).get("mean", {}).get("png", {})
        png = r["mean"]["png"]
        new = [p["png"] for p in r["per_photo"] if p["photo"] not in SAMPLE_PHOTOS]
        gap = png["restore_psnr"] - val["restore_psnr"] if val else None
        flag = " (more than 1 dB below)" if gap is not None and gap < -1 else ""
        lines.append(
            f"| {r['name']} | {_f(val.get('approx_psnr'))} / {_f(val.get('restore_psnr'))} "
            f"| {_f(png['approx_psnr'])} / {_f(png['restore_psnr'])} "
            f"| {'-' if gap is None else f'{gap:+.2f}'} dB{flag} "
            f"| {_f(_mean([p['approx_psnr'] for p in new]))} / "
            f"{_f(_mean([p['restore_psnr'] for p in new]))} | {r['photos']} ({len(new)}) |"
        )
    return "\n".join(lines)


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def write_docs() -> None:
    write_between(DOCS, START, END, table())
    write_between(DOCS, SECOND_START, SECOND_END, second_set_table())
    write_between(README, OPS_START, OPS_END, operators_table())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--docs", action="store_true", help="rewrite docs/results.md's and README.md's tables"
    )
    ap.add_argument(
        "--second-set",
        action="store_true",
        help="print the second set's table (results/second_set/, beside the validation figures)",
    )
    args = ap.parse_args()
    if args.docs:
        write_docs()
    else:
        print(second_set_table() if args.second_set else table())
