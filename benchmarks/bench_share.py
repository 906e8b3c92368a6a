"""Edits after a share pipeline: downsized and recompressed by real tools, then restored.

    python benchmarks/bench_share.py [--models l0-jpeg llf-jpeg l0-share] [--limit 8]
        [--photos DIR] [--pipelines im50-q85 im1080-q85 ...]
        [--json results/bench_share.json] [--note "this 2-core machine"] [--docs]
    python benchmarks/bench_share.py --from-json results/bench_share.json --docs

For each photo at its native size (the validation split's, up to 1024 px, larger than the
640-px training photos, or ``--photos DIR``) and each model: apply, save the edit as PNG, send
it through a share pipeline with the tools sites and users run (ImageMagick: Lanczos resize to
50 %, to 2048 or 1080 px long side, then JPEG q85 4:2:0; or the same resizes then ``cwebp -q
80``), decode what comes back and restore it at that received size. Both figures are PSNR on
8-bit images against the original photo put through the same resize (no compression):
"nothing" is the received edit itself (what a user has without restoring), "restored" what the
model gives back. A resize to a long side the photo does not exceed leaves it at its size (the
"only shrink" rule sites follow); such photos still count, as a recompression alone.

``--json`` keeps a dated record per model set and photo set (bench_records); ``--docs`` writes
the table into docs/real-world.md.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import bench_records
import numpy as np

RESULTS = bench_records.ROOT / "results" / "bench_share.json"
PAGE = "real-world.md"  # in docs/
START, END = "<!-- share:start -->", "<!-- share:end -->"
KEY = ("script", "models", "photos", "photo_set", "pipelines")

# name: (ImageMagick resize geometry, codec). "50%" halves; "1080x1080>" shrinks the long side
# to 1080 px if it is longer ("only shrink larger", as sites do).
PIPELINES: dict[str, tuple[str, str]] = {
    "im50-q85": ("50%", "jpeg85"),
    "im2048-q85": ("2048x2048>", "jpeg85"),
    "im1080-q85": ("1080x1080>", "jpeg85"),
    "im50-webp80": ("50%", "webp80"),
    "im1080-webp80": ("1080x1080>", "webp80"),
}
DEFAULT_PIPELINES = ["im50-q85", "im1080-q85", "im50-webp80"]


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def resized_png(src: Path, geometry: str, dst: Path) -> None:
    """ImageMagick's Lanczos resize of ``src`` into an 8-bit PNG (no compression loss)."""
    _run(["convert", str(src), "-filter", "Lanczos", "-resize", geometry, "-depth", "8", str(dst)])


