"""What every learned model reading a whole-photo estimate owes (network/*_psi.py, ESTIMATES):
checks shared by the pyramid, histogram and bilateral estimates' tests."""

from __future__ import annotations

import numpy as np
import torch

from restorable.models import ModelCard, RestorableModel
from restorable.network.factory import build_net, load_weights
from restorable.network.model import NetConfig


def tiny_model(estimate: str, op: str, state: dict | None = None) -> RestorableModel:
    """A tiny learned model whose ψ reads the ``estimate`` (its state ``state``, e.g. a fitted
    estimator's), ψ's weights nudged off zero so that it reads its inputs at all."""
    torch.manual_seed(0)
    net = build_net(NetConfig(blocks=2, width=8, psi_width=8, estimate=estimate))
    with torch.no_grad():
        for p in net.psi.parameters():
            p.add_(0.03 * torch.randn_like(p))
        if state is not None:
            net.estimator.load_state_dict(state)
    card = ModelCard(op=op, version="test", net=net.cfg.to_dict())
    return RestorableModel(net.eval(), card)


def check_model(model: RestorableModel, img: np.ndarray, restore_psnr: float = 25.0) -> None:
    """For a uint8 ``img`` wide enough for 3+ tiles: the model is learned, its guide is its
    estimate of the whole photo, tiled apply equals one pass (each tile reads its window of the
    one estimate), and restore inverts (untrained, Δ = 0) to within ``restore_psnr`` dB."""
    assert model.card.variant == "learned" and not model.net.cfg.guided
    np.testing.assert_array_equal(model.guide(img), model.net.estimator.photo(img))
    one = model.apply(img, tile=None)
    tiled = model.apply(img, tile=model.apply_overlap * 2 + 96)
    assert np.abs(one.astype(int) - tiled).max() <= 1
    assert (one != tiled).mean() < 1e-4
    mse = np.mean((model.restore(one).astype(np.float64) - img) ** 2)
    assert 10 * np.log10(255**2 / mse) > restore_psnr


def check_guided_carries_on(estimate: str) -> list[str]:
    """A guided model's weights load into a learned one reading ``estimate`` (--init-from with
    --estimate): nothing dropped, and on the same guide both compute the same edit. Returns
    the keys grown (the estimator's)."""
    guided = build_net(NetConfig(blocks=2, width=8, psi_width=8, guided=True)).eval()
    learned = build_net(NetConfig(blocks=2, width=8, psi_width=8, estimate=estimate)).eval()
    grown, dropped = load_weights(learned, guided.state_dict())
    assert not dropped
    torch.manual_seed(1)
    x, g = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(guided(x, g)[0], learned(x, g)[0])
    return sorted(grown)


def check_torch_forward(est, img: np.ndarray) -> None:
    """An estimate's batched torch forward (float in [0, 1]) gives its photo path's uint8."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    got = np.rint(est(x)[0].permute(1, 2, 0).numpy() * 255)
    np.testing.assert_array_equal(got, est.photo(img))
