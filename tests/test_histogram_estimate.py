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
    # 24 dB: untrained, Δ is not 0; this photo is 8.5× the pixels of the one anchor (its
    # texture target shrunk), and the restoration measured 24.9 dB (25.3 unshrunk)
    checks.check_model(_model(fitted[0]), _photo(150, 700, 2), restore_psnr=24.0)


def test_its_targets_survive_fp16_shipping(fitted, tmp_path: Path) -> None:
    """Weights ship fp16, but the learned targets stay fp32: the estimate is unchanged."""
    model = _model(fitted[0])
    save_model(model.net, model.card, tmp_path, half=True)
    back = load("bwp", tmp_path)
    assert back.net.estimator.fitted()
    assert back.net.estimator.tone_.dtype == torch.float32
    img = _photo(90, 120, 7)
    np.testing.assert_array_equal(back.guide(img), model.guide(img))


def test_a_guided_model_carries_on_with_it_where_it_was() -> None:
    grown = checks.check_guided_carries_on("histogram")
    # shrink_ is not grown: a weights file without it loads it as off (older weights)
    keys = sorted(k for k in HistogramEstimate().state_dict() if k != "shrink_")
    assert grown == [f"estimator.{k}" for k in keys]


def test_older_weights_estimate_as_before(fitted) -> None:
    """bwp-learned v5's weights hold one ``tone_q`` for every size, v6-v8's two targets per
    kind (``tone_small`` ... ``grad_large``) and, before v8, no ``shrink_``: each loads as the
    two anchors (SMALL, LARGE) it had and gives the estimate it gave."""
    from restorable.network.histogram_psi import LARGE, SMALL
    from restorable.operators import detail

    est, _ = fitted
    tone, grad = est.tone_[0].clone(), est.grad_[0].clone()
    v5 = {"tone_q": tone, "grad_small": grad, "grad_large": 2 * grad, "fitted_": est.fitted_}
    v8 = {
        "tone_small": tone, "tone_large": tone, "grad_small": grad, "grad_large": 2 * grad,
        "fitted_": est.fitted_, "shrink_": torch.ones(()),
    }  # fmt: skip
    img = _photo(480, 640, 5)  # above LARGE: the large targets, shrunk if shrink_ is on
    grey = detail.luminance(img.astype(np.float32) / 255)
    for state, shrink in ((v5, 1.0), (v8, np.sqrt(LARGE / (480 * 640)))):
        legacy = HistogramEstimate()
        legacy.load_state_dict({k: v.clone() for k, v in state.items()})
        assert legacy.anchors_.tolist() == [SMALL, LARGE]
        assert torch.equal(legacy.tone_[0], tone) and torch.equal(legacy.tone_[1], tone)
        want = legacy._grey(grey, tone.double().numpy(), 2 * grad.double().numpy() * shrink)
        np.testing.assert_array_equal(
            legacy.photo(img)[..., 0], np.clip(np.rint(want * 255), 0, 255).astype(np.uint8)
        )


def test_the_number_of_anchors_comes_with_the_weights(fitted) -> None:
    """A file with more size anchors than a fresh module's two loads them all."""
    est = HistogramEstimate()
    n = est.tone_.shape[1]
    state = {
        **est.state_dict(),
        "anchors_": torch.tensor([1e4, 4e4, 1.6e5]),
        "tone_": torch.rand(3, n).sort(dim=1).values,
        "grad_": torch.rand(3, n),
    }
    est.load_state_dict(state)
    assert est.anchors_.tolist() == [1e4, 4e4, 1.6e5] and est.grad_.shape == (3, n)


def test_hat_weights_interpolate_in_the_log_of_the_size() -> None:
    from restorable.network.histogram_psi import hat_weights

    w = hat_weights(np.array([10, 100, 200, 400, 800, 5000]), np.array([100.0, 400.0, 1600.0]))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w[0], [1, 0, 0])  # below the first anchor: clamped
    np.testing.assert_allclose(w[1], [1, 0, 0])
    np.testing.assert_allclose(w[2], [0.5, 0.5, 0])  # halfway in log between 100 and 400
    np.testing.assert_allclose(w[3], [0, 1, 0])
    np.testing.assert_allclose(w[4], [0, 0.5, 0.5])
    np.testing.assert_allclose(w[5], [0, 0, 1])


