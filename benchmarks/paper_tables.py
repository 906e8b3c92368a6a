"""The paper's Tables 1, 4 and 5 rebuilt from our eval results, beside the paper's figures.

    results/NAME.json (``restorable train --all`` or ``restorable eval --json``) ─► markdown
        Table 1   per operator: ours guided (OP), ours as the paper (OP-learned), IED (OP-ied),
                  Operator + Stega (OP-stega); approximation and restoration, PNG
        Table 4   ablations on L0: no restoration loss, no ψ, 4 blocks, full (OP-learned)
        Table 5   L0 restoration at JPEG 70 / 80 / 90, without (l0) and with (l0-jpeg)
                  compression-aware training

    python benchmarks/paper_tables.py [--results DIR] [--op l0] [--docs]

Figures are PSNR / SSIM (8-bit, SSIM as scikit-image's default). A model with no result prints
"-". Train what is missing with ``restorable train --all --ops OPS --variants
learned,ied,stega,ablation-no-psi,ablation-k4,ablation-no-restore-loss``. Ours are measured on
our validation photos, the paper's on MIT-Adobe 5K: compare the gaps between rows, not the
absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from restorable.training.history import describe

ROOT = Path(__file__).parents[1]

ORDER = "wls llf l0 wmf rtv rgf bwp cpd rain scream retouch exposure".split()
KIND = dict(zip(ORDER, "I I II II II II II III III III app app".split(), strict=True))

# Ouyang et al. 2022, Table 1 (MIT-Adobe 5K test, PNG), PSNR / SSIM:
# operator -> {method: (approx PSNR, approx SSIM, restore PSNR, restore SSIM)}
PAPER_TABLE1 = {
    "wls": {
        "ours": (32.58, 0.982, 37.31, 0.985),
        "ied": (32.45, 0.982, 31.73, 0.970),
        "stega": (26.74, 0.920, 27.89, 0.905),
    },
    "llf": {
        "ours": (32.29, 0.976, 38.16, 0.988),
        "ied": (35.97, 0.993, 34.65, 0.984),
        "stega": (27.55, 0.927, 28.20, 0.907),
    },
    "l0": {
        "ours": (32.54, 0.952, 36.46, 0.975),
        "ied": (32.19, 0.961, 28.30, 0.876),
        "stega": (30.59, 0.945, 28.43, 0.906),
    },
    "wmf": {
        "ours": (40.81, 0.967, 41.25, 0.980),
        "ied": (38.27, 0.986, 29.65, 0.937),
        "stega": (33.77, 0.966, 28.26, 0.903),
    },
    "rtv": {
        "ours": (38.13, 0.984, 38.76, 0.987),
        "ied": (35.85, 0.976, 28.98, 0.902),
        "stega": (34.06, 0.972, 28.66, 0.915),
    },
    "rgf": {
        "ours": (38.01, 0.988, 40.06, 0.991),
        "ied": (36.72, 0.984, 28.47, 0.905),
        "stega": (34.09, 0.973, 28.65, 0.915),
    },
    "bwp": {
        "ours": (45.86, 0.998, 40.50, 0.991),
        "ied": (47.03, 0.997, 25.41, 0.917),
        "stega": (30.10, 0.936, 28.32, 0.905),
    },
    "cpd": {
        "ours": (15.71, 0.748, 32.33, 0.946),
        "ied": (16.72, 0.753, 14.99, 0.573),
        "stega": (30.22, 0.964, 25.37, 0.837),
    },
    "rain": {
        "ours": (14.69, 0.626, 36.24, 0.984),
        "ied": (15.37, 0.618, 15.27, 0.569),
        "stega": (21.54, 0.864, 28.17, 0.915),
    },
    "scream": {
        "ours": (19.30, 0.733, 37.84, 0.988),
        "ied": (19.71, 0.769, 16.45, 0.670),
        "stega": (31.11, 0.941, 28.65, 0.926),
    },
}
# Table 4 (L0): approx PSNR, SSIM, restore PSNR, SSIM, by our model-name suffix
PAPER_TABLE4 = {
    "-ablation-no-restore-loss": (32.10, 0.946, 16.69, 0.672),
    "-ablation-no-psi": (29.78, 0.921, 43.32, 0.993),
    "-ablation-k4": (31.26, 0.947, 35.08, 0.971),
    "-learned": (32.54, 0.952, 36.46, 0.975),
}
# Table 5 (L0): restore PSNR, SSIM at JPEG 70, 80, 90; without / with compression-aware training
PAPER_TABLE5 = {
    "": ((26.48, 0.652), (26.91, 0.669), (28.06, 0.690)),
    "-jpeg": ((26.95, 0.711), (27.78, 0.743), (28.87, 0.786)),
}

# Table 1's columns: (heading, our model-name suffix or None for the paper's figures, method)
TABLE1_COLUMNS = [
    ("ours guided (OP)", "", None),
    ("ours as paper (OP-learned)", "-learned", None),
    ("IED (OP-ied)", "-ied", None),
    ("Op.+Stega (OP-stega)", "-stega", None),
    ("paper: ours", None, "ours"),
    ("paper: IED", None, "ied"),
    ("paper: Op.+Stega", None, "stega"),
]
TABLE4_ROWS = [
    ("no restoration loss", "-ablation-no-restore-loss"),
    ("no auxiliary branch ψ", "-ablation-no-psi"),
    ("4 invertible blocks, not 8", "-ablation-k4"),
    # the full model trained beside the ablations on the same budget (saved as
    # OP-ablation-full); OP-learned, the shipped one, when there is none
    ("full (the paper's design)", "-ablation-full"),
]
START, END = "<!-- paper-tables:start -->", "<!-- paper-tables:end -->"
DOCS = "docs/results.md"  # the one page that holds these figures


def load_results(folder: Path) -> dict[str, dict]:
    """Eval results by model name (``name``, else the version without ``-vN``)."""
    results = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            r = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if not isinstance(r, dict) or "mean" not in r or "op" not in r:
            continue  # summary files and the like
        name = r.get("name") or str(r.get("model", path.stem)).rsplit("-v", 1)[0]
        results[name] = r
    return results


def _num(x: float | None, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return "∞" if math.isinf(x) else f"{x:.{digits}f}"


def _pair(psnr: float | None, ssim: float | None) -> str:
    return "-" if psnr is None else f"{_num(psnr, 2)} / {_num(ssim, 3)}"


def _ours(results: dict[str, dict], name: str, fmt: str, what: str) -> str:
    """``what`` ("approx" or "restore") PSNR / SSIM of model ``name`` stored as ``fmt``."""
    m = results.get(name, {}).get("mean", {}).get(fmt)
    if not m or f"{what}_psnr" not in m:
        return "-"
    return _pair(m[f"{what}_psnr"], m.get(f"{what}_ssim"))


def _header(cells: list[str]) -> list[str]:
    return ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]


def table1(results: dict[str, dict]) -> str:
    ops = [op for op in ORDER if op in PAPER_TABLE1 or any(r["op"] == op for r in results.values())]
    lines = ["**Table 1** (PNG; PSNR / SSIM)", ""]
    for what, title in (("approx", "Approximation"), ("restore", "Restoration")):
        lines += [f"*{title}*", ""]
        lines += _header(["operator", "type"] + [c[0] for c in TABLE1_COLUMNS])
        for op in ops:
            cells = [op, KIND.get(op, "?")]
            for _, suffix, method in TABLE1_COLUMNS:
                if suffix is not None:
                    cells.append(_ours(results, op + suffix, "png", what))
                else:
                    paper = PAPER_TABLE1.get(op, {}).get(method)
                    i = 0 if what == "approx" else 2
                    cells.append(_pair(*paper[i : i + 2]) if paper else "-")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def _trained(r: dict | None) -> str:
    t = (r or {}).get("training") or {}
    if not t:
        return "-"
    return describe(t)


def table4(results: dict[str, dict], op: str = "l0") -> str:
    lines = [f"**Table 4** (ablations, {op}, PNG; PSNR / SSIM)", ""]
    lines += _header(
        ["model", "name", "approx.", "restore", "paper approx.", "paper restore", "training"]
    )
    for label, suffix in TABLE4_ROWS:
        if suffix == "-ablation-full" and op + suffix not in results:
            suffix = "-learned"
        key = "-learned" if suffix == "-ablation-full" else suffix
        paper = PAPER_TABLE4[key] if op == "l0" else (None,) * 4
        lines.append(
            f"| {label} | {op}{suffix} | {_ours(results, op + suffix, 'png', 'approx')} "
            f"| {_ours(results, op + suffix, 'png', 'restore')} "
            f"| {_pair(*paper[:2])} | {_pair(*paper[2:])} | {_trained(results.get(op + suffix))} |"
        )
    return "\n".join(lines)


def table5(results: dict[str, dict], op: str = "l0") -> str:
    lines = [f"**Table 5** (restoration from JPEG, {op}; PSNR / SSIM)", ""]
    qualities = (70, 80, 90)
    lines += _header(
        ["training", "name"]
        + [f"JPEG-{q}" for q in qualities]
        + [f"paper JPEG-{q}" for q in qualities]
    )
    for label, suffix in (("without compression-aware", ""), ("with compression-aware", "-jpeg")):
        paper = PAPER_TABLE5[suffix] if op == "l0" else ((None, None),) * 3
        ours = [_ours(results, op + suffix, f"jpeg{q}", "restore") for q in qualities]
        lines.append(
            f"| {label} | {op}{suffix} | " + " | ".join(ours + [_pair(*p) for p in paper]) + " |"
        )
    return "\n".join(lines)


def tables(folder: Path, op: str = "l0") -> str:
    results = load_results(folder)
    photos = sorted({r.get("photos") for r in results.values() if r.get("photos")})
    if folder.resolve().is_relative_to(ROOT.resolve()):
        folder = folder.resolve().relative_to(ROOT.resolve())
    note = (
        f"Ours: {len(results)} models, {'/'.join(map(str, photos)) or '-'} validation photos "
        f"each (from {folder}); paper: MIT-Adobe 5K test set. '-': no result yet."
    )
    return "\n\n".join([table1(results), table4(results, op), table5(results, op), note])


def write_between(path: Path, start: str, end: str, text: str) -> None:
    """Replace what lies between the markers ``start`` and ``end`` in ``path`` (temp, rename)."""
    doc = path.read_text()
    if start not in doc or end not in doc:
        raise SystemExit(f"{path} has no {start} … {end} markers")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results", help="eval JSON folder")
    ap.add_argument("--op", default="l0", help="operator of Tables 4 and 5 (paper: l0)")
    ap.add_argument("--docs", action="store_true", help=f"rewrite the tables in {DOCS}")
    args = ap.parse_args(argv)
    text = tables(args.results, args.op)
    if args.docs:
        write_between(ROOT / DOCS, START, END, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
