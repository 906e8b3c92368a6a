"""Contact sheets for the README: every operator on one photo, and every shipped model per
operator type (original | edited | restored | error), labelled.

python -m restorable.evaluation.sheets -o docs/operators.jpg [--photo FILE] [--width 320]
python -m restorable.evaluation.sheets --models -o docs/   # docs/models_I.jpg, _II, _III, _app
python -m restorable.evaluation.sheets --learned -o docs/models_learned.jpg   # every OP-learned
python -m restorable.evaluation.sheets --settings l0-cond -o docs/settings_l0.jpg
python -m restorable.evaluation.sheets --pairs BEFORE AFTER --name NAME -o docs/pairs.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from restorable.data.pairs import resize_max_side
from restorable.data.split import SAMPLES_DIR
from restorable.files import read_image, write_image
from restorable.image import to_uint8
from restorable.operators import operator_ids, reference

DEFAULT_PHOTO = SAMPLES_DIR / "scikit-image__astronaut.jpg"


def labelled_grid(tiles: list[tuple[str, np.ndarray]], columns: int) -> np.ndarray:
    """Tiles of one size in a grid, each with its label in a strip above it."""
    h, w = tiles[0][1].shape[:2]
    strip = 22
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * w, rows * (h + strip)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for i, (label, img) in enumerate(tiles):
        x, y = (i % columns) * w, (i // columns) * (h + strip)
        draw.text((x + 6, y + 3), label, fill="black", font=font)
        sheet.paste(Image.fromarray(img), (x, y + strip))
    return np.asarray(sheet)


def operator_sheet(img: np.ndarray, ops: list[str] | None = None, columns: int = 4) -> np.ndarray:
    tiles = [("input", img)]
    for op in ops or operator_ids():
        tiles.append((op, to_uint8(reference(op)(img))))
    return labelled_grid(tiles, columns)


def model_rows(img: np.ndarray, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """Per model: original | edited (the 8-bit file) | restored | |original − restored| × gain."""
    from restorable.evaluation.compare import error_gain
    from restorable.evaluation.metrics import psnr
    from restorable.models import load

    tiles = []
    for name in names:
        model = load(name)
        edited = model.apply(img)
        restored = model.restore(edited)
        err = np.abs(img.astype(np.int16) - restored.astype(np.int16)).max(axis=2)
        gain = error_gain(err)
        ref = to_uint8(reference(model.op, **model.card.params)(img))
        tiles += [
            (f"{name}: original", img),
            (f"edited ({psnr(edited, ref):.1f} dB to {model.op})", edited),
            (f"restored ({psnr(restored, img):.1f} dB)", restored),
            (
                f"error x{gain}",
                np.repeat(np.clip(err * gain, 0, 255).astype(np.uint8)[..., None], 3, 2),
            ),
        ]
    return tiles


def settings_rows(img: np.ndarray, name: str) -> list[tuple[str, np.ndarray]]:
    """A conditioned model at the low end, default and high end of its range: per setting the
    edited file (PSNR to the classic operator at that setting) and the photo restored from it."""
    from restorable.evaluation.metrics import psnr
    from restorable.models import load
    from restorable.operators import get_operator

    model = load(name)
    cond = model.net.cfg.cond
    if not cond:
        raise SystemExit(f"{name} serves one setting; --settings needs an OP-cond model")
    param = cond["param"]
    tiles = [("original", img)]
    for v in (cond["low"], get_operator(model.op).defaults[param], cond["high"]):
        edited = model.apply(img, **{param: v})
        ref = to_uint8(reference(model.op, **{param: v})(img))
        restored = model.restore(edited)
        tiles += [
            (f"{param}={v:g}: edited ({psnr(edited, ref):.1f} dB)", edited),
            (f"restored ({psnr(restored, img):.1f} dB)", restored),
        ]
    return tiles


def pairs_rows(
    before: Path, after: Path, name: str, count: int = 2, width: int = 300
) -> list[tuple[str, np.ndarray]]:
    """A model learned from pairs on its held-back pairs (every tenth by name, never trained
    on): before | after (the user's edit) | our edited file | restored from it."""
    from restorable.evaluation.metrics import psnr
    from restorable.models import load

    model = load(name)
    names = sorted(p.name for p in Path(before).iterdir() if p.is_file())[::10][:count]
    tiles = []
    for n in names:
        x = resize_max_side(read_image(Path(before) / n), width)
        target = resize_max_side(read_image(next(Path(after).glob(Path(n).stem + ".*"))), width)
        side, out = min(x.shape[:2]), (width // 8 * 8,) * 2  # equal squares: the rows line up
        x, target = (np.asarray(Image.fromarray(a[:side, :side]).resize(out)) for a in (x, target))
        edited = model.apply(x)
        restored = model.restore(edited)
        tiles += [
            ("before", x),
            ("after (the edit)", target),
            (f"{name} ({psnr(edited, target):.1f} dB to after)", edited),
            (f"restored ({psnr(restored, x):.1f} dB)", restored),
        ]
    return tiles


# One photo per type where the operator needs one (retouch needs a face).
TYPE_PHOTOS = {"app": "scikit-image__astronaut.jpg"}


def model_sheets(folder: Path, width: int = 300) -> list[Path]:
    """One sheet per operator type of the shipped PNG models; returns the files written."""
    from restorable.models import models_by_op
    from restorable.operators import get_operator

    by_kind: dict[str, list[str]] = {}
    for op, names in models_by_op().items():
        if op in operator_ids() and op in names:
            by_kind.setdefault(get_operator(op).kind, []).append(op)
    written = []
    Path(folder).mkdir(parents=True, exist_ok=True)
    for kind, ops in sorted(by_kind.items()):
        ops = [o for o in operator_ids() if o in ops]
        photo = DEFAULT_PHOTO.with_name(TYPE_PHOTOS.get(kind, "scikit-image__coffee.jpg"))
        img = resize_max_side(read_image(photo), width)
        path = Path(folder) / f"models_{kind}.jpg"
        write_image(path, labelled_grid(model_rows(img, ops), 4), quality=88, force=True)
        written.append(path)
    return written


def main() -> None:
    p = argparse.ArgumentParser(description="Every reference operator (or model) on one photo.")
    p.add_argument("-o", "--output", required=True, help="sheet file (a folder with --models)")
    p.add_argument("--photo", default=str(DEFAULT_PHOTO))
    p.add_argument("--width", type=int, default=300)
    p.add_argument("--models", action="store_true", help="per-type sheets of the shipped models")
    p.add_argument("--learned", action="store_true", help="every shipped OP-learned model")
    p.add_argument("--settings", metavar="NAME", help="an OP-cond model across its range")
    p.add_argument("--pairs", nargs=2, metavar=("BEFORE", "AFTER"), help="with --name")
    p.add_argument("--name", help="the model learned from --pairs")
    args = p.parse_args()
    img = resize_max_side(read_image(args.photo), args.width)
    img = img[: img.shape[0] // 8 * 8, : img.shape[1] // 8 * 8]
    sheet = None
    if args.learned:
        from restorable.models import available_models, read_card_of

        learned = {}  # operator -> its learned model, in the registry's order
        for n in available_models():
            card = read_card_of(n)
            if card.variant == "learned":
                learned.setdefault(card.op, n)
        names = [learned[op] for op in operator_ids() if op in learned]
        sheet = labelled_grid(model_rows(img, names), 4)
    elif args.settings:
        sheet = labelled_grid(settings_rows(img, args.settings), 7)
    elif args.pairs:
        sheet = labelled_grid(pairs_rows(*map(Path, args.pairs), args.name, width=args.width), 4)
    if sheet is not None:
        write_image(args.output, sheet, quality=88, force=True)
        print(f"wrote {args.output}")
        return
    if args.models:
        for path in model_sheets(Path(args.output), args.width):
            print(f"wrote {path}")
        return
    write_image(args.output, operator_sheet(img), quality=88, force=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
