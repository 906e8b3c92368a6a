"""Figures and a first look: ``restorable eval`` (PSNR/SSIM on validation photos) and
``restorable demo`` (apply, restore and compare every guided model on the bundled samples)."""

from __future__ import annotations

import argparse
from pathlib import Path

from restorable.cli.options import model_option, param_option


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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``eval`` and ``demo``."""
    s = sub.add_parser("eval", help="approximation and restoration PSNR/SSIM on validation photos")
    model_option(
        s,
        "op",
        "model to evaluate, e.g. l0 or l0-jpeg (--op is an old name for it)",
        required=True,
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
    param_option(s, "setting of a conditioned model, e.g. lam=0.04 (default: the operator's)")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("demo", help="apply, restore and compare on the bundled sample photos")
    s.add_argument("-o", "--output", default="restorable-demo", help="output folder")
    model_option(
        s,
        "op",
        "models (default: the guided PNG model of every operator)",
        nargs="*",
    )
    s.set_defaults(fn=cmd_demo)
