"""The fitted bilateral estimate (network/bilateral_psi.py) a learned wmf-like model's ψ reads:
OpenCV's bilateral filter run on the whole photo, its three settings chosen from the pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import estimate_checks as checks
import numpy as np
import pytest
import torch

from restorable import reference
from restorable.models import RestorableModel, load, save_model
from restorable.network import bilateral_psi
from restorable.network.bilateral_psi import BilateralEstimate, joint_box


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Flat colour regions with edges, a gradient and noise: something to smooth."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.3 + 0.4 * (x / w)[..., None] * np.array([1.0, 0.7, 0.5])
    base = base + 0.25 * ((x - w / 3) ** 2 + (y - h / 2) ** 2 < (h / 3) ** 2)[..., None]
    base = base + 0.1 * np.sin(y / (4.0 + seed))[..., None]
    img = np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1)
    return (img * 255).round().astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def _bilateral(x: np.ndarray, d: int, sc: float, ss: float) -> np.ndarray:
    return cv2.bilateralFilter(x, d, sc, ss, borderType=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def fitted() -> BilateralEstimate:
    """Fitted on pairs a bilateral filter with one of the grid's settings made."""
    pairs = [(x, _bilateral(x, 21, 60.0, 12.0)) for x in (_photo(48, 64, s) for s in range(3))]
    est = BilateralEstimate()
    est.fit(pairs, progress=False)
    return est


def test_before_fitting_the_estimate_is_the_photo() -> None:
    img = _photo(40, 60)
    est = BilateralEstimate()
    assert not est.fitted()
    np.testing.assert_array_equal(est.photo(img), img)
    np.testing.assert_array_equal(est.photo(img.astype(np.float32) / 255), img)


def test_the_fit_finds_the_settings_that_made_the_pairs(fitted) -> None:
    assert fitted.fitted()
    assert fitted.settings.tolist() == [21.0, 60.0, 12.0]
    img = _photo(50, 70, 9)  # a photo not among the pairs
    np.testing.assert_array_equal(fitted.photo(img), _bilateral(img, 21, 60.0, 12.0))


def test_fitted_on_wmf_pairs_it_is_closer_to_wmf_than_the_photo() -> None:
    wmf = reference("wmf")

    def edit(x: np.ndarray) -> np.ndarray:
        return (np.clip(wmf(x.astype(np.float32) / 255), 0, 1) * 255).round().astype(np.uint8)

    est = BilateralEstimate()
    record = est.fit([(x, edit(x)) for x in (_photo(64, 80, s) for s in range(3))], False)
    assert record["photos"] == 3 and record["psnr"] > 0
    held_out = _photo(60, 90, 7)
    assert _psnr(est.photo(held_out), edit(held_out)) > _psnr(held_out, edit(held_out)) + 3


def test_the_torch_forward_is_the_photo_path(fitted) -> None:
    checks.check_torch_forward(fitted, _photo(50, 70, 5))


def _model(est: BilateralEstimate) -> RestorableModel:
    return checks.tiny_model("bilateral", "wmf", est.state_dict())


def test_a_model_with_it_is_learned_tiles_exactly_and_restores(fitted) -> None:
    checks.check_model(_model(fitted), _photo(150, 700, 2))


def test_its_settings_survive_fp16_shipping(fitted, tmp_path: Path) -> None:
    model = _model(fitted)
    save_model(model.net, model.card, tmp_path, half=True)
    back = load("wmf", tmp_path)
    assert back.net.estimator.settings.dtype == torch.float32
    assert back.net.estimator.settings.tolist() == [21.0, 60.0, 12.0]
    img = _photo(90, 120, 7)
    np.testing.assert_array_equal(back.guide(img), model.guide(img))


def test_a_guided_model_carries_on_with_it_where_it_was() -> None:
    # the blend's buffers load as "the bilateral alone" when missing (weights from before it)
    assert checks.check_guided_carries_on("bilateral") == ["estimator.settings"]


def test_training_fits_it_first_and_ships_it_fitted(photos: Path, tmp_path: Path, monkeypatch):
    """``train --estimate bilateral``: the settings are chosen from the pairs before the first
    step, recorded in the card, and the run's weights carry them (apply needs no operator)."""
    from conftest import tiny_config

    from restorable.training.train import TrainConfig, train

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    cfg = tiny_config("wmf", photos, tmp_path / "run", name="wmf-learned")
    cfg["net"]["estimate"] = "bilateral"
    run = train(TrainConfig.from_dict(cfg), progress=False)
    card = json.loads((run / "wmf-learned.json").read_text())
    assert card["training"]["estimate_fit"]["settings"]["diameter"] > 0
    model = load("wmf-learned", run)
    assert model.net.estimator.fitted() and not model.net.cfg.guided
    img = _photo(64, 80, 3)
    assert np.abs(model.guide(img).astype(int) - _blend_of(model.net.estimator, img)).max() <= 1


