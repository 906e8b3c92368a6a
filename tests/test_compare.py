"""Metrics and the comparison sheet."""

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from restorable.errors import RestorableError
from restorable.evaluation.compare import SHEET_WIDTH, compare, error_gain, worst_region
from restorable.evaluation.metrics import format_psnr, psnr, ssim
from restorable.files import read_image, write_image


def _photo(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], axis=2)
    return np.clip(base + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def test_psnr():
    a = _photo()
    b = a.copy()
    b[0, 0, 0] ^= 1  # one value off by one: MSE = 1 / N
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 * a.size))
    assert psnr(a, a) == float("inf")
    assert format_psnr(psnr(a, a)) == "inf dB" and format_psnr(31.234) == "31.23 dB"


def test_ssim_is_skimage_default():
    a, b = _photo(), _photo(seed=1)
    expected = structural_similarity(a, b, channel_axis=-1, data_range=255)
    assert ssim(a, b) == pytest.approx(expected)
    assert ssim(a, a) == pytest.approx(1.0)
    assert 0 < ssim(_photo(5, 9), _photo(5, 9, seed=1)) < 1  # tiny images still work


def test_metrics_refuse_mismatched_images():
    with pytest.raises(RestorableError):
        psnr(_photo(), _photo(100, 160))
    with pytest.raises(RestorableError):
        ssim(_photo(), _photo().astype(np.float32))


def test_worst_region_and_gain():
    err = np.zeros((100, 200), np.uint8)
    err[60:70, 150:160] = 3
    y, x = worst_region(err, (30, 30))
    assert y <= 60 and y + 30 >= 70 and x <= 150 and x + 30 >= 160
    assert worst_region(np.zeros((100, 200)), (30, 30)) == (35, 85)
    assert error_gain(np.full((4, 4), 3)) == 50  # 3 x 50 = 150 fits in 8 bits, 3 x 100 not
    assert error_gain(np.full((4, 4), 200)) == 10 and error_gain(np.zeros((4, 4))) == 200


def test_compare_writes_a_sheet(tmp_path):
    original = _photo()
    restored = original.copy()
    restored[40:50, 60:80] += 2
    paths = []
    for name, img in [("o", original), ("e", 255 - original), ("r", restored)]:
        paths.append(write_image(tmp_path / f"{name}.png", img))
    out = tmp_path / "sheet.png"
    result = compare(*paths, out)
    assert result["psnr"] == pytest.approx(psnr(original, restored))
    sheet = read_image(out)
    assert sheet.shape[1] == SHEET_WIDTH and sheet.shape[0] > 300
    # The error map panel shows the patch, magnified by the gain its label states.
    gain = error_gain(np.abs(original.astype(int) - restored))
    assert (sheet == 2 * gain).all(axis=2).sum() >= 20 * 10
    with pytest.raises(RestorableError, match="--force"):
        compare(*paths, out)
    with pytest.raises(RestorableError, match="input file"):
        compare(*paths, paths[0], force=True)


def test_compare_refuses_different_sizes(tmp_path):
    a = write_image(tmp_path / "a.png", _photo())
    b = write_image(tmp_path / "b.png", _photo(100, 160))
    with pytest.raises(RestorableError, match="differ in size"):
        compare(a, a, b, tmp_path / "sheet.png")
    assert not (tmp_path / "sheet.png").exists()
    Image.open(a).close()
