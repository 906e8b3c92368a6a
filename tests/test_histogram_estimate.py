"""The learned two-histogram estimate (network/histogram_psi.py) a learned bwp-like model's ψ
reads: the whole photo's tones and texture moved to targets learned from the pairs."""

from __future__ import annotations

from pathlib import Path

import estimate_checks as checks
import numpy as np
import pytest
import torch

from restorable import reference
from restorable.models import RestorableModel, load, save_model
from restorable.network.histogram_psi import HistogramEstimate


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour photo with a tone gradient, edges and noise: a histogram to move."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.25 + 0.5 * (x / w)[..., None] * np.array([1.0, 0.8, 0.6])
    base = base + 0.15 * (np.sin(x / (5.0 + seed)) * np.cos(y / 11.0))[..., None]
    base = base + 0.2 * ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (h / 4) ** 2)[..., None]
    img = np.clip(base + 0.03 * rng.standard_normal((h, w, 3)), 0, 1)
    return (img * 255).round().astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def _bwp(x: np.ndarray) -> np.ndarray:
    return (np.clip(reference("bwp")(x.astype(np.float32) / 255), 0, 1) * 255).round()


@pytest.fixture(scope="module")
def fitted() -> tuple[HistogramEstimate, list]:
    pairs = [(x, _bwp(x).astype(np.uint8)) for x in (_photo(96, 128, s) for s in range(4))]
    est = HistogramEstimate()
    est.fit(pairs, progress=False)
    return est, pairs


def test_before_fitting_the_estimate_is_the_photos_grey() -> None:
    img = _photo(40, 60)
    est = HistogramEstimate()
    assert not est.fitted()
    out = est.photo(img)
    grey = np.rint(img.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32))
    assert np.abs(out[..., 0].astype(int) - grey).max() <= 1
    assert (out == out[..., :1]).all()


def test_fitting_learns_bwp_from_pairs(fitted) -> None:
    """From four pairs the targets reproduce the operator far better than its grey does, on
    the pairs and on a photo not among them."""
    est, pairs = fitted
    assert est.fitted()
    for x, y in [*pairs, (_photo(80, 112, 9), None)]:
        y = _bwp(x) if y is None else y
        grey = HistogramEstimate().photo(x)
        assert _psnr(est.photo(x), y) > _psnr(grey, y) + 5
        assert _psnr(est.photo(x), y) > 28