def share(edit_png: Path, geometry: str, codec: str, work: Path) -> Path:
    """The file that comes back: ``edit_png`` resized, then JPEG q85 4:2:0 or WebP q80."""
    if codec == "jpeg85":
        out = work / "received.jpg"
        _run(
            ["convert", str(edit_png), "-filter", "Lanczos", "-resize", geometry,
             "-sampling-factor", "4:2:0", "-quality", "85", str(out)]
        )  # fmt: skip
        return out
    small = work / "small.png"
    resized_png(edit_png, geometry, small)
    webp, out = work / "received.webp", work / "received.png"
    _run(["cwebp", "-quiet", "-q", "80", str(small), "-o", str(webp)])
    _run(["dwebp", "-quiet", str(webp), "-o", str(out)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=["l0-jpeg", "llf-jpeg"])
    ap.add_argument("--limit", type=int, default=8, help="photos (default 8)")
    ap.add_argument("--photos", help="a folder of photos (default: the validation split)")
    ap.add_argument("--pipelines", nargs="*", default=DEFAULT_PIPELINES, choices=list(PIPELINES))
    ap.add_argument("--weights", help="folder with models not installed (e.g. a run's)")
    ap.add_argument("--json", help="keep the figures in this file (results/bench_share.json)")
    ap.add_argument("--note", help='what the machine was doing, e.g. "this 2-core machine"')
    ap.add_argument("--docs", action="store_true", help="write the table into docs/real-world.md")
    ap.add_argument("--from-json", help="render this file's records without measuring")
    args = ap.parse_args()
    if args.from_json:
        return _write(bench_records.load(args.from_json), args.docs)

    from tqdm import tqdm

    from restorable.evaluation.metrics import psnr
    from restorable.files import list_images, read_image, write_image
    from restorable.models import load

    if args.photos:
        paths, photo_set = list_images(args.photos)[: args.limit], Path(args.photos).name
    else:
        from restorable.data.pairs import shared_photos
        from restorable.data.split import load_split

        folder = shared_photos()
        paths = [folder / p for p in load_split()["val"][: args.limit]]
        photo_set = "validation"
    models = {m: load(m, args.weights) for m in args.models}
    rows: list[dict] = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for path in tqdm(paths, desc="photos"):
            original = read_image(path)
            orig_png = work / "original.png"
            write_image(orig_png, original, force=True)
            refs = {}
            for name in args.pipelines:
                geometry = PIPELINES[name][0]
                resized_png(orig_png, geometry, work / "ref.png")
                refs[name] = read_image(work / "ref.png")
            for model_name, model in models.items():
                edit_png = work / "edit.png"
                write_image(edit_png, model.apply(original), force=True)
                for name in args.pipelines:
                    geometry, codec = PIPELINES[name]
                    got = read_image(share(edit_png, geometry, codec, work))
                    ref = refs[name]
                    rows.append(
                        dict(
                            photo=path.name,
                            model=model_name,
                            pipeline=name,
                            size=f"{got.shape[1]}x{got.shape[0]}",
                            nothing=psnr(got, ref),
                            restored=psnr(model.restore(got), ref),
                        )
                    )
    print(f"\n{len(paths)} photos, {time.time() - t0:.0f} s\n")
    summary = summarise(rows, list(models), args.pipelines)
    print(markdown_rows(summary))
    if args.json:
        record = {"script": "bench_share.py", **bench_records.stamp(args.note)}
        record.update(
            models=list(models), photos=len(paths), photo_set=photo_set, pipelines=args.pipelines
        )
        record["rows"] = summary
        bench_records.merge(args.json, record, KEY)
        print(f"wrote {args.json}")
    if args.docs:
        _write(bench_records.load(args.json or RESULTS), True)


def summarise(rows: list[dict], models: list[str], pipelines: list[str]) -> list[dict]:
    """Per model and pipeline: the mean PSNR of the received edit and of its restoration."""
    out = []
    for model in models:
        for name in pipelines:
            got = [r for r in rows if r["model"] == model and r["pipeline"] == name]
            if not got:
                continue
            nothing = float(np.mean([r["nothing"] for r in got]))
            restored = float(np.mean([r["restored"] for r in got]))
            out.append(
                dict(
                    model=model,
                    pipeline=name,
                    n=len(got),
                    nothing_db=round(nothing, 2),
                    restored_db=round(restored, 2),
                    gain_db=round(restored - nothing, 2),
                )
            )
    return out


PIPELINE_WORDS = {
    "im50-q85": "50 %, JPEG q85 4:2:0",
    "im2048-q85": "≤ 2048 px, JPEG q85 4:2:0",
    "im1080-q85": "≤ 1080 px, JPEG q85 4:2:0",
    "im50-webp80": "50 %, WebP q80",
    "im1080-webp80": "≤ 1080 px, WebP q80",
}


def markdown_rows(rows: list[dict]) -> str:
    lines = [
        "| model | shared as (ImageMagick Lanczos resize, then) | nothing (dB) | restored (dB) "
        "| gain |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {PIPELINE_WORDS.get(r['pipeline'], r['pipeline'])} | "
            f"{r['nothing_db']:.2f} | {r['restored_db']:.2f} | {r['gain_db']:+.2f} |"
        )
    return "\n".join(lines)


def markdown(records: list[dict]) -> str:
    """Every record's table, newest first, each under the line that says how it was measured."""
    parts = []
    for r in sorted(records, key=lambda r: r["date"], reverse=True):
        parts.append(
            f"{r['photos']} photos ({r['photo_set']}, native size); "
            f"{bench_records.provenance(r)}:\n\n{markdown_rows(r['rows'])}"
        )
    return "\n\n".join(parts)


def blocks(records: list[dict]) -> dict[tuple[str, str], str]:
    """{(start, end) markers in docs/real-world.md: the text between them}."""
    return {(START, END): markdown(records)}


def _write(records: list[dict], docs: bool) -> None:
    bench_records.show(PAGE, blocks(records), docs)


if __name__ == "__main__":
    main()
