"""Files in, files out: ``reference``, ``apply``, ``restore`` and ``compare``.

    photo ─► reference (the classic operator) ─► file
    photo ─► apply (a model) ─► edited PNG/JPEG with its record (restorable/record.py)
    edited ─► restore (the record, else the pixels) ─► original;  compare ─► sheet, PSNR/SSIM

Folders go through ``batch.process_paths`` (a bar, one-line errors, a summary), or through Ray
with ``--ray`` (restorable/bulk_ray.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restorable import bulk_ray
from restorable.cli.options import io_args, model_args, model_option, param_option, read_photo


def cmd_reference(args: argparse.Namespace) -> int:
    from restorable.batch import process_paths
    from restorable.files import check_png_compression, check_quality, write_image
    from restorable.image import to_uint8
    from restorable.operators import reference

    check_quality(args.quality)  # before any work; write_image checks it too
    check_png_compression(level := args.png_compression)
    fn = reference(args.op, **dict(args.param or []))

    def run(src: Path, dst: Path) -> None:
        rgb, alpha = read_photo(src)
        out = to_uint8(fn(rgb))
        write_image(
            dst, out, args.quality, args.force, alpha=alpha, inputs=[src], png_compression=level
        )

    suffix = ".jpg" if args.quality else ".png"
    return process_paths(
        args.inputs, args.output, run, force=args.force, suffix=suffix, desc=f"reference {args.op}"
    )


def cmd_apply(args: argparse.Namespace) -> int:
    from restorable.batch import process_paths
    from restorable.files import check_png_compression, check_quality, write_image
    from restorable.models import load, model_for
    from restorable.record import make_record

    check_quality(args.quality)  # before any work; write_image checks it too
    check_png_compression(level := args.png_compression)
    jpeg = bool(args.quality) or any(
        str(args.output).lower().endswith(e) for e in (".jpg", ".jpeg")
    )
    params = dict(args.param or [])
    name = args.model or model_for(args.op, jpeg, args.weights, conditioned=bool(params))
    model = load(name, args.weights, device=args.device, precision=args.precision)
    settings = model.settings(**params)  # a setting out of range fails before any work

    def run(src: Path, dst: Path) -> None:
        rgb, alpha = read_photo(src)
        out = model.apply(rgb, tile=args.tile or "auto", **settings)
        # with a conditioned model's setting (restore does not need it)
        meta = make_record(model, out, settings).as_dict()
        quality = args.quality if dst.suffix.lower() in (".jpg", ".jpeg") else None
        write_image(
            dst,
            out,
            quality,
            args.force,
            meta=meta,
            alpha=alpha,
            inputs=[src],
            png_compression=level,
        )

    suffix = ".jpg" if args.quality else ".png"
    return process_paths(
        args.inputs, args.output, run, force=args.force, suffix=suffix, desc=f"apply {args.op}"
    )


def grid_argument(text: str) -> tuple[int, int]:
    """--grid "0,1" -> (0, 1) (realworld.parse_grid), a bad value argparse's one-line error."""
    from restorable.errors import RestorableError
    from restorable.realworld import parse_grid

    try:
        return parse_grid(text)
    except RestorableError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("grid: ")) from None


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore from the file's record, or identify the model from the pixels; any crop offset;
    warn when the pixels changed since apply; optionally map where the result is not trusted."""
    import warnings

    from restorable.batch import process_paths
    from restorable.files import check_png_compression, read_image, write_image
    from restorable.realworld import confidence_image, error_map, report, restore_file

    check_png_compression(level := args.png_compression)
    if args.model is not None:
        from restorable.names import check_model_name

        check_model_name(args.model, "--model")  # once, before any file
    cache: dict[str, object] = {}
    maps = Path(args.confidence_map) if args.confidence_map else None
    several = len(args.inputs) > 1 or any(Path(i).is_dir() for i in args.inputs)
    if maps is not None and several:
        maps.mkdir(parents=True, exist_ok=True)

    def run(src: Path, dst: Path) -> None:
        notes: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = restore_file(
                src,
                args.model,
                weights_dir=args.weights,
                tile=args.tile or "auto",
                notes=notes,
                cache=cache,
                device=args.device,
                precision=args.precision,
                progress=not several,  # with several files, the batch's bar
                grid=args.grid,
            )
        for kind, text in report(result, notes, caught):
            # "identified": the file had no record, or one that was ignored (a note says why)
            prefix = f"{src}: no usable record;" if kind == "identified" else f"{kind}: {src}:"
            print(f"{prefix} {text}", file=sys.stderr)
        write_image(
            dst,
            result.image,
            force=args.force,
            alpha=result.alpha,
            inputs=[src],
            png_compression=level,
        )
        if maps is not None:
            target = maps / f"{src.stem}.confidence.png" if several else maps
            rgb = read_image(src, with_alpha=True)[0]
            err = error_map(cache[result.name], rgb, result.phase, restored=result.image)
            write_image(
                target,
                confidence_image(err),
                force=args.force,
                inputs=[src],
                png_compression=level,
            )

    return process_paths(
        args.inputs, args.output, run, force=args.force, suffix=".png", desc="restore"
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from restorable.evaluation.compare import compare
    from restorable.evaluation.metrics import format_psnr

    m = compare(args.original, args.edited, args.restored, args.output, force=args.force)
    print(f"original vs restored: PSNR {format_psnr(m['psnr'])}, SSIM {m['ssim']:.4f}")
    print(f"wrote {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``reference``, ``apply``, ``restore`` and ``compare``."""
    s = sub.add_parser("reference", help="run a classic operator (the ground truth)")
    s.add_argument("--op", required=True, help="operator id (see 'restorable list')")
    param_option(s, "override an operator parameter (repeatable)")
    s.add_argument("--quality", type=int, help="write JPEG at this quality instead of PNG")
    io_args(s)
    s.set_defaults(fn=cmd_reference)

    s = sub.add_parser("apply", help="edit photos with a restorable model")
    s.add_argument("--op", required=True, help="operator id with a model (see 'restorable list')")
    param_option(s, "setting of a conditioned model, e.g. lam=0.03 (picks OP-cond)")
    s.add_argument("--quality", type=int, help="JPEG quality when writing .jpg (default 95)")
    s.add_argument("--model", help="model name (default: OP, or OP-jpeg when writing JPEG)")
    model_args(s)
    io_args(s)
    bulk_ray.add_arguments(s)
    s.set_defaults(fn=cmd_apply)

    s = sub.add_parser("restore", help="recover the original photos from edited files")
    model_option(
        s,
        "model",
        "model that made the files, e.g. l0-jpeg (default: the file's record, else "
        "identified from the pixels); --op is an old name for it",
    )
    s.add_argument(
        "--grid",
        type=grid_argument,
        metavar="ROWS,COLS",
        help="the grid to restore on: rows,columns of padding at the top and left, each 0 or 1 "
        "(default: found from the pixels; 0,0 is that of a file as apply wrote it, uncropped)",
    )
    s.add_argument(
        "--confidence-map",
        metavar="FILE",
        help="also write where the restoration cannot be trusted (white: apply(restored) departs "
        "from the file, e.g. retouched or heavily compressed); a folder for several inputs",
    )
    model_args(s)
    io_args(s)
    bulk_ray.add_arguments(s)
    s.set_defaults(fn=cmd_restore)

    s = sub.add_parser("compare", help="sheet: original | edited | restored, error map, PSNR/SSIM")
    s.add_argument("original")
    s.add_argument("edited")
    s.add_argument("restored")
    s.add_argument("-o", "--output", required=True, help="sheet image (.png or .jpg)")
    s.add_argument("--force", action="store_true", help="overwrite an existing sheet")
    s.set_defaults(fn=cmd_compare)
