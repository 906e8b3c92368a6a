"""Region figures of the applications: PSNR over a mask, the clipped and the edited pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from restorable.evaluation.metrics import clipped_pixels, edited_pixels, masked_psnr, psnr


def test_masked_psnr_counts_only_the_masked_pixels() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = a.copy()
    b[:4] = 255 - b[:4]  # damage the top quarter only
    mask = np.zeros((16, 16), bool)
    mask[8:] = True
    assert math.isinf(masked_psnr(a, b, mask))  # the damage is outside the mask
    mask[:4] = True
    inside = masked_psnr(a, b, mask)
    assert inside < psnr(a, b)  # a third of the masked pixels are damaged, a quarter of all
    assert masked_psnr(a, b, np.ones((16, 16), bool)) == psnr(a, b)
    assert math.isnan(masked_psnr(a, b, np.zeros((16, 16), bool)))


def test_clipped_and_edited_pixels() -> None:
    ref = np.full((3, 3, 3), 100, np.uint8)
    ref[0, 0, 2] = 255
    assert clipped_pixels(ref).sum() == 1 and clipped_pixels(ref)[0, 0]
    orig = ref.copy()
    orig[1, 1] = 101  # one level: rounding, not an edit
    orig[2, 2] = 110
    assert edited_pixels(orig, ref).sum() == 1 and edited_pixels(orig, ref)[2, 2]


def test_float_psnr_is_peak_one_and_finite() -> None:
    """The float pipeline's PSNR (realworld's consistency): peak 1, unrounded, capped at 120 dB
    so that a score difference stays finite."""
    from restorable.evaluation.metrics import float_psnr

    a = np.zeros((4, 4, 3))
    assert float_psnr(a, a + 0.1) == pytest.approx(20.0)
    assert float_psnr(a, a) == pytest.approx(120.0)
