"""Run a fully convolutional image function over overlapping tiles, exactly.

    img ──► pad_to_multiple ──► padded ──┬─ tile 1 (core + overlap) ─► fn ─► keep core ─┐
                                         ├─ tile 2 ...                                  ├─► out
                                         └─ tile n ...                                  ┘  (crop)

The network is fully convolutional with a finite receptive field and needs H and W to be a
multiple of ``model.multiple`` (it halves the resolution a few times). A tile is cut with
``overlap`` pixels of context on every side of its *core*; only the core is kept. When the
overlap is at least the receptive radius, the core never sees the tile's edge, so the tiled
result equals the whole-image result up to float rounding. Tile origins are multiples of
``multiple`` so every down-sampling grid inside a tile lines up with the whole image's grid.

Whole-image runs and tiled runs both start from :func:`pad_to_multiple`, so they pad identically
and agree at the image border too.
"""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Callable

import numpy as np

from restorable.errors import RestorableError

# Peak bytes per input pixel of one network pass (activations of the widest layers, float32).
# Calibrated on the prototype in METHOD.md (about 1.3 GB at 2048x1536, i.e. ~420 B/px); rounded
# up so auto_tile errs towards smaller tiles.
BYTES_PER_PIXEL = 512


# glibc serves allocations above this from mmap, returned to the system when freed. Its default
# threshold adapts (up to 32 MB), so tile after tile the network's tensors below it fragment the
# heap: a 12-megapixel apply peaked at 1.63 GB and kept 1.32 GB. Fixed at 16 MB: 1.30 GB, the
# same CPU time (1 MB: 1.03 GB but 19% more CPU time, in page faults).
MMAP_THRESHOLD = 16 * 2**20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
_mmap_threshold_set = False


def limit_heap_fragmentation() -> None:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD (once per process; Linux with glibc only,
    elsewhere nothing). Large tiled runs call it: their peak memory drops by a fifth."""
    global _mmap_threshold_set
    if _mmap_threshold_set or not sys.platform.startswith("linux"):
        return
    _mmap_threshold_set = True
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # musl or no libc.so.6: keep the allocator's default
        pass


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def pad_to_multiple(img: np.ndarray, multiple: int = 8) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad HxWxC ``img`` at the bottom and right so H and W are multiples of ``multiple``.

    Returns ``(padded, (h, w))``; crop the result back with ``out[:h, :w]``. The image itself is
    returned (not copied) when no padding is needed.
    """
    h, w = img.shape[:2]
    ph, pw = _round_up(h, multiple) - h, _round_up(w, multiple) - w
    if ph == 0 and pw == 0:
        return img, (h, w)
    # numpy's reflect mode reflects repeatedly when the pad is longer than the side.
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (img.ndim - 2)
    return np.pad(img, pad, mode="reflect"), (h, w)


