"""Invertible building blocks, each with ``forward(x, rev=False)``.

Contract (tested for every block): ``torch.allclose(x, block(block(x), rev=True))``.
Blocks hold no state between calls, so a sequence of them inverts by running the blocks
backwards with ``rev=True`` and needs no extra code (as in FrEIA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HaarDownsample(nn.Module):
    """Orthonormal Haar wavelet: (B, C, H, W) -> (B, 4C, H/2, W/2), exactly invertible.

    Output channel order is [LL, LH, HL, HH] blocks of C channels each. The ×0.5 scaling makes
    the transform orthonormal, so rounding noise in the stored image is not amplified on the
    way back (measured in the calibration). H and W must be even.
    """

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        if rev:
            return self._inverse(x)
        a = x[:, :, 0::2, 0::2]
        b = x[:, :, 0::2, 1::2]
        c = x[:, :, 1::2, 0::2]
        d = x[:, :, 1::2, 1::2]
        ll = (a + b + c + d) * 0.5
        lh = (a - b + c - d) * 0.5
        hl = (a + b - c - d) * 0.5
        hh = (a - b - c + d) * 0.5
        return torch.cat([ll, lh, hl, hh], dim=1)

    @staticmethod
    def _inverse(y: torch.Tensor) -> torch.Tensor:
        ll, lh, hl, hh = torch.chunk(y, 4, dim=1)
        a = (ll + lh + hl + hh) * 0.5
        b = (ll - lh + hl - hh) * 0.5
        c = (ll + lh - hl - hh) * 0.5
        d = (ll - lh - hl + hh) * 0.5
        bsz, ch, h, w = ll.shape
        x = y.new_empty(bsz, ch, h * 2, w * 2)
        x[:, :, 0::2, 0::2] = a
        x[:, :, 0::2, 1::2] = b
        x[:, :, 1::2, 0::2] = c
        x[:, :, 1::2, 1::2] = d
        return x


class InvertibleMix(nn.Module):
    """Invertible 1×1 convolution (Kingma & Dhariwal 2018), initialised to the identity.

    Mixing lets every channel be transformed by later couplings. Identity at initialisation keeps
    the whole network the identity at the start of training, which the calibration found
    essential (random mixing started the approximation near 8 dB).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.eye(channels))

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        w = self.weight
        if rev:
            w = torch.linalg.inv(w.double()).to(x.dtype)
        if torch.is_autocast_enabled(x.device.type):
            # The mixes carry the image itself from block to block: under bf16 autocast they
            # stay float32 (as the Haar transform and the couplings' sums do); only the
            # couplings' sub-networks compute in bf16. All-bf16 moved 42% of the pixels of an
            # apply by over half a level, this 0.8%.
            with torch.autocast(x.device.type, enabled=False):
                return self._mix(x.float(), w.float())
        return self._mix(x, w)

    @staticmethod
    def _mix(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if not x.is_contiguous():
            # channels-last (inference) or a channel slice of it: one GEMM over the pixels'
            # channel vectors, where a 1x1 conv took PyTorch's slow path
            return F.linear(x.permute(0, 2, 3, 1), w).permute(0, 3, 1, 2)
        return F.conv2d(x, w[:, :, None, None])


def subnet(c_in: int, c_out: int, width: int, depth: int = 3) -> nn.Sequential:
    """The small CNN inside a coupling: ``depth`` hidden convs (the first 3×3, then 1×1 after
    the second), LeakyReLU. Its last conv is zero so the coupling starts as the identity."""
    # in-place activations: one buffer less per layer (the convs' backward needs no outputs)
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, width, 3, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    for i in range(depth - 1):
        k = 3 if i == 0 else 1
        layers += [nn.Conv2d(width, width, k, padding=k // 2), nn.LeakyReLU(0.2, inplace=True)]
    layers.append(nn.Conv2d(width, c_out, 3, padding=1))
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class AffineCoupling(nn.Module):
    """Two-sided affine coupling (as in IRN), transforming both halves in one block.

        y1 = x1 + t1(x2)
        y2 = x2 ⊙ exp(s(y1)) + t2(y1),   s = clamp · tanh(raw / clamp)

    The tanh soft clamp bounds the scale so the inverse cannot explode (the known failure of
    stacked couplings). ``shift_skip`` adds x2 itself to t1: used by the fusion block H, where
    it lets ψ's output pass straight into f̂ at initialisation so the approximation loss reaches
    ψ through an identity path from the first step.
    """

    def __init__(
        self,
        c1: int,
        c2: int,
        width: int = 32,
        clamp: float = 1.0,
        shift_skip: bool = False,
        depth: int = 3,
    ):
        super().__init__()
        self.c1, self.c2, self.clamp, self.shift_skip = c1, c2, clamp, shift_skip
        if shift_skip and c1 != c2:
            raise ValueError("shift_skip needs equal halves")
        self.t1 = subnet(c2, c1, width, depth)
        self.st2 = subnet(c1, 2 * c2, width, depth)

    def _scale_shift(self, y1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.st2(y1).chunk(2, dim=1)
        return self.clamp * torch.tanh(raw_s / self.clamp), t

    def _t1(self, x2: torch.Tensor) -> torch.Tensor:
        return self.t1(x2) + x2 if self.shift_skip else self.t1(x2)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        a, b = x[:, : self.c1], x[:, self.c1 :]
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # keep channels-last (inference): a channel slice of it is neither layout, and the
            # convolutions would fall back to NCHW for the rest of the network
            a = a.contiguous(memory_format=torch.channels_last)
            b = b.contiguous(memory_format=torch.channels_last)
        if not rev:
            y1 = a + self._t1(b)
            s, t = self._scale_shift(y1)
            y2 = b * torch.exp(s) + t
            return torch.cat([y1, y2], dim=1)
        s, t = self._scale_shift(a)
        x2 = (b - t) * torch.exp(-s)
        x1 = a - self._t1(x2)
        return torch.cat([x1, x2], dim=1)


class InvertibleSequence(nn.Module):
    """Blocks applied in order forward, in reverse order with ``rev=True``."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        for block in reversed(self.blocks) if rev else self.blocks:
            x = block(x, rev=rev)
        return x
