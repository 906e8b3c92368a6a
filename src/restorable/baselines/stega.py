"""Operator + Stega, the paper's second baseline: the real operator's output f(I) is the cover in
which a deep-steganography network hides I (layout of Baluja 2017, "Hiding images in plain
sight"; the paper adapts Weng et al. 2019, which follows the same prep / hide / reveal plan).

    I ─► Haar ─► prep ─┐
    f(I) ─► Haar ──────┴─► hide ─► Haar⁻¹ ─(+ f(I))─► container ─► µ (8-bit, straight-through)
    µ(container) ─► Haar ─► reveal ─► Haar⁻¹ ─(+ stored)─► Î

Loss: λa‖container − f(I)‖² + λr‖reveal(µ(container)) − I‖², our losses with the container as
f̂(I). Like our guided models it needs f(I) at apply time (``guided`` must be true). The hide
network adds a learned residual to the cover and reveal one to the container, so the model
starts as (f(I), stored) and learns the hiding (both last layers start small).

Baluja's three nets are plain stacks of small convolutions (no down-sampling) at full
resolution; here they run in the Haar domain (12 channels at half resolution, lossless), which
keeps them CPU-friendly and sees the same context per layer twice as far. Widths are
2 × ``NetConfig.psi_width``: 0.44 M parameters at the defaults against our network's 0.52 M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restorable.network.invertible import HaarDownsample
from restorable.network.model import NetConfig

PREP_DEPTH, HIDE_DEPTH, REVEAL_DEPTH = 3, 6, 6  # 3×3 convs per net (Baluja: 2, 5, 5 layers)
# Pixels of context per side: each 3×3 conv in the Haar domain reaches 2 px, Haar itself 1.
APPLY_RECEPTIVE_FIELD = 2 * (PREP_DEPTH + HIDE_DEPTH) + 2
RESTORE_RECEPTIVE_FIELD = 2 * REVEAL_DEPTH + 2


class ConvStack(nn.Module):
    """``depth`` 3×3 convolutions, LeakyReLU between them, no resampling."""

    def __init__(self, c_in: int, c_out: int, width: int, depth: int):
        super().__init__()
        chans = [c_in] + [width] * (depth - 1) + [c_out]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = F.leaky_relu(x, 0.2)
        return x


class OperatorStega(nn.Module):
    """``forward(I, f(I)) -> (container, Δ = 0)``, ``inverse(stored) -> reveal(stored)``."""

    receptive_field = APPLY_RECEPTIVE_FIELD
    restore_receptive_field = RESTORE_RECEPTIVE_FIELD

    def __init__(self, cfg: NetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NetConfig(arch="stega", guided=True)
        if not cfg.guided:
            raise ValueError("Operator + Stega hides I in the operator's output: set guided")
        w = 2 * cfg.psi_width
        self.haar = HaarDownsample()
        self.prep = ConvStack(12, w, w, PREP_DEPTH)
        self.hide = ConvStack(12 + w, 12, w, HIDE_DEPTH)
        self.reveal = ConvStack(12, 12, w, REVEAL_DEPTH)
        for last in (self.hide.convs[-1], self.reveal.convs[-1]):
            nn.init.normal_(last.weight, std=1e-3)  # start as (cover, stored) themselves
            nn.init.zeros_(last.bias)

    def forward(
        self, img: torch.Tensor, guide: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(I, f(I)) each (B,3,H,W) in [0,1] -> (container (B,3,H,W), zeros)."""
        if guide is None:
            raise ValueError("Operator + Stega needs the operator's output as guide")
        cover = self.haar(guide)
        hidden = self.hide(torch.cat([cover, self.prep(self.haar(img))], dim=1))
        container = guide + self.haar(hidden, rev=True)
        return container, container.new_zeros(container.shape)

    def inverse(self, stored: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        """Î = reveal(stored); ``delta`` is accepted for the common interface and ignored."""
        return stored + self.haar(self.reveal(self.haar(stored)), rev=True)
