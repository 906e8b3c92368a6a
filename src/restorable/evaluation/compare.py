"""``restorable compare``: one picture that shows an edit and how well it restores.

    ┌──────────┬──────────┬──────────┬──────────────────┐
    │ original │ edited   │ restored │ |orig − rest| ×k │   whole photos, crop boxed
    ├──────────┼──────────┼──────────┼──────────────────┤
    │ crop ×3  │ crop ×3  │ crop ×3  │ crop ×3          │   region of largest restoration error
    └──────────┴──────────┴──────────┴──────────────────┘
    title · PSNR / SSIM (original vs restored) · how they were computed

The error map is magnified by k ≥ 10 (chosen so small errors show; the label gives k), as in
the paper's Figure 4: black means no difference.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from restorable.errors import RestorableError
from restorable.evaluation.metrics import format_psnr, psnr, ssim
from restorable.files import check_not_input, read_image, write_image

SHEET_WIDTH = 1800
MARGIN, GAP = 24, 12
MAX_PANEL_HEIGHT = 640
CROP_ZOOM = 3
ERROR_GAINS = (10, 20, 50, 100, 200)

BACKGROUND = (250, 250, 248)
INK = (30, 30, 30)
MUTED = (110, 110, 110)
BOX = (255, 64, 48)


def error_gain(err: np.ndarray) -> int:
    """The largest of ERROR_GAINS that keeps the 99.5th error percentile visible, unclipped."""
    high = float(np.percentile(err, 99.5))
    fits = [g for g in ERROR_GAINS if high * g <= 255]
    return fits[-1] if fits else ERROR_GAINS[0]


def worst_region(err: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left (y, x) of a ``size`` window centred on the worst error (image centre if none).

    "Worst" is the peak of the error averaged over boxes a third of the window, so one hot
    pixel does not win over a patch of errors.
    """
    h, w = err.shape
    ch, cw = size
    if not err.any():
        return (h - ch) // 2, (w - cw) // 2
    smooth = cv2.blur(err.astype(np.float32), (max(1, cw // 3), max(1, ch // 3)))
    y, x = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return int(np.clip(y - ch // 2, 0, h - ch)), int(np.clip(x - cw // 2, 0, w - cw))


def _font(size: int) -> ImageFont.ImageFont:
    # Pillow's built-in font: present everywhere, but ASCII only, so labels say "x3", not "×3".
    return ImageFont.load_default(size=size)


def render_sheet(
    original: np.ndarray, edited: np.ndarray, restored: np.ndarray, title: str = ""
) -> np.ndarray:
    """The comparison sheet as uint8 HxWx3 (see the module docstring for the layout)."""
    images = [np.asarray(a) for a in (original, edited, restored)]
    if any(a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 for a in images):
        raise RestorableError("compare needs three uint8 HxWx3 images")
    if len({a.shape for a in images}) != 1:
        sizes = ", ".join(f"{a.shape[1]}x{a.shape[0]}" for a in images)
        raise RestorableError(f"original, edited and restored differ in size ({sizes})")
    original, edited, restored = images
    h, w = original.shape[:2]

    # uint8 throughout (|a - b| and a saturating gain are exact in 8 bits): a 100-megapixel
    # comparison holds 0.3 GB per full-size array, not the 0.6-1.2 GB of int16/int32 copies
    diff = cv2.absdiff(original, restored)
    gain = error_gain(diff)
    error_map = cv2.convertScaleAbs(diff, alpha=gain)

    panel_w = (SHEET_WIDTH - 2 * MARGIN - 3 * GAP) // 4
    scale = min(1.0, panel_w / w, MAX_PANEL_HEIGHT / h)
    top_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    crop = (min(h, panel_w // CROP_ZOOM), min(w, panel_w // CROP_ZOOM))
    cy, cx = worst_region(diff.mean(axis=2, dtype=np.float32), crop)
    crop_size = (crop[1] * CROP_ZOOM, crop[0] * CROP_ZOOM)

    columns = [
        ("Original", original),
        ("Edited", edited),
        ("Restored", restored),
        (f"|Original - Restored| x{gain}", error_map),
    ]
    label_font, title_font, text_font, note_font = _font(22), _font(30), _font(24), _font(18)
    label_h = 34
    row1_y = MARGIN + (48 if title else 0)
    row2_y = row1_y + label_h + top_size[1] + GAP + 8
    text_y = row2_y + label_h + crop_size[1] + GAP + 10
    sheet_h = text_y + 40 + 26 * 2 + MARGIN
    sheet = Image.new("RGB", (SHEET_WIDTH, sheet_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((MARGIN, MARGIN), title, fill=INK, font=title_font)

    box = (cx * scale, cy * scale, (cx + crop[1]) * scale, (cy + crop[0]) * scale)
    for i, (label, img) in enumerate(columns):
        x = MARGIN + i * (panel_w + GAP)
        pil = Image.fromarray(img)
        top = pil if scale == 1.0 else pil.resize(top_size, Image.Resampling.LANCZOS)
        draw.text((x, row1_y), label, fill=INK, font=label_font)
        sheet.paste(top, (x, row1_y + label_h))
        bx0, by0 = x + box[0], row1_y + label_h + box[1]
        draw.rectangle(
            (bx0 - 1, by0 - 1, x + box[2], row1_y + label_h + box[3]), outline=BOX, width=2
        )
        zoom = pil.crop((cx, cy, cx + crop[1], cy + crop[0]))
        zoom = zoom.resize(crop_size, Image.Resampling.NEAREST)
        draw.text(
            (x, row2_y), f"{label.split(' x')[0]}, crop x{CROP_ZOOM}", fill=INK, font=label_font
        )
        sheet.paste(zoom, (x, row2_y + label_h))
        draw.rectangle(
            (x - 1, row2_y + label_h - 1, x + crop_size[0], row2_y + label_h + crop_size[1]),
            outline=BOX,
            width=1,
        )

    p, s = psnr(original, restored), ssim(original, restored)
    draw.text(
        (MARGIN, text_y),
        f"Original vs restored:  PSNR {format_psnr(p)}   SSIM {s:.4f}",
        fill=INK,
        font=text_font,
    )
    notes = [
        f"{w}x{h} px. PSNR on 8-bit images (peak 255). SSIM: skimage.metrics.structural_similarity,"
        " default 7x7 window, channel_axis=-1, data_range=255.",
        f"Error map: |original - restored| per channel x{gain}, clipped; black = identical. "
        f"Crops: nearest-neighbour x{CROP_ZOOM} of the {crop[1]}x{crop[0]} region "
        + ("with the largest restoration error" if diff.any() else "at the centre (no error)")
        + " (red box).",
    ]
    for i, line in enumerate(notes):
        draw.text((MARGIN, text_y + 40 + 26 * i), line, fill=MUTED, font=note_font)
    return np.asarray(sheet)


def compare_sheet(
    original: np.ndarray,
    edited: np.ndarray,
    restored: np.ndarray,
    out_path: str | os.PathLike,
    title: str = "",
    *,
    force: bool = False,
    inputs: list[str | os.PathLike] | tuple = (),
) -> Path:
    """Render the sheet for three uint8 HxWx3 images and write it (PNG or JPEG) to ``out_path``."""
    sheet = render_sheet(original, edited, restored, title)
    return write_image(out_path, sheet, force=force, inputs=inputs)


def compare(
    original_path: str | os.PathLike,
    edited_path: str | os.PathLike,
    restored_path: str | os.PathLike,
    out_path: str | os.PathLike,
    force: bool = False,
) -> dict[str, float]:
    """``restorable compare ORIGINAL EDITED RESTORED -o SHEET``; returns {"psnr", "ssim"}."""
    paths = [Path(p) for p in (original_path, edited_path, restored_path)]
    check_not_input(out_path, paths)
    original, edited, restored = (read_image(p) for p in paths)
    title = f"{paths[0].name}   (edited: {paths[1].name}, restored: {paths[2].name})"
    compare_sheet(original, edited, restored, out_path, title, force=force, inputs=paths)
    return {"psnr": psnr(original, restored), "ssim": ssim(original, restored)}
