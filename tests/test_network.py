"""The invertible design: every block's inverse contract, the whole network's exact inverse with
Δ as computed, the straight-through storage model, and a bounded receptive field (for tiling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restorable.models import RECEPTIVE_FIELD, RESTORE_RECEPTIVE_FIELD
from restorable.network.factory import load_weights
from restorable.network.invertible import (
    AffineCoupling,
    HaarDownsample,
    InvertibleMix,
    InvertibleSequence,
)
from restorable.network.model import MULTIPLE, NetConfig, QuasiInvertibleNet
from restorable.network.refine import REACH
from restorable.network.storage import jpeg, jpeg_roundtrip, quantize
from restorable.tiling import pad_to_multiple

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


def _perturb(module: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> None:
    """Move parameters off their identity initialisation so inverses are really exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize(
    "block",
    [
        HaarDownsample(),
        InvertibleMix(12),
        AffineCoupling(6, 6, width=8),
        AffineCoupling(12, 12, width=8, clamp=2.0, shift_skip=True),
        InvertibleSequence([InvertibleMix(12), AffineCoupling(6, 6, width=8)] * 2),
    ],
    ids=["haar", "mix", "coupling", "fusion", "sequence"],
)
def test_block_inverse_contract(block: torch.nn.Module) -> None:
    torch.manual_seed(0)
    block = block.double()
    _perturb(block)
    c = 3 if isinstance(block, HaarDownsample) else (24 if getattr(block, "c1", 0) == 12 else 12)
    x = torch.randn(2, c, 10, 14, dtype=torch.float64)
    y = block(x)
    assert y.shape != x.shape or not torch.allclose(y, x)
    assert torch.allclose(block(y, rev=True), x, atol=1e-12)


def test_haar_is_orthonormal() -> None:
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    y = HaarDownsample()(x)
    assert y.shape == (1, 12, 4, 4)
    assert torch.allclose((y**2).sum(), (x**2).sum())


def test_network_starts_as_identity() -> None:
    torch.manual_seed(0)
    net = QuasiInvertibleNet(NetConfig(blocks=2, width=8, psi_width=8))
    x = torch.rand(1, 3, 32, 40)
    out, _ = net(x)
    assert torch.allclose(out, x, atol=0.02)  # ψ's last layer is small, not zero


@pytest.mark.parametrize("name", ["scikit-image__chelsea.jpg", "scikit-image__coffee.jpg"])
def test_exact_inverse_with_delta_on_real_photo_of_odd_size(name: str) -> None:
    """The test that proves the design: Δ as computed, no rounding -> I to float precision."""
    from restorable.files import read_image

    img = read_image(SAMPLES / name)[:123, :201].astype(np.float32) / 255  # odd sizes
    padded, (h, w) = pad_to_multiple(img, MULTIPLE)
    torch.manual_seed(0)
    net = QuasiInvertibleNet(NetConfig(blocks=4, width=16, psi_width=16)).eval()
    _perturb(net, 0.02)
    x = torch.from_numpy(padded).permute(2, 0, 1)[None]
    with torch.no_grad():
        out, delta = net(x)
        back = net.inverse(out, delta)
    assert (out - x).abs().max() > 1e-2  # the network is really doing something
    err = (back - x)[..., :h, :w].abs().max().item()
    assert err < 1e-5


def test_guided_network_needs_and_uses_guide() -> None:
    torch.manual_seed(0)
    net = QuasiInvertibleNet(NetConfig(blocks=1, width=8, psi_width=8, guided=True))
    _perturb(net, 0.05)
    x, g = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError):
        net(x)
    with torch.no_grad():
        out, delta = net(x, g)
        assert torch.allclose(net.inverse(out, delta), x, atol=1e-5)


def test_quantize_rounds_forward_and_passes_gradient() -> None:
    x = torch.tensor([-0.2, 0.0, 0.5004, 0.7, 1.3], requires_grad=True)
    q = quantize(x)
    expected = torch.round(x.detach().clamp(0, 1) * 255) / 255
    assert torch.equal(q.detach(), expected)
    q.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_jpeg_forward_is_real_codec_and_gradient_straight_through() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(2, 16, 24, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(0, 3, 1, 2).float().div(255).requires_grad_(True)
    y = jpeg(x, [90, 70], subsampling=[0, 2])  # 4:4:4 and 4:2:0 chroma
    for i, (q, sub) in enumerate([(90, 0), (70, 2)]):
        decoded = jpeg_roundtrip(img[i], q, sub)
        assert np.array_equal(np.rint(y[i].detach().permute(1, 2, 0).numpy() * 255), decoded)
    assert not np.array_equal(jpeg_roundtrip(img[1], 70, 2), jpeg_roundtrip(img[1], 70, 0))
    y.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))
    assert not np.array_equal(jpeg_roundtrip(img[0], 70), img[0])  # JPEG is lossy


