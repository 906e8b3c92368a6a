"""The learned estimate a learned model's ψ may read (network/pyramid_psi.py): a learned local
Laplacian filter run on the whole photo, fitted before training (training/estimate_fit.py)."""

from __future__ import annotations

import estimate_checks as checks
import numpy as np
import pytest
import torch

from restorable import reference
from restorable.models import RestorableModel
from restorable.network.pyramid_psi import A_SCALE, KNOTS, PyramidEstimate
from restorable.operators.detail import paris_remap


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(x / 17.0)[..., None] * np.cos(y / 29.0)[..., None]
    img = np.clip(base + 0.04 * rng.standard_normal((h, w, 3)), 0, 1)
    return (img * 255).round().astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def _paris_fitted() -> PyramidEstimate:
    """The estimate with its remapping set to Paris et al.'s (llf's defaults) by least squares
    on the hinge basis: what fitting should find."""
    d = np.linspace(-1, 1, 4001)
    target = paris_remap(0.4, 0.25, 1.0)(d) - d
    basis = np.stack([np.maximum(d - t, 0) - np.maximum(-d - t, 0) for t in KNOTS], 1)
    a = np.linalg.lstsq(basis, target, rcond=None)[0]
    est = PyramidEstimate()
    with torch.no_grad():
        est.llf.a.copy_(torch.from_numpy(a / A_SCALE).float())
    return est.eval()


def test_the_estimate_starts_as_the_identity() -> None:
    img = _photo(70, 90)
    np.testing.assert_array_equal(PyramidEstimate().photo(img), img)


def test_sampled_levels_in_chunks_sum_to_the_same() -> None:
    """apply runs the levels g_k a few at a time (memory); training all at once."""
    est = _paris_fitted()
    with torch.no_grad():
        est.llf.gain.copy_(torch.linspace(0.6, 1.4, est.llf.gain.numel()))
    x = torch.from_numpy(_photo(75, 101)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        assert torch.allclose(est(x), est(x, chunk=5), atol=1e-5)


@pytest.mark.parametrize("size", [(101, 133), (37, 300), (64, 64), (2, 9)])
def test_the_photo_path_computes_what_training_computes(size: tuple[int, int]) -> None:
    """apply's NumPy/OpenCV path (estimator.photo) is the torch forward training fits and
    differentiates, to rounding: down to the 1-2 px levels, whatever the sides."""
    est = _paris_fitted()
    with torch.no_grad():
        est.llf.gain.copy_(torch.linspace(0.7, 1.3, est.llf.gain.numel()))
    img = _photo(*size, seed=3)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        want = est(x)[0].permute(1, 2, 0).numpy()
    want = np.clip(np.rint(want * 255), 0, 255).astype(np.uint8)
    diff = np.abs(est.photo(img).astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_its_form_holds_the_local_laplacian_filter() -> None:
    """With Paris et al.'s remapping the form reproduces the operator (its ceiling: 37 dB on
    validation photos), far above leaving the photo as it is."""
    img = _photo(160, 192)
    want = (np.clip(reference("llf")(img.astype(np.float32) / 255), 0, 1) * 255).round()
    got = _paris_fitted().photo(img)
    assert _psnr(got, want) > _psnr(img, want) + 10
    assert _psnr(got, want) > 30


def test_fitting_learns_the_operator_from_whole_pairs() -> None:
    """Least squares on three whole pairs: far better than the identity it starts as, on them
    and on a photo it did not see, and about as good as Paris et al.'s remapping itself."""
    from restorable.training.estimate_fit import fit_estimate

    fn = reference("llf")

    def pair(seed: int, h: int = 96, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
        x = _photo(h, w, seed)
        return x, (np.clip(fn(x.astype(np.float32) / 255), 0, 1) * 255).round().astype(np.uint8)

    pairs = [pair(seed) for seed in range(3)]
    est = PyramidEstimate()
    record = fit_estimate(est, pairs, minutes=0.0, progress=False)
    assert record["photos"] == 3
    assert not any(p.requires_grad for p in est.parameters())  # frozen for training
    for x, y in [*pairs, pair(7, 112, 150)]:
        fitted = _psnr(est.photo(x), y)
        assert fitted > _psnr(x, y) + 10
        assert fitted > _psnr(_paris_fitted().photo(x), y) - 1.5


def _model() -> RestorableModel:
    return checks.tiny_model("pyramid", "llf", _paris_fitted().state_dict())


def test_a_model_with_the_estimate_is_learned_and_reads_it() -> None:
    model = _model()
    assert model.card.variant == "learned"
    img = _photo(64, 96)
    guide = model.guide(img)
    np.testing.assert_array_equal(guide, model.net.estimator.photo(img))
    x = img.astype(np.float32) / 255
    other = model.apply_float(x, np.zeros_like(x))
    assert np.abs(model.apply_float(x, guide.astype(np.float32) / 255) - other).max() > 1e-4


def test_tiled_apply_equals_one_pass_and_restore_inverts() -> None:
    """The estimate runs once on the whole photo; each tile reads its window of it."""
    checks.check_model(_model(), _photo(150, 700))


def test_a_guided_model_carries_on_as_a_learned_one_where_it_was() -> None:
    """--init-from a guided model with --estimate: the same weights, the estimate grown."""
    assert checks.check_guided_carries_on("pyramid") == ["estimator.llf.a", "estimator.llf.gain"]