def test_anchors_sit_where_the_pairs_sizes_are() -> None:
    """Pairs in three size groups (and one stray) get one anchor per group, each at its
    group's (log-mean) size; pairs of one size get one anchor at that size."""
    from restorable.network.histogram_psi import choose_anchors

    groups = [[9600, 10800, 12000, 9000, 11000], [60000, 68000, 72000, 64000], [270000] * 6]
    anchors = choose_anchors(np.array(sum(groups, [])))
    assert anchors.size == 3
    for anchor, group in zip(anchors, groups, strict=True):
        assert abs(np.log(anchor) - np.mean(np.log(group))) < 1e-4, (anchors, group)
    assert choose_anchors(np.array([*sum(groups, []), 30000])).size == 3  # a stray: no anchor
    assert choose_anchors(np.array([5000] * 4)).tolist() == [5000]


def test_small_and_large_photos_get_their_own_targets() -> None:
    """The fit weights each pair into the small and large targets by its pixel count: pairs
    of two sizes give two different tone targets, each near its own photos' outputs."""
    from restorable.operators import detail

    small = [_photo(80, 120, s) for s in range(2)]
    large = [_photo(427, 640, s) for s in range(2)]
    pairs = [(x, _bwp(x).astype(np.uint8)) for x in small + large]
    est = HistogramEstimate()
    est.fit(pairs, corrections=0, progress=False)
    assert est.anchors_.tolist() == [80 * 120, 427 * 640]
    for target, photos in ((est.tone_[0], small), (est.tone_[1], large)):
        outs = [np.quantile(_bwp(x)[..., 0] / 255, detail.QUANTILE_PROBS) for x in photos]
        assert np.abs(target.numpy() - np.mean(outs, axis=0)).max() < 1e-3
    assert not torch.equal(est.tone_[0], est.tone_[1])


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
    weights["estimator.tone_"] = torch.linspace(0.2, 0.3, weights["estimator.tone_"].shape[1])[
        None
    ].repeat(weights["estimator.tone_"].shape[0], 1)
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
        tone = load("bwp-learned", run).net.estimator.tone_
        assert torch.equal(tone, weights["estimator.tone_"]) is not refit
        assert ("estimate_fit" in card["training"]) is refit


def test_estimate_refine_refines_a_carried_on_estimate(photos: Path, tmp_path: Path, monkeypatch):
    """``estimate_refine`` (config): a carried-on estimate's targets get the
    Levenberg-Marquardt steps on the run's whole pairs before training, the card says so, and
    without it they stay as they came."""
    import json

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    first = _tiny_bwp_run(photos, tmp_path / "a", steps=2) / "bwp-learned.safetensors"
    from safetensors.torch import load_file

    came = load_file(str(first))["estimator.tone_"]
    for steps in (0, 1):
        run = _tiny_bwp_run(
            photos, tmp_path / str(steps), steps=2, init_from=str(first), estimate_refine=steps
        )
        card = json.loads((run / "bwp-learned.json").read_text())
        tone = load("bwp-learned", run).net.estimator.tone_
        assert torch.equal(tone, came) is (steps == 0)
        fit = card["training"].get("estimate_fit") or {}
        assert ("refined" in fit) is (steps == 1)
        if steps:
            before, after = fit["refined"]["psnr"][0]
            assert after >= before


def _two_anchors(fitted) -> tuple[HistogramEstimate, list]:
    """A copy of the fitted estimate with two anchors: the pairs' own size (its targets) and
    one 16× larger that no pair is nearest (the same targets)."""
    est0, pairs = fitted
    size = pairs[0][0].shape[0] * pairs[0][0].shape[1]
    est = HistogramEstimate()
    est.load_state_dict(est0.state_dict())
    tone, grad = est.tone_[0].double().numpy(), est.grad_[0].double().numpy()
    est._set_targets(np.array([size, 16 * size]), np.stack([tone, tone]), np.stack([grad, grad]))
    return est, pairs


def _pairs_psnr(est: HistogramEstimate, pairs: list) -> float:
    return float(np.mean([_psnr(est.photo(x)[..., 0], y[..., 0]) for x, y in pairs]))


