"""Where the time goes when a user runs the command line on a big photo: a stage table.

    python benchmarks/bench_cli_stages.py [--megapixels 24] [--model l0] [--learned l0-learned]
        [--jpeg-model l0-jpeg] [--photo PATH] [--json results/bench_cli_stages.json] [--docs]
    python benchmarks/bench_cli_stages.py --from-json results/bench_cli_stages.json --docs

Two parts, on the same photo (``--photo``, else the largest of ``../shared/photos`` when that
folder exists, else a bundled sample; resized to ``--megapixels`` at its own aspect and saved
as a PNG input):

1. *End to end*: ``restorable apply`` then ``restorable restore`` as a user runs them, each
   in its own process (interpreter start, imports and model loading included): wall time and
   the process's peak resident memory. Also a learned model's apply (no classic operator) and
   the restore of a JPEG edit, so users can pick.
2. *Stages*, in this process, each timed alone in the order the CLI runs them: read (file
   bytes), decode, colour conversion, guide (the classic operator), network, hash, encode
   (PNG at the default level, and at Pillow's default 6 for comparison), write.

Run it on an idle machine: every stage is CPU-bound, so anything else running inflates it.
``--docs`` writes the tables into docs/results.md (Speed), ``--from-json`` without measuring.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src/restorable/samples/libjxl-testdata__tmshre_riaphotographs_srgb8.jpg"


def _photo(path: str | None) -> Path:
    if path:
        return Path(path)
    shared = ROOT.parent / "shared" / "photos"
    if shared.is_dir():
        photos = sorted(shared.glob("*.jpg"), key=lambda p: p.stat().st_size)
        if photos:
            return photos[-1]
    return SAMPLE


def make_input(src: Path, megapixels: float, folder: Path) -> Path:
    """``src`` resized (Lanczos) to ``megapixels`` at its aspect, written as a PNG input."""
    import cv2

    from restorable.files import read_image, write_image

    photo = read_image(src)
    aspect = photo.shape[1] / photo.shape[0]
    h = round((megapixels * 1e6 / aspect) ** 0.5)
    w = round(h * aspect)
    big = cv2.resize(photo, (w, h), interpolation=cv2.INTER_LANCZOS4)
    return write_image(folder / "input.png", big)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def stages(model_name: str, src: Path, restore: bool) -> list[tuple[str, float]]:
    """Seconds per stage of ``apply`` (or ``restore`` of ``src``) as the CLI runs them."""
    import numpy as np
    from PIL import Image

    from restorable.files import content_hash, read_image
    from restorable.models import load

    model = load(model_name)
    rows = []
    data, t = _timed(Path(src).read_bytes)
    rows.append(("read file", t))

    def decode():
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im

    _, t_decode = _timed(decode)
    rows.append(("decode", t_decode))
    img, t = _timed(read_image, src)
    rows.append(("colour conversion and checks", max(0.0, t - t_decode)))
    if restore:
        _, t = _timed(content_hash, img)
        rows.append(("hash (record check)", t))
        out, t = _timed(model.restore, img)
        rows.append(("network (restore)", t))
    else:
        guide, t = _timed(model.guide, img)
        rows.append(("guide (classic operator)", t if guide is not None else 0.0))
        model.guide = lambda *a, **k: guide  # the network alone next
        out, t = _timed(model.apply, img)
        rows.append(("network (apply)", t))
        _, t = _timed(content_hash, out)
        rows.append(("hash (record)", t))
    pil = Image.fromarray(np.ascontiguousarray(out))
    from restorable.files import PNG_COMPRESSION

    buf = io.BytesIO()
    _, t = _timed(pil.save, buf, "PNG", compress_level=PNG_COMPRESSION)
    rows.append((f"encode PNG (level {PNG_COMPRESSION}, {len(buf.getvalue()) / 1e6:.1f} MB)", t))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.png"

        def write():
            with open(target, "wb") as fh:
                fh.write(buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())

        _, t = _timed(write)
        rows.append(("write file (fsync)", t))
    slow = io.BytesIO()
    _, t = _timed(pil.save, slow, "PNG", compress_level=6)
    rows.append((f"(encode at Pillow's default 6: {len(slow.getvalue()) / 1e6:.1f} MB)", t))
    return rows


START, END = "<!-- cli-stages:start -->", "<!-- cli-stages:end -->"


def markdown(results: dict) -> str:
    """The two tables of ``results`` (this script's JSON) as Markdown."""
    lines = [
        f"End to end through the CLI, {results['megapixels']:.1f} MP "
        "(interpreter start, imports, model loading, reading and writing included):",
        "",
        "| command | model | seconds | peak memory (MB) | output (MB) |",
        "|---|---|---|---|---|",
    ]
    for row in results["end_to_end"]:
        lines.append(
            f"| {row['what']} | {row['model']} | {row['seconds']:.1f} | {row['peak_mb']:.0f} "
            f"| {row['file_mb']:.1f} |"
        )
    for what, rows in results.get("stages", {}).items():
        lines += ["", f"Stages of {what}, in process (seconds):", ""]
        lines += ["| stage | seconds |", "|---|---|"]
        lines += [f"| {stage} | {seconds:.2f} |" for stage, seconds in rows]
    return "\n".join(lines)


def _child(args: argparse.Namespace) -> None:
    rows = stages(args.stage_model, Path(args.stage_src), args.stage_restore)
    print(json.dumps(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--megapixels", type=float, default=24.0)
    p.add_argument("--model", default="l0", help="guided model (default l0)")
    p.add_argument("--learned", default="l0-learned", help="learned model ('' to skip)")
    p.add_argument("--jpeg-model", default="l0-jpeg", help="JPEG model ('' to skip)")
    p.add_argument("--photo", help="source photo (default: see the module doc)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--no-stages", action="store_true", help="end to end only")
    p.add_argument("--docs", action="store_true", help="write the tables into docs/results.md")
    p.add_argument("--from-json", help="render this script's JSON without measuring")
    p.add_argument("--stage-model", help=argparse.SUPPRESS)
    p.add_argument("--stage-src", help=argparse.SUPPRESS)
    p.add_argument("--stage-restore", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.stage_model:
        return _child(args)
    if args.from_json:
        return _write(json.loads(Path(args.from_json).read_text()), args.docs)

    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        folder = Path(tmp)
        src = make_input(_photo(args.photo), args.megapixels, folder)
        from restorable.files import read_image

        h, w = read_image(src).shape[:2]
        print(f"photo: {_photo(args.photo).name} resized to {w}x{h} ({w * h / 1e6:.1f} MP)")
        runs = [("apply", args.model, ["apply", "--op", args.model, str(src), "-o"], "e.png")]
        runs.append(("restore", args.model, ["restore", str(folder / "e.png"), "-o"], "r.png"))
        if args.learned:
            runs.append(
                (
                    "apply (learned)",
                    args.learned,
                    ["apply", "--op", args.learned, str(src), "-o"],
                    "l.png",
                )
            )
        if args.jpeg_model:
            runs.append(
                (
                    "apply (JPEG q90)",
                    args.jpeg_model,
                    ["apply", "--op", args.model, "--quality", "90", str(src), "-o"],
                    "j.jpg",
                )
            )
            runs.append(
                (
                    "restore (JPEG)",
                    args.jpeg_model,
                    ["restore", str(folder / "j.jpg"), "-o"],
                    "rj.png",
                )
            )
        results: dict = {"megapixels": w * h / 1e6, "end_to_end": [], "stages": {}}
        print(
            f"\n{'end to end (CLI)':28} {'model':12} {'seconds':>8} {'peak MB':>8} {'file MB':>8}"
        )
        for what, name, argv, out in runs:
            # a fresh python per run, measured through a shell so each peak is its own
            probe = (
                "import resource,subprocess,sys,time;t=time.perf_counter();"
                "r=subprocess.run(sys.argv[1:]);"
                "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN)"
                ".ru_maxrss/1024);sys.exit(r.returncode)"
            )
            cmd = [
                sys.executable,
                "-c",
                probe,
                sys.executable,
                "-m",
                "restorable.cli",
                *argv,
                str(folder / out),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()[-400:]}")
            wall, peak = map(float, proc.stdout.split()[-2:])
            size = (folder / out).stat().st_size / 1e6
            print(f"{what:28} {name:12} {wall:8.1f} {peak:8.0f} {size:8.1f}")
            results["end_to_end"].append(
                {"what": what, "model": name, "seconds": wall, "peak_mb": peak, "file_mb": size}
            )
        if not args.no_stages:
            for what, name, restore, file in (
                ("apply", args.model, False, src),
                ("restore", args.model, True, folder / "e.png"),
            ):
                proc = subprocess.run(
                    [sys.executable, __file__, "--stage-model", name, "--stage-src", str(file)]
                    + (["--stage-restore"] if restore else []),
                    capture_output=True,
                    text=True,
                )
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr.strip()[-400:])
                rows = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"\nstages of {what} ({name}), in process")
                for stage, seconds in rows:
                    print(f"  {stage:52} {seconds:7.2f} s")
                results["stages"][what] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    if args.docs:
        _write(results, True)


def _write(results: dict, docs: bool) -> None:
    text = markdown(results)
    if not docs:
        print(text)
        return
    from paper_tables import write_between

    write_between(ROOT / "docs" / "results.md", START, END, text)
    print("wrote docs/results.md (Speed)")


if __name__ == "__main__":
    main()
