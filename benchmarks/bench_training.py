"""Training speed: milliseconds per step of the real training loop, float32 beside the default.

    python benchmarks/bench_training.py [--op llf] [--steps 150] [--threads 1] [--device cpu]

Runs ``restorable.training.train.train`` for ``--steps`` steps of the shipped CPU recipe (guided
net, batch 8 × 96² crops, PNG storage) on the bundled samples, once per precision, and reads the
time per step from the run's own log (steps 50 to the end, so start-up and the first steps'
allocations are left out). Precisions: "fp32" (float32 throughout: the baseline) and "auto"
(the default: bf16 autocast where the device computes bf16 natively, ``TRAIN_AUTOCAST``). Both
use channels-last tensors. The figures a session trains by: the steps a CPU minute buys.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from restorable.training.recipes import recipe
from restorable.training.train import TrainConfig, autocast_passes, precision_label, train

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


def ms_per_step(run: Path, first: int = 50) -> float:
    """Mean wall time per step after step ``first``, from the run's log."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    a = next(r for r in log if r["step"] == first)
    b = log[-1]
    return 1000 * (b["elapsed_s"] - a["elapsed_s"]) / (b["step"] - a["step"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", default="llf")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.steps < 100:
        ap.error("--steps must be at least 100 (the timing starts at step 50)")
    config = recipe(args.op, "png", "cpu")  # the shipped CPU recipe, on any --device
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "auto"):
            cfg = TrainConfig.from_dict(
                {
                    **config,
                    "op": args.op,
                    "photos": str(SAMPLES),
                    "steps": args.steps,
                    "minutes": None,
                    "threads": args.threads,
                    "device": args.device,
                    "precision": precision,
                    "val_every": 10**9,
                    "ckpt_minutes": 10**6,
                    "run_dir": f"{tmp}/{precision}",
                }
            )
            label = precision_label(*autocast_passes(cfg))
            figures[precision] = ms_per_step(train(cfg, progress=False))
            print(f"{precision:5s} ({label}): {figures[precision]:.0f} ms/step", flush=True)
    print(
        f"{args.op}, batch {cfg.batch} × {cfg.crop}² crops, {args.threads} thread(s), "
        f"{args.device}: the default trains {figures['fp32'] / figures['auto']:.2f}× the steps "
        "of float32 per minute"
    )


if __name__ == "__main__":
    main()
