"""The learned colour-grade estimate (network/grade_psi.py) a model learned from pairs reads:
the photo's statistics, exact, turned into levels, curves and a colour mix fitted to the pairs."""

from __future__ import annotations

from pathlib import Path

import estimate_checks as checks
import numpy as np
import pytest
import torch

from restorable.models import RestorableModel, load, save_model
from restorable.network.grade_psi import QUANTILES, GradeEstimate, statistics


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth scene with texture whose tonal range and cast differ from seed to seed, so an
    auto-level has something to stretch."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(x / (7.0 + seed) + y / 11.0)[..., None] * rng.uniform(0.4, 1, 3)
    base = base + 0.1 * rng.standard_normal((h, w, 3))
    lo, hi = rng.uniform(0.05, 0.35), rng.uniform(0.6, 0.95)
    img = lo + (hi - lo) * np.clip(base, 0, 1)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _auto_level_gamma(img: np.ndarray) -> np.ndarray:
    """ImageMagick's ``-auto-level -auto-gamma`` as it measures on photos: one stretch of the
    darkest to the brightest value of all channels, then one gamma bringing the mean to 0.5."""
    x = img.astype(np.float64) / 255
    z = (x - x.min()) / (x.max() - x.min())
    out = z ** (np.log(0.5) / np.log(z.mean()))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def fitted() -> tuple[GradeEstimate, dict]:
    torch.manual_seed(0)
    pairs = [(x, _auto_level_gamma(x)) for x in (_photo(48, 64, s) for s in range(24))]
    est = GradeEstimate()
    record = est.fit(pairs, progress=False, steps=150)
    return est, record


def test_before_fitting_the_estimate_is_the_photo() -> None:
    img = _photo(40, 60, 1)
    est = GradeEstimate()
    assert not est.fitted()
    np.testing.assert_array_equal(est.photo(img), img)
    np.testing.assert_array_equal(est.photo(img.astype(np.float32) / 255), img)


def test_the_statistics_are_the_photos_exactly() -> None:
    img = _photo(37, 53, 2)
    stats, cdf = statistics(img)
    per = len(QUANTILES) + 2
    for c in range(3):
        channel = img[..., c].astype(np.float64) / 255
        q = stats[c * per : c * per + len(QUANTILES)]
        assert q[0] == pytest.approx(channel.min()) and q[-1] == pytest.approx(channel.max())
        assert q[QUANTILES.index(0.5)] == pytest.approx(
            np.quantile(channel, 0.5, method="inverted_cdf")
        )
        assert stats[c * per + len(QUANTILES)] == pytest.approx(channel.mean(), abs=1e-6)
        assert stats[c * per + len(QUANTILES) + 1] == pytest.approx(channel.std(), abs=1e-5)
        assert cdf[c, -1] == pytest.approx(1.0)
        level = int(img[..., c].min())
        assert cdf[c, level - 1 if level else 0] <= (img[..., c] <= level - 1).mean() + 1e-6
    assert np.all(np.diff(cdf, axis=1) >= 0)


def test_fitted_on_an_auto_level_it_learns_the_edit(fitted) -> None:
    """On photos it was not fitted on, the estimate of a per-photo levels-and-gamma edit is far
    closer to the edit than the photo is: the stretch and gamma come from each photo's own
    statistics, which no fixed curve could give."""
    est, record = fitted
    assert est.fitted() and record["steps"] == 150 and record["photos"] == 24
    held_out = [_photo(50, 70, s) for s in range(100, 104)]
    got = np.mean([_psnr(est.photo(x), _auto_level_gamma(x)) for x in held_out])
    unchanged = np.mean([_psnr(x, _auto_level_gamma(x)) for x in held_out])
    assert got > unchanged + 8 and got > 30


def test_the_fit_is_deterministic() -> None:
    pairs = [(x, _auto_level_gamma(x)) for x in (_photo(32, 40, s) for s in range(6))]
    torch.manual_seed(3)
    a = GradeEstimate()
    torch.manual_seed(3)
    b = GradeEstimate()
    torch.manual_seed(5)
    a.fit(pairs, progress=False, steps=20)
    torch.manual_seed(9)  # the fit draws its pixels and photos from its own seed
    b.fit(pairs, progress=False, steps=20)
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k


def test_the_torch_forward_is_the_photo_path(fitted) -> None:
    checks.check_torch_forward(fitted[0], _photo(50, 70, 5))


def test_the_estimate_is_per_pixel_of_the_whole_photos_statistics(fitted) -> None:
    """Computed in strips of rows, the estimate is the same function of each pixel's value
    everywhere in the photo (one grade per photo), even across the strips' borders."""
    est = fitted[0]
    img = _photo(600, 40, 7)
    out = est.photo(img)
    flat_in, flat_out = img.reshape(-1, 3), out.reshape(-1, 3)
    _, first = np.unique(flat_in, axis=0, return_index=True)
    for i in first[:200]:
        same = (flat_in == flat_in[i]).all(1)
        assert (flat_out[same] == flat_out[i]).all()


def _model(est: GradeEstimate) -> RestorableModel:
    return checks.tiny_model("grade", "mygrade", est.state_dict())


def test_a_model_with_it_is_learned_tiles_exactly_and_restores(fitted) -> None:
    # an auto-level moves this photo's tones far (19.8 dB), and even an untrained ψ reading
    # them moves the untrained model's output with them: 23 dB, where the other estimates' 25
    checks.check_model(_model(fitted[0]), _photo(150, 700, 2), restore_psnr=21.0)


def test_it_survives_fp16_shipping(fitted, tmp_path: Path) -> None:
    model = _model(fitted[0])
    save_model(model.net, model.card, tmp_path, half=True)
    back = load("mygrade", tmp_path)
    assert back.net.estimator.stat_std.dtype == torch.float32
    img = _photo(90, 120, 7)
    np.testing.assert_array_equal(back.guide(img), model.guide(img))


def test_a_guided_model_carries_on_with_it_where_it_was() -> None:
    grown = checks.check_guided_carries_on("grade")
    assert grown and all(k.startswith("estimator.") for k in grown)


def test_a_large_photos_grade_is_the_whole_photos_not_its_windows(fitted, monkeypatch) -> None:
    """Where a guided model's operator runs in windows (large photos), the grade still reads
    the whole photo's statistics: one grade for the photo, no seams."""
    import restorable.models as models

    model = _model(fitted[0])
    img = np.concatenate([_photo(64, 200, 1), _photo(64, 200, 3)], 0)  # two halves unalike
    monkeypatch.setattr(models, "GUIDE_BUDGET_MB", 0.01)  # windows of the minimum side,
    model.receptive_field = 16  # 40 px
    np.testing.assert_array_equal(model.guide(img), fitted[0].photo(img))