def _spans(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(window start, window stop, core start, core stop) along one padded axis."""
    if size <= tile:
        return [(0, size, 0, size)]
    core = tile - 2 * overlap
    spans = []
    for start in range(0, size, core):
        stop = min(start + core, size)
        spans.append((max(0, start - overlap), min(size, stop + overlap), start, stop))
    return spans


def run_tiled(
    fn: Callable[[np.ndarray], np.ndarray],
    img: np.ndarray,
    tile: int,
    overlap: int,
    multiple: int = 8,
    finalize: Callable[[np.ndarray], np.ndarray] | None = None,
    origin: bool = False,
) -> np.ndarray:
    """Apply ``fn`` to HxWxC ``img`` tile by tile; return HxWxC'.

    ``origin``: call ``fn(window, (top, left))`` with the window's place in the padded image,
    for a function that reads something of the whole photo (a learned model's thumbnail path).

    ``img`` keeps its dtype (uint8 input costs 3 bytes a pixel instead of 12 for float32, which
    is what keeps a 24-megapixel photo under 2 GB); ``finalize`` (e.g. rounding to uint8) is
    applied to each tile's result, and the output takes its dtype.

    ``fn`` maps a float32 hxwxC array (h, w multiples of ``multiple``) to an hxwxC' one (C' may
    differ from C, e.g. a guide stacked on the input) and must be fully convolutional. ``tile``
    is the largest window side in pixels (rounded down to a multiple of ``multiple``);
    ``overlap`` is the context kept on each side of a tile's core (rounded up to a multiple).
    The result equals ``fn`` on the whole padded image, cropped, when ``overlap`` is at least
    the receptive radius of ``fn`` (pixels of context per side). A tile as large as the padded
    image runs ``fn`` once.

    Memory: the output is allocated once and filled core by core, so besides the padded input and
    the output only one tile's input, output and ``fn``'s intermediates are alive at a time.
    """
    if img.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {img.shape}")
    if multiple < 1 or overlap < 0:
        raise ValueError("multiple must be >= 1 and overlap >= 0")
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = img.astype(np.float32, copy=False)
    padded, (h, w) = pad_to_multiple(img, multiple)

    def run(window: np.ndarray, top: int = 0, left: int = 0) -> np.ndarray:
        f = (lambda t: fn(t, (top, left))) if origin else fn
        result = _checked(f, window)
        return finalize(result) if finalize else result

    hp, wp = padded.shape[:2]
    asked, tile = tile, tile // multiple * multiple
    overlap = _round_up(overlap, multiple)
    if tile >= hp and tile >= wp:
        return run(padded)[:h, :w]
    limit_heap_fragmentation()
    if tile - 2 * overlap < multiple:
        raise RestorableError(
            f"tile {asked} is too small for an overlap of {overlap} pixels on each side; "
            f"use a tile of at least {2 * overlap + multiple}"
        )
    out = None  # allocated once the first tile tells the output's channel count
    for y0, y1, cy0, cy1 in _spans(hp, tile, overlap):
        for x0, x1, cx0, cx1 in _spans(wp, tile, overlap):
            result = run(padded[y0:y1, x0:x1], y0, x0)
            if out is None:
                out = np.empty((h, w, result.shape[2]), dtype=result.dtype)
            # Keep the core, clipped to the unpadded image.
            oy1, ox1 = min(cy1, h), min(cx1, w)
            if cy0 < oy1 and cx0 < ox1:
                out[cy0:oy1, cx0:ox1] = result[cy0 - y0 : oy1 - y0, cx0 - x0 : ox1 - x0]
            del result
    return out


def _checked(fn: Callable[[np.ndarray], np.ndarray], window: np.ndarray) -> np.ndarray:
    result = fn(np.ascontiguousarray(window))
    if result.ndim != 3 or result.shape[:2] != window.shape[:2]:
        raise ValueError(f"tile function changed the size {window.shape} to {result.shape}")
    return result


def auto_tile(
    h: int,
    w: int,
    budget_mb: float,
    *,
    multiple: int = 8,
    overlap: int = 0,
    bytes_per_pixel: int = BYTES_PER_PIXEL,
) -> int:
    """A tile side for an ``h`` x ``w`` image whose network pass fits in ``budget_mb`` megabytes.

    Returns the padded image's longest side when the whole image fits (one tile, no seams to
    compute), else the largest multiple of ``multiple`` whose window fits, at least
    ``2 * overlap + multiple``. The budget covers one pass's intermediates at
    ``bytes_per_pixel``; the full-size input, padded copy and output (12 bytes per pixel each)
    come on top.
    """
    hp, wp = _round_up(h, multiple), _round_up(w, multiple)
    budget_px = int(budget_mb * 2**20 / bytes_per_pixel)
    if hp * wp <= budget_px:
        return max(hp, wp)
    side = math.isqrt(budget_px)
    short = min(hp, wp)
    if short <= side:
        # Windows span the short side completely, so they can be longer on the other.
        side = budget_px // short
    side = side // multiple * multiple
    return max(side, 2 * _round_up(overlap, multiple) + multiple)