def test_gradient_targets_that_fall_short_are_scaled_back(fitted) -> None:
    """Where the learned gradient target stays short of the operator's (bwp's detail gain is
    limited, so its outputs stop short of it), the fit scales it by the factor that
    reproduces the pairs best: a target spoiled to 0.75× is scaled back up, and the estimate
    gains on the pairs. An anchor no pair is nearest keeps its target."""
    est, pairs = _two_anchors(fitted)
    est.grad_[0] *= 0.75
    far = est.grad_[1].clone()

    def psnr() -> float:
        return _pairs_psnr(est, pairs)

    spoiled = psnr()
    near_scale, far_scale = est.scale_gradients(pairs, progress=False)
    assert near_scale >= 1.15 and far_scale == 1.0
    assert torch.equal(est.grad_[1], far)
    assert psnr() > spoiled + 1.0, (psnr(), spoiled)


def test_refining_on_the_pixels_wins_back_a_smooth_error_in_the_targets(fitted) -> None:
    """Tone targets spoiled by a smooth offset (what pooled histograms leave where the slope
    limits bite): the Levenberg-Marquardt steps on the pixels win the estimate back on the
    pairs, and an anchor no pair is nearest keeps its targets. (Not back to the targets it
    had: on four small photos many targets fit as well, measured 38.7 -> 40.2 dB in two
    steps against 48.3 before the spoiling.)"""
    est, pairs = _two_anchors(fitted)
    tone = est.tone_[0].double().numpy()
    p = np.linspace(0.0, 1.0, tone.size)
    spoilt = np.maximum.accumulate(np.clip(tone + 0.03 * np.sin(np.pi * p), 0, 1))
    est.tone_[0] = torch.from_numpy(spoilt).float()
    far = est.tone_[1].clone()

    def psnr() -> float:
        return _pairs_psnr(est, pairs)

    spoiled = psnr()
    record = est.refine(pairs, iterations=2, tone_bands=4, grad_bands=0, progress=False)
    assert record["photos"] == len(pairs) and len(record["psnr"]) == 1
    assert psnr() > spoiled + 1.0, (psnr(), spoiled)
    assert torch.equal(est.tone_[1], far)
    before, after = record["psnr"][0]
    assert after > before


def test_beyond_the_largest_anchor_texture_shrinks_as_the_photo_grows(fitted) -> None:
    """A photo above the largest anchor's pixel count reads that anchor's gradients shrunk by
    the linear scale (an upsampled photo's texture), its tones unchanged; at or below it, the
    targets are the learned ones. Fitting turns the shrink on."""
    est = fitted[0]
    top = int(est.anchors_[-1])
    tone, grad = est._targets(top)
    np.testing.assert_allclose(grad, est.grad_[-1].double().numpy(), rtol=1e-6)
    tone4, grad4 = est._targets(4 * top)  # twice the side
    np.testing.assert_allclose(tone4, tone, rtol=1e-6)
    np.testing.assert_allclose(grad4, 0.5 * grad, rtol=1e-6)


def test_sized_pairs_are_made_at_each_side_from_photos_that_large(
    photos: Path, tmp_path, monkeypatch
):
    """``estimate_sides``: whole pairs at each longer side, from training photos at least that
    large and no more than ``estimate_photos`` of them; none without sides or for a model
    learned from the user's pairs (no operator to make them)."""
    from conftest import tiny_config

    from restorable.training.train import TrainConfig, sized_pairs

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    base = tiny_config("bwp", photos, tmp_path / "run")
    cfg = TrainConfig.from_dict({**base, "estimate_sides": [60, 96, 500], "estimate_photos": 2})
    got = sized_pairs(cfg)
    assert [max(x.shape[:2]) for x, _ in got] == [60, 60, 96, 96]  # no photo reaches 500 px
    for x, y in got:
        assert y.shape == x.shape
        np.testing.assert_allclose(y, _bwp(x), atol=1)
    assert sized_pairs(TrainConfig.from_dict(base)) == []
    assert sized_pairs(TrainConfig.from_dict({**cfg.to_dict(), "pairs": ["a", "b"]})) == []
