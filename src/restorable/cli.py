"""The ``restorable`` command line: list | reference | apply | restore | train | eval | compare.

Every command prints one-line errors (``error: ...``) for bad input and never a traceback;
folders are processed with a progress bar and a summary, and outputs are written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from restorable import bulk_ray
from restorable.errors import RestorableError
from restorable.files import PNG_COMPRESSION


def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _read(src: Path):
    """Read an input photo with its alpha channel (carried through unchanged), printing what
    was converted (grayscale, palette, 16-bit, CMYK, colour profile) as a note."""
    from restorable.files import read_image

    notes: list[str] = []
    rgb, alpha = read_image(src, with_alpha=True, notes=notes)
    for note in notes:
        print(f"note: {src}: {note}", file=sys.stderr)
    return rgb, alpha


def cmd_list(args: argparse.Namespace) -> int:
    from restorable.models import models_by_op
    from restorable.operators import get_operator, operator_ids

    models = models_by_op()
    print(f"{'id':9} {'type':5} {'title':62} models\n{'':16}defaults")
    for op in operator_ids():
        info = get_operator(op)
        names = " ".join(models.get(op, [])) or "-"
        defaults = ", ".join(f"{k}={v}" for k, v in info.defaults.items()) or "-"
        print(f"{op:9} {info.kind:5} {info.title:62} {names}\n{'':16}{defaults}")
        if args.verbose:
            print(f"{'':16}{info.citation}")
    own = [name for op, names in models.items() if op not in operator_ids() for name in names]
    if own:
        from restorable.models import load

        print("\nlearned from your before/after pairs (restorable train --pairs):")
        for name in own:
            pairs = load(name).card.training.get("pairs") or {}
            print(f"{name:20} {pairs.get('count', '?')} pairs from {pairs.get('before', '?')}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from restorable.batch import process_paths
    from restorable.files import check_png_compression, check_quality, write_image
    from restorable.image import to_uint8
    from restorable.operators import reference

    check_quality(args.quality)  # before any work; write_image checks it too
    check_png_compression(level := args.png_compression)
    fn = reference(args.op, **dict(args.param or []))

    def run(src: Path, dst: Path) -> None:
        rgb, alpha = _read(src)
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
        rgb, alpha = _read(src)
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
            )
        for kind, text in report(result, notes, caught):
            line = f"{src}: no record; {text}" if kind == "identified" else f"{kind}: {src}: {text}"
            print(line, file=sys.stderr)
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


def cmd_train(args: argparse.Namespace) -> int:
    """``train --op`` / ``--pairs`` / ``--all``: the config from training.recipes (one recipe
    and one argument set for all three; a flag a command cannot honour is refused there)."""
    from restorable.training.recipes import check_flags, one_model_config

    command = check_flags(args)
    if command == "all":
        from restorable.training.everything_cli import run

        return run(args)
    from restorable.training.train import train

    cfg = one_model_config(args, command)
    run = train(cfg, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    stem = cfg.name or cfg.op
    print(f"model written to {run}/{stem}.safetensors")
    if cfg.pairs:
        from restorable.training.from_pairs import install_user_model

        dest = install_user_model(run, cfg.name)
        print(f"installed into {dest}: restorable apply --op {cfg.name}")
        return 0
    if args.install:
        from restorable.models import WEIGHTS_DIR, install_model

        print(f"installed into {install_model(run, stem, WEIGHTS_DIR)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from restorable.evaluation.evaluate import format_report, run_eval

    result = run_eval(
        args.op, args.photos, args.jpeg, args.json, args.weights, args.limit, dict(args.param or [])
    )
    print(format_report(result))
    return 0


def demo_models(names: list[str]) -> list[str]:
    """The guided PNG model of each operator: OP-jpeg shares its operator and look, OP-learned
    needs no operator, OP-cond at its default setting is OP again."""
    from restorable.models import read_card_of

    return [m for m in names if read_card_of(m).variant == "guided"]


def cmd_demo(args: argparse.Namespace) -> int:
    """apply → save PNG → restore → compare, for every shipped model on the bundled samples."""
    from restorable.data.split import sample_photos
    from restorable.evaluation.compare import compare_sheet
    from restorable.evaluation.metrics import psnr
    from restorable.files import read_image, write_image
    from restorable.image import to_uint8
    from restorable.models import available_models, load
    from restorable.operators import operator_ids, reference
    from restorable.record import make_record

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    samples = sample_photos()
    print(f"{'model':8} {'sample':48} {'approx':>8} {'restore':>8}   sheet")
    names = args.op or demo_models(available_models())
    for name in names:
        model = load(name)
        # a model learned from pairs has no operator to compare with
        target_of = reference(model.op, **model.card.params) if model.op in operator_ids() else None
        for src in samples:
            img = read_image(src)
            edited = model.apply(img)
            edited_path = out / f"{src.stem}.{name}.png"
            meta = make_record(model, edited).as_dict()
            write_image(edited_path, edited, force=True, meta=meta)
            restored = model.restore(read_image(edited_path))
            write_image(out / f"{src.stem}.{name}.restored.png", restored, force=True)
            sheet = out / f"{src.stem}.{name}.sheet.png"
            compare_sheet(img, edited, restored, sheet, title=f"{name}: {src.name}", force=True)
            approx = psnr(edited, to_uint8(target_of(img))) if target_of else float("nan")
            print(
                f"{name:8} {src.name:48} {approx:6.2f}dB {psnr(img, restored):6.2f}dB   {sheet}",
                flush=True,
            )
    print("approx: PSNR of the edited PNG against the classic operator; restore: against the photo")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="restorable",
        description="Restorable image operators: edits whose 8-bit output hides the original.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="list the operators (type, model, defaults)")
    s.add_argument("-v", "--verbose", action="store_true", help="also print citations")
    s.set_defaults(fn=cmd_list)

    def io_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders")
        s.add_argument(
            "-o",
            "--output",
            required=True,
            help="output file (one input) or folder (several inputs or a folder)",
        )
        s.add_argument("--force", action="store_true", help="overwrite existing outputs")
        s.add_argument(
            "--png-compression",
            type=int,
            default=PNG_COMPRESSION,
            metavar="0-9",
            help=f"zlib level of PNG outputs (default {PNG_COMPRESSION}: fast; 9: smallest "
            "files, several times slower; the pixels are the same)",
        )

    def model_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--tile", type=int, help="tile size in px (default: chosen to bound memory)")
        s.add_argument("--weights", help="folder with <op>.safetensors/.json (default: shipped)")
        s.add_argument(
            "--device", default="cpu", help="cpu (default), cuda or cuda:N: where the network runs"
        )
        s.add_argument(
            "--precision",
            choices=["auto", "fp32", "bf16"],
            default="auto",
            help="network arithmetic: auto (apply in bf16 where the CPU or GPU has it natively, "
            "restore in float32), fp32 (the reference), bf16 (both)",
        )

    s = sub.add_parser("reference", help="run a classic operator (the ground truth)")
    s.add_argument("--op", required=True, help="operator id (see 'restorable list')")
    s.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="override an operator parameter (repeatable)",
    )
    s.add_argument("--quality", type=int, help="write JPEG at this quality instead of PNG")
    io_args(s)
    s.set_defaults(fn=cmd_reference)

    s = sub.add_parser("apply", help="edit photos with a restorable model")
    s.add_argument("--op", required=True, help="operator id with a model (see 'restorable list')")
    s.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="setting of a conditioned model, e.g. lam=0.03 (picks OP-cond)",
    )
    s.add_argument("--quality", type=int, help="JPEG quality when writing .jpg (default 95)")
    s.add_argument("--model", help="model name (default: OP, or OP-jpeg when writing JPEG)")
    model_args(s)
    io_args(s)
    bulk_ray.add_arguments(s)
    s.set_defaults(fn=cmd_apply)

    s = sub.add_parser("restore", help="recover the original photos from edited files")
    s.add_argument(
        "--model",
        "--op",  # its name before 0.2, kept as an alias
        dest="model",
        metavar="MODEL",
        help="model that made the files, e.g. l0-jpeg (default: the file's record, else "
        "identified from the pixels); --op is an old name for it",
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

    s = sub.add_parser("train", help="train a restorable model for an operator (or --all)")
    s.add_argument("--op", help="operator id (or --all)")
    s.add_argument("--photos", help="folder of your own photos (default: the project's split)")
    s.add_argument("--steps", type=int)
    s.add_argument("--minutes", type=float, help="wall-clock budget (schedule follows the time)")
    s.add_argument("--batch", type=int)
    s.add_argument("--crop", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument(
        "--ema", type=float, help="keep and save an average of the weights, e.g. 0.999 (0: off)"
    )
    s.add_argument("--seed", type=int)
    s.add_argument("--threads", type=int, help="CPU threads for torch")
    s.add_argument("--device", choices=["cpu", "cuda"])
    s.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="auto (default): bf16 autocast where the device computes bf16 natively",
    )
    s.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="operator parameter (repeatable)",
    )
    s.add_argument("--config", help="JSON training config (see configs/)")
    s.add_argument("--jpeg", action="store_true", help="compression-aware training (JPEG 70-95)")
    s.add_argument("--blocks", type=int, help="invertible blocks k in φ (default 8)")
    s.add_argument(
        "--refine",
        type=int,
        metavar="WIDTH",
        help="grow ρ, a restore-side refiner of this width (e.g. 32; 0: none, the paper's), on "
        "a model carried on with --init-from (network/refine.py)",
    )
    s.add_argument(
        "--loss-weights",
        type=float,
        nargs=3,
        metavar=("APPROX", "RESTORE", "DELTA"),
        help="loss weights λa λr λΔ (default 4 1 0.1)",
    )
    s.add_argument(
        "--adversarial",
        type=float,
        metavar="W",
        help="weight of a patch-discriminator term (Type III texture; default 0)",
    )
    s.add_argument("--no-psi", action="store_true", help="ablation: no encoder-decoder ψ")
    s.add_argument("--no-restore-loss", action="store_true", help="ablation: no restoration loss")
    s.add_argument(
        "--guided",
        action="store_true",
        help="ψ also reads the classic operator's output (apply runs the operator)",
    )
    s.add_argument(
        "--cond",
        action="store_true",
        help="one model (OP-cond) for a range of the main setting: l0 lam 0.01-0.04, llf alpha "
        "0.1-1, exposure gain 1.25-4 (Table 3)",
    )
    s.add_argument("--name", help="model name, e.g. l0-jpeg (default: the operator id)")
    s.add_argument(
        "--pairs",
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="learn your own edit from examples: images matched by name in two folders; the "
        "model (--name) goes into your models folder (default 20 minutes)",
    )
    s.add_argument("--run-dir", help="where checkpoints and logs go (default runs/OP)")
    s.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    s.add_argument("--install", action="store_true", help="copy the model into the package")
    from restorable.training.everything_cli import add_arguments

    add_arguments(s)
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("eval", help="approximation and restoration PSNR/SSIM on validation photos")
    s.add_argument(
        "--model",
        "--op",  # its name before 0.2, kept as an alias
        dest="op",
        metavar="MODEL",
        required=True,
        help="model to evaluate, e.g. l0 or l0-jpeg (--op is an old name for it)",
    )
    s.add_argument("--photos", help="folder of your own photos (default: the validation split)")
    s.add_argument(
        "--jpeg",
        type=int,
        nargs="*",
        default=[],
        metavar="Q",
        help="also evaluate JPEG at these qualities, e.g. --jpeg 90 80 70",
    )
    s.add_argument("--json", help="write per-photo and mean figures here")
    s.add_argument("--weights", help="folder with <op>.safetensors/.json (default: shipped)")
    s.add_argument("--limit", type=int, help="evaluate only the first N photos")
    s.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="setting of a conditioned model, e.g. lam=0.04 (default: the operator's)",
    )
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("demo", help="apply, restore and compare on the bundled sample photos")
    s.add_argument("-o", "--output", default="restorable-demo", help="output folder")
    s.add_argument(
        "--model",
        "--op",  # its name before 0.2, kept as an alias
        dest="op",
        metavar="MODEL",
        nargs="*",
        help="models (default: the guided PNG model of every operator)",
    )
    s.set_defaults(fn=cmd_demo)

    try:
        from restorable.training.style_cli import register_cli
    except ImportError:
        pass
    else:
        register_cli(sub)
    from restorable.cli_info import register_cli as register_info
    from restorable.web.serve import register_cli as register_serve

    register_serve(sub)
    register_info(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "ray", None) is not None:  # apply/restore --ray: restorable/bulk_ray.py
            return bulk_ray.run(args)
        return int(args.fn(args) or 0)
    except RestorableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `restorable list | head`: the reader has gone; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs advise
        return 1


if __name__ == "__main__":
    sys.exit(main())
