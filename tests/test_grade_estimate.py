"""The learned colour-grade estimate (network/grade_psi.py) a model learned from pairs reads:
the photo's statistics, exact, turned into levels, curves and a colour mix fitted to the pairs."""

from __future__ import annotations

from pathlib import Path

import estimate_checks as checks
import numpy as np
import pytest
import torch

from restorable.models import RestorableModel, load, save_model
from restorable.network.grade_psi import GRID, QUANTILES, ColourLookup, GradeEstimate, statistics


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


def _hue_and_saturation(img: np.ndarray) -> np.ndarray:
    """A colour change no per-channel curve or 3 × 3 mix states: saturation × 1.3 and hue
    turned by 0.04 of a circle, in HSV (as ImageMagick's ``-modulate`` does it in HSL)."""
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(img)
    hsv[..., 0] = (hsv[..., 0] + 0.04) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.3, 0, 1)
    return np.clip(np.rint(hsv2rgb(hsv) * 255), 0, 255).astype(np.uint8)


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


def test_the_colour_lookup_learns_a_change_of_hue_and_saturation(monkeypatch) -> None:
    """The curves and the mix alone stay far from an HSV change; with the colour lookup the
    estimate is close to it on photos it was not fitted on."""
    pairs = [(x, _hue_and_saturation(x)) for x in (_photo(48, 64, s) for s in range(12))]
    held_out = [_photo(50, 70, s) for s in range(100, 104)]

    def fitted_psnr() -> float:
        torch.manual_seed(0)
        est = GradeEstimate()
        est.fit(pairs, progress=False, steps=100)
        return float(np.mean([_psnr(est.photo(x), _hue_and_saturation(x)) for x in held_out]))

    with_lookup = fitted_psnr()
    monkeypatch.setattr(ColourLookup, "looked_up", lambda self, rgb: torch.zeros_like(rgb))
    without = fitted_psnr()  # the curves and the mix alone
    assert with_lookup > 40 and with_lookup > without + 6, (with_lookup, without)


def test_the_colour_lookup_solve_recovers_a_table() -> None:
    """A change that is itself a table read trilinearly is solved back to that table: the
    solve is the exact least-squares one, not an approximation."""
    gen = torch.Generator().manual_seed(0)
    truth = ColourLookup()
    with torch.no_grad():
        truth.table.copy_(0.1 * torch.randn(truth.table.shape, generator=gen))
    rgb = torch.rand(1, 40000, 3, generator=gen)
    change = truth.looked_up(rgb)[0].detach()
    solved = ColourLookup()
    solved.solve(rgb[0], change, smooth=0.0)
    torch.testing.assert_close(solved.table, truth.table, atol=2e-4, rtol=0)
    # at a grid point the lookup reads that point's value
    corner = torch.tensor([[[1.0, 0.0, 1.0]]])
    torch.testing.assert_close(
        solved.looked_up(corner)[0, 0], solved.table[:, GRID - 1, 0, GRID - 1]
    )


def test_a_weights_file_from_before_the_lookup_grades_as_it_did(fitted) -> None:
    """The --pairs starting weights and users' models of 2026-12-05 have no colour lookup:
    they load with none, and grade with their curves and mix alone."""
    est = fitted[0]
    old = {k: v for k, v in est.state_dict().items() if not k.startswith("colour.")}
    back = GradeEstimate()
    back.load_state_dict(old)
    assert torch.count_nonzero(back.colour.table) == 0
    img = _photo(40, 60, 9)
    stats, cdf = statistics(img)
    tables, mix = back.tables(torch.from_numpy(stats)[None], torch.from_numpy(cdf)[None])
    idx = torch.from_numpy(img.reshape(1, -1, 3).astype(np.int64))
    curves_and_mix = GradeEstimate.mixed(tables, mix, idx)[0].reshape(img.shape).detach().numpy()
    expected = np.clip(np.rint(curves_and_mix * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(back.photo(img), expected)
