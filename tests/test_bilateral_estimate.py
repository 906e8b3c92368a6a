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
from restorable.network.bilateral_psi import BilateralEstimate


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
    d, sc, ss = model.net.estimator.settings.tolist()
    np.testing.assert_array_equal(model.guide(img), _bilateral(img, int(d), sc, ss))


@pytest.mark.parametrize("settings", [[1e9, 70.0, 8.0], [31.0, float("nan"), 8.0], [31.5, 70, 8]])
def test_settings_out_of_range_in_a_weights_file_are_one_line(
    fitted, tmp_path: Path, settings
) -> None:
    """A models folder is untrusted: a diameter OpenCV would loop over for hours, a NaN sigma
    or a fractional diameter is refused at load, before any photo is filtered."""
    from safetensors.torch import load_file, save_file

    from restorable.errors import RestorableError

    save_model(_model(fitted).net, _model(fitted).card, tmp_path, half=True)
    weights = load_file(str(tmp_path / "wmf.safetensors"))
    weights["estimator.settings"] = torch.tensor(settings, dtype=torch.float32)
    save_file(weights, str(tmp_path / "wmf.safetensors"))
    with pytest.raises(RestorableError, match="out of range") as caught:
        load("wmf", tmp_path)
    assert "\n" not in str(caught.value)
