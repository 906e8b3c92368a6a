"""The paper's Table 3: one conditioned model per operator, measured at several settings.

    OP-cond (restorable train --all --variants cond) ─► eval at each setting ─► markdown
        l0   lam   0.01 0.02 0.04   (the paper's "L0 smooth / σ")
        llf  alpha 0.1  0.25 1.0    (the paper's "LLF / λ")
        exposure gain 1.25 2 4      (no paper figures)

    python benchmarks/table3.py [--weights runs-all/weights] [--ops l0,llf] [--limit 10] [--docs]
    python benchmarks/table3.py --from-json results/table3.json [--docs]   # no measuring

Each cell is ``restorable eval --op OP-cond --param NAME=VALUE``: approximation PSNR of the
stored PNG against the classic operator at that setting, restoration PSNR against the photo,
on our validation photos (the paper's on MIT-Adobe 5K: compare the trend across settings, not
the absolute numbers). "identity" is what leaving the photo unchanged scores at that setting.
"single-setting OP" is the shipped model for the default setting (results/OP.json), beside it.
``--json FILE`` keeps the rows (results/table3.json holds the measured ones: measuring
``--ops llf`` alone updates its rows there); ``--docs`` writes the table into docs/results.md
between its table3 markers, from those rows, the one place it lives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from restorable.errors import RestorableError
from restorable.evaluation.evaluate import evaluate_model
from restorable.models import load
from restorable.network.conditioning import RANGES

# Ouyang et al. 2022, Table 3 (PSNR, PNG): operator -> {setting: (approx, restore)}
PAPER_TABLE3 = {
    "l0": {0.01: (32.83, 37.18), 0.02: (32.37, 36.11), 0.04: (31.84, 35.28)},
    "llf": {0.1: (32.53, 37.20), 0.25: (32.29, 37.14), 1.0: (32.16, 37.00)},
}
SETTINGS = {"l0": [0.01, 0.02, 0.04], "llf": [0.1, 0.25, 1.0], "exposure": [1.25, 2.0, 4.0]}
ROOT = Path(__file__).parents[1]
START, END = "<!-- table3:start -->", "<!-- table3:end -->"


def single_setting(op: str, param: str, value: float) -> str:
    """approx / restore PSNR of the shipped single-setting model, at its default setting only."""
    from restorable.operators import get_operator

    if get_operator(op).defaults.get(param) != value:
        return ""
    path = ROOT / "results" / f"{op}.json"
    if not path.exists():
        return "-"
    png = json.loads(path.read_text())["mean"]["png"]
    return f"{png['approx_psnr']:.2f} / {png['restore_psnr']:.2f}"


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def measure(
    ops: list[str], weights: str | None, limit: int | None, photos: str | None = None
) -> list[dict]:
    """One row per operator and setting: the conditioned model evaluated at that setting."""
    rows = []
    for op in ops:
        name, param = f"{op}-cond", RANGES[op]["param"]
        model = load(name, weights)
        for value in SETTINGS[op]:
            r = evaluate_model(model, photos, limit=limit, params={param: value}, progress=False)
            png = r["mean"]["png"]
            rows.append(
                {
                    "model": name,
                    param: value,
                    "approx_psnr": png["approx_psnr"],
                    "restore_psnr": png["restore_psnr"],
                    "identity_approx_psnr": r["identity_approx_psnr"],
                    "photos": r["photos"],
                    "paper": PAPER_TABLE3.get(op, {}).get(value, (None, None)),
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    """The table (and its note) for ``rows`` as :func:`measure` returns or the JSON keeps them."""
    lines = [
        "| model | setting | approx. (ours) | approx. (paper) | restore (ours) | restore (paper) "
        "| identity approx. | single-setting OP (approx. / restore) | photos |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        op = row["model"].removesuffix("-cond")
        param = RANGES[op]["param"]
        value, paper = row[param], row.get("paper") or (None, None)
        lines.append(
            f"| {row['model']} | {param}={value:g} | {_f(row['approx_psnr'])} | {_f(paper[0])} "
            f"| {_f(row['restore_psnr'])} | {_f(paper[1])} | "
            f"{_f(row['identity_approx_psnr'])} | {single_setting(op, param, value)} "
            f"| {row['photos']} |"
        )
    note = "PSNR dB, 8-bit PNG; paper: MIT-Adobe 5K. One model per operator serves every setting."
    return "\n".join(lines) + "\n\n" + note


def merge(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` rows with those of the models in ``new`` replaced (measuring one operator
    again keeps the others' rows), in operator order."""
    models = {row["model"] for row in new}
    rows = [row for row in old if row["model"] not in models] + new
    order = list(SETTINGS)
    return sorted(rows, key=lambda r: order.index(r["model"].removesuffix("-cond")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", help="folder of OP-cond models (default: installed ones)")
    p.add_argument("--ops", default="l0,llf,exposure", help="comma-separated (default all three)")
    p.add_argument("--limit", type=int, help="validation photos per setting (default all 40)")
    p.add_argument("--photos", help="a folder of your own photos instead of the validation split")
    p.add_argument("--json", help="write the rows here (merged with the file's other models)")
    p.add_argument("--from-json", help="format these rows (results/table3.json): no measuring")
    p.add_argument("--docs", action="store_true", help="write the table into docs/results.md")
    args = p.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())
    else:
        try:
            rows = measure(args.ops.split(","), args.weights, args.limit, args.photos)
        except RestorableError as exc:
            raise SystemExit(f"error: {exc}") from None
        if args.json:
            path = Path(args.json)
            old = json.loads(path.read_text()) if path.exists() else []
            rows = merge(old, rows)
            path.write_text(json.dumps(rows, indent=1) + "\n")
    text = markdown(rows)
    print(text)
    if args.docs:
        sys.path.insert(0, str(Path(__file__).parent))
        from paper_tables import write_between

        write_between(ROOT / "docs" / "results.md", START, END, text)


if __name__ == "__main__":
    main()
