"""Time and peak memory of ``apply`` and ``restore`` on photos of 0.3 to 24 megapixels.

    python benchmarks/bench_megapixels.py --op l0 --sizes 0.3 3 12 24 [--device cuda]
        [--precision fp32] [--budget-mb 1024] [--json results/bench_megapixels.json]
        [--note "this 2-core machine, idle"] [--docs]
    python benchmarks/bench_megapixels.py --from-json results/bench_megapixels.json --docs

Each (size, apply|restore) runs in a fresh subprocess, so its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``; on a GPU also torch's peak GPU memory) is its
own and not inflated by earlier runs. The photo is a bundled sample resized to the target size;
tiles are what ``apply``/``restore`` choose by default (``--budget-mb`` sizes them for that
many MB per network pass instead). ``restore`` runs on the same resized photo (a CNN's cost
does not depend on the pixel values). ``--untrained`` times the default architecture with
random weights, for when no trained model is installed yet.

``--json`` keeps each size's figures as a dated record in results/bench_megapixels.json (a
record replaces the one of the same model, device, precision and size, so measuring one size
again keeps the others); ``--docs`` writes the CPU and GPU tables of docs/results.md (Speed)
from that file.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import bench_records

SAMPLE = Path(__file__).resolve().parents[1] / "src/restorable/samples/scikit-image__coffee.jpg"
RESULTS = bench_records.ROOT / "results" / "bench_megapixels.json"
PAGE = "results.md"  # in docs/
CPU = ("<!-- megapixels:start -->", "<!-- megapixels:end -->")
GPU = ("<!-- megapixels-gpu:start -->", "<!-- megapixels-gpu:end -->")
KEY = ("script", "op", "device_name", "precision", "budget_mb", "megapixels")


def _load(op: str, untrained: bool, device: str = "cpu", precision: str = "auto"):
    if untrained:
        from restorable.models import ModelCard, RestorableModel
        from restorable.network.model import NetConfig, QuasiInvertibleNet

        card = ModelCard(op=op, version=f"{op}-untrained", net=NetConfig().to_dict())
        return RestorableModel(QuasiInvertibleNet(NetConfig()), card, device, precision)
    import restorable

    return restorable.load(op, device=device, precision=precision)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child(args: argparse.Namespace, megapixels: float, what: str) -> dict:
    """One measurement; runs in its own process."""
    import cv2
    import numpy as np
    import torch

    from restorable.files import read_image
    from restorable.tiling import auto_tile

    model = _load(args.op, args.untrained, args.device, args.precision)
    photo = read_image(SAMPLE)
    aspect = photo.shape[1] / photo.shape[0]
    h = round((megapixels * 1e6 / aspect) ** 0.5)
    w = round(h * aspect)
    img = np.ascontiguousarray(cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC))
    overlap = model.apply_overlap if what == "apply" else model.restore_receptive_field
    if args.budget_mb:
        tile = auto_tile(h, w, args.budget_mb, multiple=model.multiple, overlap=overlap)
    else:  # what apply/restore choose for tile="auto"
        tile = model._tile(img, "auto", overlap, restore=what == "restore")
    guide_s = []  # the classic operator's share of apply (a guided model's guide)
    real_guide = model.guide

    def timed_guide(*a, **k):
        start = time.perf_counter()
        out = real_guide(*a, **k)
        guide_s.append(time.perf_counter() - start)
        return out

    model.guide = timed_guide
    before = _max_rss_mb()
    run = model.apply if what == "apply" else model.restore
    start = time.perf_counter()
    out = run(img, tile=tile)
    seconds = time.perf_counter() - start
    assert out.shape == img.shape and out.dtype == np.uint8
    peak = _max_rss_mb()
    gpu = torch.cuda.max_memory_allocated() / 2**20 if model.device != "cpu" else None
    full = tile >= max(-(-h // model.multiple), -(-w // model.multiple)) * model.multiple
    return {
        "w": w,
        "h": h,
        "tile": "one pass" if full else tile,
        "s": seconds,
        "guide_s": sum(guide_s),
        "peak_mb": peak,
        "base_mb": before,
        "gpu_mb": gpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", default="l0")
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.3, 3, 12, 24])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--budget-mb", type=float, help="MB per network pass (default: models.py)")
    parser.add_argument("--untrained", action="store_true", help="random weights, no model file")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measurement")
    parser.add_argument("--json", help="keep the figures in this file (results/...)")
    parser.add_argument("--note", help='what the machine was doing, e.g. "this 2-core machine"')
    parser.add_argument("--docs", action="store_true", help="write the tables into docs/")
    parser.add_argument("--from-json", help="render this file's records without measuring")
    parser.add_argument("--child", nargs=2, metavar=("MP", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.from_json:
        return _write(bench_records.load(args.from_json), args.docs)

    if args.child:
        result = child(args, float(args.child[0]), args.child[1])
        print(json.dumps(result))
        return 0

    import torch

    try:
        model = _load(args.op, args.untrained, args.device, args.precision)
    except Exception as exc:  # noqa: BLE001 - report any failure to load in one line
        print(
            f"cannot load the restorable model for {args.op!r}: {exc}\n"
            "(is src/restorable/models.py in place and a model trained and installed? "
            "--untrained times the architecture with random weights)",
            file=sys.stderr,
        )
        return 1
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"model {model.version}, receptive field {model.receptive_field} px, {model.device}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; GPU: {gpu or 'none'}")
    print(f"precision {args.precision} (apply {model.apply_dtype}, restore ", end="")
    print(f"{model.restore_dtype}); ", end="")
    budget = f"{args.budget_mb:g} MB per pass" if args.budget_mb else "models.py's default"
    print(f"tiles: {budget}; peak = max RSS of a fresh process\n")
    base = {"script": "bench_megapixels.py", **bench_records.stamp(args.note), "op": args.op}
    base.update(
        version=model.version,
        device="cpu" if model.device == "cpu" else "cuda",
        device_name=gpu if model.device != "cpu" else f"CPU, {torch.get_num_threads()} threads",
        precision=args.precision,
        budget_mb=args.budget_mb,
    )
    del model

    header = f"{'MP':>5} {'size':>11} {'tiles a/r':>18} {'apply s (guide)':>16} {'peak MB':>8} "
    print(header + f"{'restore s':>9} {'peak MB':>8}")
    for mp in args.sizes:
        row = {}
        for what in ("apply", "restore"):
            cmd = [sys.executable, __file__, "--op", args.op, "--device", args.device]
            cmd += ["--precision", args.precision, "--child", str(mp), what]
            cmd += ["--budget-mb", str(args.budget_mb)] if args.budget_mb else []
            cmd += ["--untrained"] if args.untrained else []
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                row[what] = None
                continue
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{mp:>5g} {what} failed: {last}", file=sys.stderr)
                row[what] = None
                continue
            row[what] = json.loads(done.stdout.strip().splitlines()[-1])
        first = row.get("apply") or row.get("restore")
        size = f"{first['w']}x{first['h']}" if first else "-"
        tile = "/".join(str(row[k]["tile"]) if row.get(k) else "-" for k in ("apply", "restore"))

        def cells(r):
            if not r:
                return f"{'-':>8} {'-':>8}"
            gpu = f" (GPU {r['gpu_mb']:.0f})" if r.get("gpu_mb") is not None else ""
            guide = f" ({r['guide_s']:.1f})" if r.get("guide_s") else ""
            return f"{r['s']:>8.2f}{guide:>8} {r['peak_mb']:>8.0f}{gpu}"

        print(f"{mp:>5g} {size:>11} {tile:>18} {cells(row['apply'])} {cells(row['restore']):>18}")
        sys.stdout.flush()
        if args.json and first:
            record = dict(base, megapixels=mp, w=first["w"], h=first["h"])
            record.update(apply=row.get("apply"), restore=row.get("restore"))
            bench_records.merge(args.json, record, KEY)
    if args.json:
        print(f"wrote {args.json}")
    if args.docs:
        _write(bench_records.load(args.json or RESULTS), True)
    return 0


def _s(seconds: float) -> str:
    """Seconds as the tables show them: 0.42, 5.2, 44.1."""
    return f"{seconds:.2f}" if seconds < 1 else f"{seconds:.1f}"


def _row(r: dict, gpu: bool) -> list[str]:
    a, z = r.get("apply") or {}, r.get("restore") or {}
    tiles = [str(x.get("tile", "–")) for x in (a, z)]
    memory = "gpu_mb" if gpu else "peak_mb"

    def cells(x: dict, guide: bool) -> list[str]:
        if not x:
            return ["–", "–"]
        took = _s(x["s"]) + (f" ({x['guide_s']:.1f})" if guide and x.get("guide_s") else "")
        return [took, f"{x[memory]:.0f}" if x.get(memory) is not None else "–"]

    return [
        *([r["device_name"]] if gpu else []),
        f"{r['megapixels']:g}",
        f"{r['w']}×{r['h']}",
        tiles[0] if tiles[0] == tiles[1] else " / ".join(tiles),
        *cells(a, True),
        *cells(z, False),
        r["date"],
    ]


def table(records: list[dict], gpu: bool = False) -> str:
    """The CPU (peak resident memory) or the GPU (peak GPU memory) table of ``records``, one row
    per size, then the commands that measured them."""
    rows = [
        r
        for r in records
        if r.get("script") == "bench_megapixels.py" and (r["device"] != "cpu") == gpu
    ]
    rows.sort(key=lambda r: (r["op"], r["precision"], r["megapixels"], r["device_name"]))
    memory = "GPU memory (MB)" if gpu else "peak (MB)"
    head = [*(["GPU"] if gpu else []), "megapixels", "size", "tiles (apply / restore)"]
    head += ["apply (s) (guide)", memory, "restore (s)", memory, "measured"]
    models = len({(r["op"], r["precision"]) for r in rows}) > 1  # else the commands say
    if models:
        head.insert(0, "model (precision)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"`{r['op']}` ({r['precision']})"] * models + _row(r, gpu)
        lines.append("| " + " | ".join(cells) + " |")
    said = dict.fromkeys(f"- {bench_records.provenance(r)}." for r in rows)
    return "\n".join(lines) + "\n\n" + "\n".join(said)


def blocks(records: list[dict]) -> dict[tuple[str, str], str]:
    """{(start, end) markers in docs/results.md: the text between them}."""
    return {CPU: table(records), GPU: table(records, gpu=True)}


def _write(records: list[dict], docs: bool) -> int:
    bench_records.show(PAGE, blocks(records), docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
