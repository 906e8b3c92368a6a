"""PSNR and SSIM in bounded memory: the web page computes them for any upload up to 100 MP.

The strips must change nothing: PSNR to the bit, SSIM to the order of summation, against the
plain formulas the project used before (``np.mean`` of float64 squares; scikit-image on the
whole pair).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from restorable.evaluation import metrics


def _pair(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    noise = rng.integers(-12, 13, (h, w, 3))
    return a, np.clip(a.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _plain_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10.0 * math.log10(255.0**2 / mse))


@pytest.mark.parametrize("shape", [(7, 9), (300, 451), (1201, 997)])
def test_strips_give_the_plain_figures(monkeypatch, shape):
    """With strips of a few thousand pixels, so that many strips (and a ragged last one) are
    summed: PSNR equal to the bit, SSIM within 1e-12 of scikit-image on the whole pair."""
    a, b = _pair(*shape)
    plain_ssim = structural_similarity(
        a, b, channel_axis=-1, data_range=255, win_size=None if min(shape) >= 7 else 5
    )
    monkeypatch.setattr(metrics, "STRIP_PIXELS", 4099)
    assert metrics.psnr(a, b) == _plain_psnr(a, b)
    assert metrics.ssim(a, b) == pytest.approx(plain_ssim, abs=1e-12)
    assert math.isinf(metrics.psnr(a, a)) and metrics.ssim(a, a) == pytest.approx(1.0)


def test_normal_sizes_are_unchanged():
    """Under two strips (2 MP) SSIM is scikit-image's own call, so every figure reported before
    stays the same to the bit."""
    a, b = _pair(480, 640, seed=1)
    assert metrics.ssim(a, b) == structural_similarity(a, b, channel_axis=-1, data_range=255)
    assert metrics.psnr(a, b) == _plain_psnr(a, b)


def _peak_mb(fn, *args) -> float:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_strip_not_the_image(monkeypatch):
    """PSNR on a 20 MP pair allocates ~50 MB (one strip in int64), where the plain formula held
    two float64 copies of the image: 960 MB. SSIM, run with strips of 64k pixels on a 2 MP pair
    to stay fast, allocates what one strip needs (~10 MB), not the ~300 MB scikit-image takes on
    the whole pair; its peak is set by the strip, so 100 MP takes no more than 2 MP."""
    a = np.zeros((4000, 5000, 3), np.uint8)  # 20 MP
    b = a.copy()
    b[::7, ::3] = 9
    assert _peak_mb(metrics.psnr, a, b) < 80
    assert metrics.psnr(a, b) == _plain_psnr(a, b)

    monkeypatch.setattr(metrics, "STRIP_PIXELS", 1 << 16)
    small_a, small_b = _pair(1000, 2000, seed=2)
    peak = _peak_mb(metrics.ssim, small_a, small_b)
    assert peak < 25, f"SSIM in strips allocated {peak:.0f} MB"
