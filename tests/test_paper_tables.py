"""``benchmarks/paper_tables.py`` builds Tables 1, 4 and 5 from whatever results exist."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "paper_tables.py"


def _result(op: str, fmts: dict[str, float], **extra) -> dict:
    mean = {
        fmt: {"approx_psnr": v, "approx_ssim": 0.9, "restore_psnr": v + 1, "restore_ssim": 0.95}
        for fmt, v in fmts.items()
    }
    return {"op": op, "photos": 3, "mean": mean, **extra}


def _tables(folder: Path) -> str:
    """What ``paper_tables.py --results folder`` prints."""
    cmd = [sys.executable, str(SCRIPT), "--results", str(folder)]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_tables_from_two_results_and_dashes_for_the_rest(tmp_path: Path) -> None:
    jpeg = {"png": 31.0, "jpeg70": 25.0, "jpeg80": 26.0, "jpeg90": 27.0}
    (tmp_path / "l0.json").write_text(json.dumps(_result("l0", jpeg, name="l0")))
    # no "name": it comes from the version, as ``restorable eval --json`` writes it
    (tmp_path / "l0-ied.json").write_text(
        json.dumps(_result("l0", {"png": 29.5}, model="l0-ied-v1"))
    )
    (tmp_path / "summary.json").write_text("[]")  # not a result: skipped
    out = _tables(tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| l0 |")]
    assert len(rows) == 2  # approximation and restoration
    # ours guided, ours learned (missing), IED, Stega (missing), then the paper's three
    assert rows[0].split(" | ")[2:7] == [
        "31.00 / 0.900",
        "-",
        "29.50 / 0.900",
        "-",
        "32.54 / 0.952",
    ]
    assert rows[1].split(" | ")[2:5] == ["32.00 / 0.950", "-", "30.50 / 0.950"]
    table5 = [line for line in out.splitlines() if "compression-aware |" in line]
    assert table5[0].split(" | ")[2:6] == ["26.00 / 0.950", "27.00 / 0.950", "28.00 / 0.950"] + [
        "26.48 / 0.652"
    ]
    assert table5[1].split(" | ")[2:5] == ["-", "-", "-"]
    # no full model trained beside the ablations: the shipped OP-learned's row (none here)
    assert (
        "| full (the paper's design) | l0-learned | - | - | 32.54 / 0.952 | 36.46 / 0.975 | - |"
        in out
    )
    assert "Ours: 2 models, 3 validation photos" in out


def test_table4_prefers_the_full_model_of_the_ablations_budget(tmp_path: Path) -> None:
    """Ablations compare with the full model trained beside them, not a longer-trained one."""
    training = {"steps": 476, "trained_minutes": 3.8, "device": "cuda:0"}
    for name, v in (("l0-learned", 31.8), ("l0-ablation-full", 29.1), ("l0-ablation-k4", 29.8)):
        (tmp_path / f"{name}.json").write_text(
            json.dumps(_result("l0", {"png": v}, name=name, training=training))
        )
    out = _tables(tmp_path)
    assert "| l0-ablation-full | 29.10 / 0.900 | 30.10 / 0.950 |" in out
    assert "| l0-ablation-k4 | 29.80 / 0.900 |" in out and "476 steps, 3.8 min GPU |" in out
