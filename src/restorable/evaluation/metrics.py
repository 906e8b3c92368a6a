"""Image quality figures, computed the one way every report in this project uses.

- PSNR on 8-bit images: 10 log10(255² / MSE) over all pixels and channels; identical images
  give ``float('inf')`` (format it with :func:`format_psnr`; averages should skip it).
- :func:`float_psnr` for float images in [0, 1] that no 8-bit file holds (peak 1, unrounded).
- SSIM as scikit-image computes it: ``skimage.metrics.structural_similarity`` with its default
  7x7 window, ``channel_axis=-1``, ``data_range=255`` (the paper's own script used a 51 px
  window, which gives higher numbers).

Both run in bounded memory on any size the project reads (up to 100 MP), by rows:
:data:`STRIP_PIXELS` pixels at a time. The plain formulas in float64 would hold about 10 GB of
temporaries for a 100 MP pair, and the web page computes them for any upload. PSNR sums squared
differences in int64, which is exact, so the strips change nothing. SSIM is computed in strips
with the window's 3-px halo, see :func:`ssim`.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

from restorable.errors import RestorableError

STRIP_PIXELS = 1 << 20  # pixels per strip: ~25 MB for PSNR, ~150 MB for SSIM (float64 maps)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise RestorableError(f"metrics need uint8 images, got {a.dtype} and {b.dtype}")
    if a.shape != b.shape or a.ndim != 3:
        raise RestorableError(
            f"metrics need two HxWx3 images of one size, got {a.shape}, {b.shape}"
        )
    return a, b


def _rows_per_strip(width: int) -> int:
    return max(1, STRIP_PIXELS // max(1, width))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 HxWx3 images (peak 255); inf when they are identical.

    The sum of squared differences is taken in int64, strip by strip: every term is an integer
    below 255², so the sum is exact (as is float64's, under 2**53 for any image under 10**11
    values), and the result equals ``10 log10(255² / mean((a - b)²))`` in float64 to the bit.
    """
    a, b = _pair(a, b)
    rows = _rows_per_strip(a.shape[1])
    sse = 0
    for top in range(0, a.shape[0], rows):
        d = a[top : top + rows].astype(np.int64) - b[top : top + rows]
        sse += int(np.square(d, out=d).sum())
    mse = sse / a.size
    return float("inf") if mse == 0 else float(10.0 * math.log10(255.0**2 / mse))


def float_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between float images in [0, 1] (peak 1), unrounded; capped at 120 dB (an MSE
    floor of 1e-12) so that differences of scores stay finite. For figures of the float
    pipeline that no 8-bit file holds (``realworld``'s consistency of apply after restore)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float(10.0 * np.log10(1.0 / max(mse, 1e-12)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM between two uint8 HxWx3 images, as scikit-image computes it (see module doc).

    Images under 7 px on a side use the largest odd window that fits. Images over two strips
    (:data:`STRIP_PIXELS`) are computed in strips of whole rows, each with the window's 3-px
    halo above and below: scikit-image's SSIM map at a pixel depends only on the 7x7 window
    around it (the padding it adds at the borders falls on the rows it then crops), so each
    strip's map, its halo cut off, is the full map's rows, and their mean is the full mean up to
    the order of summation (1e-15). Tiling rather than a shrunk copy: a copy would change the
    figure; strips keep the figure and bound the memory at ~150 MB.
    """
    a, b = _pair(a, b)
    side = min(a.shape[:2])
    win = None if side >= 7 else side - 1 + side % 2  # skimage needs an odd window
    h, w = a.shape[:2]
    if win is not None or h * w <= 2 * STRIP_PIXELS:
        return float(structural_similarity(a, b, win_size=win, channel_axis=-1, data_range=255))
    pad = 3  # (7 - 1) // 2: skimage's default window and the border it crops
    rows = max(_rows_per_strip(w), 2 * pad + 1)
    totals = np.zeros(a.shape[2])
    for top in range(pad, h - pad, rows):
        bottom = min(top + rows, h - pad)  # rows [top, bottom) of the cropped map
        for c in range(a.shape[2]):
            _, smap = structural_similarity(
                a[top - pad : bottom + pad, :, c],
                b[top - pad : bottom + pad, :, c],
                data_range=255,
                full=True,
            )
            totals[c] += smap[pad:-pad, pad:-pad].sum(dtype=np.float64)
    return float(np.mean(totals / ((h - 2 * pad) * (w - 2 * pad))))


def format_psnr(value: float) -> str:
    """'34.12 dB', or 'inf dB' for identical images."""
    return "inf dB" if math.isinf(value) else f"{value:.2f} dB"


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels where ``mask`` (HxW bool) is set; nan when it selects none."""
    a, b = _pair(a, b)
    if not mask.any():
        return float("nan")
    d = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    mse = np.mean(d**2)
    return float("inf") if mse == 0 else float(10.0 * math.log10(255.0**2 / mse))


def clipped_pixels(reference: np.ndarray) -> np.ndarray:
    """Pixels that an edit pushed to white in some channel (255): where highlight detail was
    lost in the edit, so only the hidden original can bring it back."""
    return (np.asarray(reference) == 255).any(axis=2)


def edited_pixels(original: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pixels an edit changed (by more than one level): for local edits such as retouching."""
    diff = np.abs(np.asarray(original).astype(np.int16) - np.asarray(reference).astype(np.int16))
    return diff.max(axis=2) > 1
