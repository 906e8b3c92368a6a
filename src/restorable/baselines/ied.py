"""IED, the paper's first baseline: two separate encoder-decoders (after Chen, Xu & Koltun 2017).

    I ─► Haar ─► E1 (enc-dec) ─► Haar⁻¹ ─(+ I)─► f̂(I) ─► µ (8-bit, straight-through)
    µ(f̂(I)) ─► Haar ─► E2 (enc-dec) ─► Haar⁻¹ ─(+ stored)─► Î

Trained jointly with our losses, λa‖E1(I) − f(I)‖² + λr‖E2(µ(E1(I))) − I‖²; E2 sees only the
stored 8-bit image, as restore does. Nothing ties E2 to E1 but that loss, so restoration is only
as good as what E1 happens to leave in its output (the paper measures 25-35 dB on Type I and II
operators, where its quasi-invertible network reaches 36-41).

Each encoder-decoder is our ψ (``restorable.network.psi.EncoderDecoder``: Haar domain, two
stride-2 levels, dilated residual blocks) with a residual connection around it, so the module
starts as the identity and both halves learn a correction. Widths follow ``NetConfig.psi_width``
(× 3/4 each), so at any setting IED has about as many parameters as our network (0.47 M vs
0.52 M at the defaults) and works at the same resolution, which keeps the comparison fair.
"""

from __future__ import annotations

import torch
from torch import nn

from restorable.network.invertible import HaarDownsample
from restorable.network.model import NetConfig
from restorable.network.psi import EncoderDecoder

# Pixels of context per side (measured by tests/test_baselines.py): each half is one ψ-sized
# encoder-decoder, so apply and restore reach as far as each other.
IED_RECEPTIVE_FIELD = 288


class _ResidualEncoderDecoder(nn.Module):
    """x + Haar⁻¹(ED(Haar(x))): an encoder-decoder that starts as the identity."""

    def __init__(self, width: int):
        super().__init__()
        self.haar = HaarDownsample()
        self.net = EncoderDecoder(12, 12, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.haar(self.net(self.haar(x)), rev=True)


class InvertibleEncoderDecoder(nn.Module):
    """IED: ``forward(I) -> (E1(I), Δ = 0)``, ``inverse(stored) -> E2(stored)``."""

    receptive_field = IED_RECEPTIVE_FIELD
    restore_receptive_field = IED_RECEPTIVE_FIELD

    def __init__(self, cfg: NetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NetConfig(arch="ied")
        if cfg.guided:
            raise ValueError("IED learns f from I alone: set guided to false")
        width = max(4, cfg.psi_width * 3 // 4)
        self.forward_net = _ResidualEncoderDecoder(width)  # E1: I -> f(I)
        self.backward_net = _ResidualEncoderDecoder(width)  # E2: stored -> I

    def forward(
        self, img: torch.Tensor, guide: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,3,H,W) in [0,1] -> (f̂(I), zeros): IED has no Δ; the guide is ignored."""
        out = self.forward_net(img)
        return out, out.new_zeros(out.shape)

    def inverse(self, stored: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        """Î = E2(stored); ``delta`` is accepted for the common interface and ignored."""
        return self.backward_net(stored)