def _blend_of(est: BilateralEstimate, img: np.ndarray) -> np.ndarray:
    """What a fitted estimate's settings, grey box and weights say it computes."""
    d, sc, ss = (float(v) for v in est.settings)
    radius, sigma = (float(v) for v in est.joint)
    w = [float(v) for v in est.blend]
    out = w[0] * img + w[1] * _bilateral(img, int(d), sc, ss).astype(np.float64) + w[3]
    if radius:
        out = out + w[2] * joint_box(img, int(radius), sigma)
    return np.clip(np.rint(out), 0, 255).astype(int)


def _joint_box_directly(u8: np.ndarray, radius: int, sigma: float) -> np.ndarray:
    """The grey-guided box mean pixel by pixel, as its definition says (mirrored borders)."""
    grey = cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY).astype(np.float64)
    pad = radius
    g = np.pad(grey, pad, mode="symmetric")
    x = np.pad(u8.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    out = np.empty(u8.shape)
    for i in range(u8.shape[0]):
        for j in range(u8.shape[1]):
            window = g[i : i + 2 * pad + 1, j : j + 2 * pad + 1]
            w = np.exp(-((window - grey[i, j]) ** 2) / (2 * sigma**2))
            values = x[i : i + 2 * pad + 1, j : j + 2 * pad + 1]
            out[i, j] = (w[..., None] * values).sum((0, 1)) / w.sum()
    return out


def test_the_grey_box_filter_is_its_definition() -> None:
    """Sampled at every grey level, the piecewise-linear computation is exact: each pixel's
    mean over its box, weighted by a Gaussian of the grey difference."""
    img = _photo(14, 17, 4)
    got = joint_box(img, 3, 20.0, levels=256)
    np.testing.assert_allclose(got, _joint_box_directly(img, 3, 20.0), atol=1e-2)
    coarse = joint_box(img, 3, 20.0)  # 18 levels, as shipped: close, not exact
    assert np.abs(coarse - got).mean() < 1.0


def test_the_grey_box_filter_in_strips_is_one_pass(monkeypatch) -> None:
    img = _photo(70, 40, 6)
    whole = joint_box(img, 5, 25.0)
    monkeypatch.setattr(bilateral_psi, "STRIP", 16)  # 5 strips, each with its halo
    np.testing.assert_array_equal(joint_box(img, 5, 25.0), whole)


def test_the_fitted_blend_is_what_the_estimate_computes() -> None:
    """Fitted on wmf-like pairs the fit blends in the grey box, and the estimate is the blend
    of the photo, the bilateral and the grey box with the recorded weights."""
    wmf = reference("wmf")

    def edit(x: np.ndarray) -> np.ndarray:
        return (np.clip(wmf(x.astype(np.float32) / 255), 0, 1) * 255).round().astype(np.uint8)

    est = BilateralEstimate()
    record = est.fit([(x, edit(x)) for x in (_photo(64, 80, s) for s in range(3))], False)
    assert record["blend_psnr"] > record["psnr"] and record["joint"]["radius"] > 0
    img = _photo(60, 90, 7)
    assert np.abs(est.photo(img).astype(int) - _blend_of(est, img)).max() <= 1  # float order


def test_a_weights_file_from_before_the_blend_is_the_bilateral_alone(fitted) -> None:
    """wmf-learned v5 shipped the three settings only: it loads and estimates as it did."""
    state = {"settings": torch.tensor([31.0, 70.0, 8.0])}
    est = BilateralEstimate()
    est.load_state_dict(state)
    img = _photo(50, 60, 8)
    np.testing.assert_array_equal(est.photo(img), _bilateral(img, 31, 70.0, 8.0))


@pytest.mark.parametrize(
    "key, value",
    [
        ("settings", [1e9, 70.0, 8.0]),
        ("settings", [31.0, float("nan"), 8.0]),
        ("settings", [31.5, 70, 8]),
        ("joint", [1e6, 20.0]),
        ("joint", [10.0, 0.0]),
        ("blend", [0.0, 1.0, float("inf"), 0.0]),
    ],
)
def test_settings_out_of_range_in_a_weights_file_are_one_line(
    fitted, tmp_path: Path, key, value
) -> None:
    """A models folder is untrusted: a diameter or radius OpenCV would loop over for hours, a
    NaN or zero sigma, a fractional diameter or an infinite weight is refused at load, before
    any photo is filtered."""
    from safetensors.torch import load_file, save_file

    from restorable.errors import RestorableError

    save_model(_model(fitted).net, _model(fitted).card, tmp_path, half=True)
    weights = load_file(str(tmp_path / "wmf.safetensors"))
    weights[f"estimator.{key}"] = torch.tensor(value, dtype=torch.float32)
    save_file(weights, str(tmp_path / "wmf.safetensors"))
    with pytest.raises(RestorableError, match="out of range") as caught:
        load("wmf", tmp_path)
    assert "\n" not in str(caught.value)
