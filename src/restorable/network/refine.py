"""ρ: an optional restore-side refiner that removes the 8-bit rounding noise the inverse amplifies.

    stored ─► Haar ─► H⁻¹ (Δ = 0) ─► φ⁻¹ ─► z ─┬──────────────► + ─► Haar⁻¹ ─► Î
                 └────────────────────────────►┴─► ρ(z, Haar(stored)) ┘

Why: bwp hides two colour channels in tiny departures from a grey image. Measured on 10
validation photos with bwp v7, before ρ (``benchmarks/restore_rounding.py``): the inverse
restores 46.37 dB from the unrounded output but 39.42 dB from the stored 8-bit one; even the
true Δ only gives 41.25 dB. Rounding, not Δ = 0, limits its restoration, and the error it leaves
is pixel-scale noise (blurring the restored colour by σ = 0.7 px alone gained 0.77 dB at 640
px). No fixed filter knows which part is noise; ρ learns it, reading the stored image as well,
whose grey levels are exact.

ρ is not invertible and need not be: it runs on restore only, after the exact inverse, and
starts as the identity (its last layer is zero), so an existing model grows one and carries on
training from where it was (``NetConfig.refine``, ``network/model.py``). With the true Δ the
inverse skips it and stays exact. The paper has no such step; ``refine=0`` is the paper's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DILATIONS = (1, 2, 4, 2, 1)  # 3×3 convs in the Haar domain, with the output conv one more
# Full-resolution pixels ρ reaches on each side: Haar pixels are two wide, each 3×3 conv
# reaches its dilation, and Haar⁻¹ adds one (tests/test_network.py measures it).
REACH = 2 * (sum(DILATIONS) + 1) + 2


class RestoreRefiner(nn.Module):
    """ρ: ``(z, stored_haar) -> z + correction``, both 12 Haar channels at half resolution."""

    def __init__(self, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 24
        for d in DILATIONS:
            layers += [nn.Conv2d(c_in, width, 3, padding=d, dilation=d)]
            c_in = width
        self.body = nn.ModuleList(layers)
        self.out = nn.Conv2d(width, 12, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # the identity at the start: carries a trained model on
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, stored], dim=1)
        for i, conv in enumerate(self.body):
            out = F.leaky_relu(conv(h), 0.2)
            h = out if i == 0 else h + out  # residual after the first, so depth trains easily
        return z + self.out(h)
