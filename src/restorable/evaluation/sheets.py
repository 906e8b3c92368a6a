"""Contact sheets for the README: every operator on one photo, labelled.

python -m restorable.evaluation.sheets -o docs/operators.jpg [--photo FILE] [--width 320]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from restorable.data.pairs import resize_max_side
from restorable.files import read_image, write_image
from restorable.image import to_uint8
from restorable.operators import operator_ids, reference

DEFAULT_PHOTO = Path(__file__).parents[1] / "samples" / "scikit-image__astronaut.jpg"


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


def main() -> None:
    p = argparse.ArgumentParser(description="Every reference operator on one photo.")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--photo", default=str(DEFAULT_PHOTO))
    p.add_argument("--width", type=int, default=300)
    args = p.parse_args()
    img = resize_max_side(read_image(args.photo), args.width)
    write_image(args.output, operator_sheet(img), quality=88, force=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
