"""The README's results table: our eval figures (results/<op>.json, written by
``restorable eval --op OP --jpeg 90 80 70 --json results/OP.json``) next to the paper's.

    python benchmarks/results_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parents[1] / "results"

# Ouyang et al. 2022, Table 1 (PNG, MIT-Adobe 5K) and Table 4 (L0, JPEG, compression-aware).
PAPER = {
    "wls": {"png": (32.58, 0.982, 37.31, 0.985)},
    "llf": {"png": (32.29, 0.976, 38.16, 0.988)},
    "l0": {
        "png": (32.54, 0.952, 36.46, 0.975),
        # Table 4 without compression-aware optimisation (PSNR only)
        "jpeg90": (None, None, 28.06, None),
        "jpeg80": (None, None, 26.91, None),
        "jpeg70": (None, None, 26.48, None),
    },
    "l0-jpeg": {  # Table 4 with compression-aware optimisation
        "png": (32.54, 0.952, 36.46, 0.975),
        "jpeg90": (None, None, 28.87, 0.786),
        "jpeg80": (None, None, 27.78, 0.743),
        "jpeg70": (None, None, 26.95, 0.711),
    },
    "wmf": {"png": (40.81, 0.967, 41.25, 0.980)},
    "rtv": {"png": (38.13, 0.984, 38.76, 0.987)},
    "rgf": {"png": (38.01, 0.988, 40.06, 0.991)},
    "bwp": {"png": (45.86, 0.998, 40.50, 0.991)},
    "cpd": {"png": (15.71, 0.748, 32.33, 0.946)},
}


def _cell(psnr: float | None, ssim: float | None) -> str:
    if psnr is None:
        return "-"
    return f"{psnr:.2f}" if ssim is None else f"{psnr:.2f} / {ssim:.3f}"


def table() -> str:
    lines = [
        "| model | stored as | approx. PSNR/SSIM (ours) | restore PSNR/SSIM (ours) "
        "| approx. (paper) | restore (paper) | identity approx. | photos | model |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json"), key=lambda p: p.stem):
        r = json.loads(path.read_text())
        name = r["model"].rsplit("-v", 1)[0]  # "l0-jpeg-v1" -> "l0-jpeg"
        for fmt, m in r["mean"].items():
            paper = PAPER.get(name, {}).get(fmt, (None, None, None, None))
            lines.append(
                f"| {name} | {fmt.upper().replace('JPEG', 'JPEG q')} "
                f"| {_cell(m['approx_psnr'], m['approx_ssim'])} "
                f"| {_cell(m['restore_psnr'], m['restore_ssim'])} "
                f"| {_cell(*paper[:2])} | {_cell(*paper[2:])} "
                f"| {r['identity_approx_psnr']:.2f} | {r['photos']} | {r['model']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