def test_the_fit_is_deterministic(fitted) -> None:
    est, pairs = fitted
    again = HistogramEstimate()
    again.fit(pairs, progress=False)
    for a, b in zip(est.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_torch_forward_is_the_photo_path(fitted) -> None:
    checks.check_torch_forward(fitted[0], _photo(50, 70, 5))


def _model(est: HistogramEstimate) -> RestorableModel:
    return checks.tiny_model("histogram", "bwp", est.state_dict())


def test_a_model_with_it_is_learned_tiles_exactly_and_restores(fitted) -> None:
    checks.check_model(_model(fitted[0]), _photo(150, 700, 2))


def test_its_targets_survive_fp16_shipping(fitted, tmp_path: Path) -> None:
    """Weights ship fp16, but the learned targets stay fp32: the estimate is unchanged."""
    model = _model(fitted[0])
    save_model(model.net, model.card, tmp_path, half=True)
    back = load("bwp", tmp_path)
    assert back.net.estimator.fitted()
    assert back.net.estimator.tone_small.dtype == torch.float32
    img = _photo(90, 120, 7)
    np.testing.assert_array_equal(back.guide(img), model.guide(img))


def test_a_guided_model_carries_on_with_it_where_it_was() -> None:
    grown = checks.check_guided_carries_on("histogram")
    # shrink_ is not grown: a weights file without it loads it as off (older weights)
    keys = sorted(k for k in HistogramEstimate().state_dict() if k != "shrink_")
    assert grown == [f"estimator.{k}" for k in keys]


def test_weights_with_one_tone_target_estimate_as_before(fitted) -> None:
    """bwp-learned v5's weights hold one ``tone_q`` for every size: they load as that target
    at both sizes and give the estimate they gave."""
    est, _ = fitted
    old = {k: v for k, v in est.state_dict().items() if not k.startswith("tone_")}
    old["tone_q"] = est.tone_large.clone()
    legacy = HistogramEstimate()
    legacy.load_state_dict(old)
    assert torch.equal(legacy.tone_small, est.tone_large)
    assert torch.equal(legacy.tone_large, est.tone_large)
    img = _photo(300, 420, 5)  # large: only the large targets count
    assert np.array_equal(legacy.photo(img), est.photo(img))


def test_small_and_large_photos_get_their_own_targets() -> None:
    """The fit weights each pair into the small and large targets by its pixel count: pairs
    of two sizes give two different tone targets, each near its own photos' outputs."""
    from restorable.operators import detail

    small = [_photo(80, 120, s) for s in range(2)]
    large = [_photo(427, 640, s) for s in range(2)]
    pairs = [(x, _bwp(x).astype(np.uint8)) for x in small + large]
    est = HistogramEstimate()
    est.fit(pairs, corrections=0, progress=False)
    for target, photos in ((est.tone_small, small), (est.tone_large, large)):
        outs = [np.quantile(_bwp(x)[..., 0] / 255, detail.QUANTILE_PROBS) for x in photos]
        assert np.abs(target.numpy() - np.mean(outs, axis=0)).max() < 1e-3
    assert not torch.equal(est.tone_small, est.tone_large)


def _tiny_bwp_run(photos: Path, tmp_path: Path, steps: int, resume: bool = False, **more) -> Path:
    """A tiny bwp-learned with the histogram estimate (conftest.tiny_config), trained
    ``steps`` steps on ``photos`` into tmp_path/run (RESTORABLE_CACHE set by the caller);
    ``more``: further config."""
    from conftest import tiny_config

    from restorable.training.train import TrainConfig, train

    net = {"estimate": "histogram"}
    cfg = tiny_config("bwp", photos, tmp_path / "run", name="bwp-learned", steps=steps, net=net)
    return train(TrainConfig.from_dict({**cfg, **more}), resume=resume, progress=False)


def test_training_fits_it_first_and_ships_it_fitted(photos: Path, tmp_path: Path, monkeypatch):
    """``train --estimate histogram``: the targets are fitted from the pairs before the first
    step, recorded in the card, and the run's weights carry them (apply needs no operator)."""
    import json

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    run = _tiny_bwp_run(photos, tmp_path, steps=2)
    card = json.loads((run / "bwp-learned.json").read_text())
    assert card["training"]["estimate_fit"]["photos"] >= 1
    model = load("bwp-learned", run)
    assert model.net.estimator.fitted() and not model.net.cfg.guided
    img = _photo(64, 80, 3)
    assert _psnr(model.guide(img), _bwp(img)) > _psnr(HistogramEstimate().photo(img), _bwp(img))


def test_a_resumed_run_reads_its_fitted_estimate_and_does_not_fit_again(
    photos: Path, tmp_path: Path, monkeypatch
):
    """``--resume`` of an estimate run: the checkpoint's fitted estimate, not a second fit,
    and the card still says how it was fitted."""
    import json

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    first = load("bwp-learned", _tiny_bwp_run(photos, tmp_path, steps=2)).net.estimator

    def refit(*args, **kwargs):
        raise AssertionError("the estimate was fitted again")

    monkeypatch.setattr(HistogramEstimate, "fit", refit)
    run = _tiny_bwp_run(photos, tmp_path, steps=4, resume=True)
    card = json.loads((run / "bwp-learned.json").read_text())
    assert card["training"]["steps"] == 4 and card["training"]["estimate_fit"]["photos"] >= 1
    again = load("bwp-learned", run).net.estimator.state_dict()
    assert all(torch.equal(v, again[k]) for k, v in first.state_dict().items())


def test_refit_estimate_fits_a_carried_on_estimate_again(photos: Path, tmp_path: Path, monkeypatch):
    """``--init-from`` keeps a fitted estimate as it came; ``--refit-estimate`` fits it again
    from the run's pairs (after the fit itself has changed)."""
    import json

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    first = _tiny_bwp_run(photos, tmp_path / "a", steps=2) / "bwp-learned.safetensors"
    from safetensors.torch import load_file, save_file

    weights = load_file(str(first))
    weights["estimator.tone_large"] = torch.linspace(
        0.2, 0.3, weights["estimator.tone_large"].numel()
    )
    save_file(weights, str(tmp_path / "w.safetensors"))
    for refit in (False, True):
        run = _tiny_bwp_run(
            photos,
            tmp_path / str(refit),
            steps=2,
            init_from=str(tmp_path / "w.safetensors"),
            refit_estimate=refit,
        )
        card = json.loads((run / "bwp-learned.json").read_text())
        tone = load("bwp-learned", run).net.estimator.tone_large
        assert torch.equal(tone, weights["estimator.tone_large"]) is not refit
        assert ("estimate_fit" in card["training"]) is refit


def test_gradient_targets_that_fall_short_are_scaled_back(fitted) -> None:
    """Where the learned gradient target stays short of the operator's (bwp's detail gain is
    limited, so its outputs stop short of it), the fit scales it by the factor that
    reproduces the pairs best: a target spoiled to 0.75× is scaled back up, and the estimate
    gains on the pairs. A size no pair has keeps its target."""
    est0, pairs = fitted
    est = HistogramEstimate()
    est.load_state_dict(est0.state_dict())
    est.grad_small.mul_(0.75)
    large = est.grad_large.clone()

    def psnr() -> float:
        return float(np.mean([_psnr(est.photo(x)[..., 0], y[..., 0]) for x, y in pairs]))

    spoiled = psnr()
    small_scale, large_scale = est.scale_gradients(pairs, progress=False)
    assert small_scale >= 1.15 and large_scale == 1.0
    assert torch.equal(est.grad_large, large)
    assert psnr() > spoiled + 1.0, (psnr(), spoiled)


def test_beyond_the_large_target_texture_shrinks_as_the_photo_grows(fitted) -> None:
    """A photo above the large target's pixel count reads that target's gradients shrunk by
    the linear scale (an upsampled photo's texture), its tones unchanged; at or below it, the
    targets are the learned ones. Fitting turns the shrink on; older weights load without."""
    from restorable.network.histogram_psi import LARGE

    est = fitted[0]
    tone, grad = est._targets(LARGE)
    np.testing.assert_allclose(grad, est.grad_large.double().numpy(), rtol=1e-6)
    tone4, grad4 = est._targets(4 * LARGE)  # twice the side
    np.testing.assert_allclose(tone4, tone, rtol=1e-6)
    np.testing.assert_allclose(grad4, 0.5 * grad, rtol=1e-6)
    # weights from before the shrink (bwp-learned v7: no shrink_) estimate as they did
    legacy = HistogramEstimate()
    legacy.load_state_dict({k: v for k, v in est.state_dict().items() if k != "shrink_"})
    np.testing.assert_allclose(legacy._targets(4 * LARGE)[1], grad, rtol=1e-6)