@pytest.mark.parametrize("refine", [0, 8], ids=["paper", "refined"])
def test_receptive_field_is_bounded(refine: int) -> None:
    """A pixel changes outputs only within RECEPTIVE_FIELD px: the overlap tiling relies on.
    ρ widens restore's reach by its own REACH, and no more."""
    torch.manual_seed(0)
    net = QuasiInvertibleNet(NetConfig(blocks=8, width=8, psi_width=8, refine=refine)).eval()
    _perturb(net, 0.05)
    restore_limit = RESTORE_RECEPTIVE_FIELD + (REACH if refine else 0)
    assert getattr(net, "restore_receptive_field", RESTORE_RECEPTIVE_FIELD) == restore_limit
    size = 2 * RECEPTIVE_FIELD + 64
    x = torch.rand(1, 3, size, size)
    x2 = x.clone()
    c = size // 2
    x2[..., c, c] += 0.5
    with torch.no_grad():
        for fn, limit in (
            (lambda t: net(t)[0], RECEPTIVE_FIELD),
            (net.inverse, restore_limit),
        ):
            diff = (fn(x2) - fn(x)).abs().sum(dim=(0, 1))
            ys, xs = torch.nonzero(diff > 0, as_tuple=True)
            reach = max((ys - c).abs().max().item(), (xs - c).abs().max().item())
            assert limit // 2 < reach <= limit


def test_refiner_grows_as_the_identity_and_true_delta_stays_exact() -> None:
    """ρ (network/refine.py): a trained model without it loads into one with it and restores
    exactly as before until ρ trains; once it has, it changes restores from the stored image
    only, and the inverse with the true Δ is still exact. A model without ρ loads a refined
    one's weights less ρ; other missing weights still fail."""
    torch.manual_seed(0)
    plain = QuasiInvertibleNet(NetConfig(blocks=2, width=8, psi_width=8)).double().eval()
    _perturb(plain)
    grown = QuasiInvertibleNet(NetConfig(blocks=2, width=8, psi_width=8, refine=8))
    grown = grown.double().eval()
    names, dropped = load_weights(grown, plain.state_dict())
    assert names and all(n.startswith("refiner.") for n in names) and not dropped
    x = torch.rand(1, 3, 32, 48, dtype=torch.float64)
    with torch.no_grad():
        out, delta = grown(x)
        stored = quantize(out)
        assert torch.equal(grown.inverse(stored), plain.inverse(stored))
        _perturb(grown.refiner, 0.05, seed=1)
        assert (grown.inverse(stored) - plain.inverse(stored)).abs().max() > 1e-3
        assert torch.allclose(grown.inverse(out, delta), x, atol=1e-10)
    # and back: a model without ρ (a JPEG fork) starts from a refined one without it
    again = QuasiInvertibleNet(NetConfig(blocks=2, width=8, psi_width=8)).double().eval()
    assert load_weights(again, grown.state_dict()) == ([], names)
    assert torch.equal(again.inverse(stored), plain.inverse(stored))
    with pytest.raises(RuntimeError, match="Missing key"):
        deeper = QuasiInvertibleNet(NetConfig(blocks=3, width=8, psi_width=8))
        load_weights(deeper, plain.state_dict())


@pytest.mark.parametrize("guided", [False, True])
def test_psi_map_then_fuse_is_the_forward_pass(guided: bool) -> None:
    """A tiled apply may run ψ and then φ and H on tiles of their own (models.py): the two
    steps compute the forward pass, to the bit."""
    torch.manual_seed(0)
    net = QuasiInvertibleNet(NetConfig(blocks=2, width=8, psi_width=8, guided=guided)).eval()
    _perturb(net)
    x, g = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        out, delta = net(x, g if guided else None)
        i_psi = net.psi_map(x, g if guided else None)
        assert i_psi.shape == (1, 12, 24, 32)
        two, delta2 = net.fuse_psi(x, i_psi)
    assert torch.equal(out, two) and torch.equal(delta, delta2)
