"""ψ: the non-invertible encoder-decoder that gives the network its approximation capacity.

    Haar(I) ─► conv ─► ↓2 ─► ↓2 ─► dilated res blocks ─► ↑2 (+skip) ─► ↑2 (+skip) ─► conv ─► I_ψ

It works in the Haar domain (half resolution, 12 channels), like φ, so its output adds directly
to φ's in the fusion block H. Two stride-2 levels and dilated convolutions give a receptive field
of well over 100 input pixels at little cost, which edge-aware smoothing and multi-scale tone
operators need (Chen, Xu & Koltun 2017 use dilations for the same reason). Its last layer gets a
small non-zero initialisation: zero on both ψ and H starves ψ of gradient (calibration).

``film`` > 0: every layer's features are also scaled and shifted per channel by a vector of that
size computed from the whole photo (``network/whole_photo.py``), so ψ can know what its crop or
tile cannot show. The modulation starts at the identity (zero weights), so a model carried on
with it starts exactly where it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation)


def film_modulations(
    film: nn.Linear | None, z: torch.Tensor | None, widths: list[int]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """FiLM (Perez et al. 2018): per layer of ``widths`` channels, (1 + scale, shift) shaped
    (B, C, 1, 1) from one linear map of the vector ``z``; none without ``film``."""
    if film is None:
        return []
    gb, mods, i = film(z), [], 0
    for c in widths:
        scale, shift = gb[:, i : i + c], gb[:, i + c : i + 2 * c]
        mods.append((1 + scale[:, :, None, None], shift[:, :, None, None]))
        i += 2 * c
    return mods


class ResBlock(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = _conv(width, width, dilation=dilation)
        self.conv2 = _conv(width, width, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class EncoderDecoder(nn.Module):
    """ψ. ``c_in`` is 12 (Haar of I) or 24 when the reference output guides it."""

    def __init__(
        self,
        c_in: int = 12,
        c_out: int = 12,
        width: int = 32,
        dilations=(1, 2, 4, 8),
        film: int = 0,
    ):
        super().__init__()
        w = width
        self.inc = _conv(c_in, w)
        self.down1 = _conv(w, 2 * w, stride=2)
        self.down2 = _conv(2 * w, 2 * w, stride=2)
        self.body = nn.Sequential(*[ResBlock(2 * w, d) for d in dilations])
        self.up2 = _conv(2 * w, 2 * w)
        self.up1 = _conv(2 * w, w)
        self.out = _conv(w, c_out)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        # modulated features: e0, e1, e2, each body block's output, d1, d0
        self.widths = [w, 2 * w, 2 * w] + [2 * w] * len(dilations) + [2 * w, w]
        self.film = nn.Linear(film, 2 * sum(self.widths)) if film else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def _modulations(self, z: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self.film is not None and z is None:
            raise ValueError("this ψ reads the whole photo: pass its FiLM vector")
        return film_modulations(self.film, z, self.widths)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """ψ(x); ``z``: the whole photo's FiLM vector (B, film) when built with ``film``."""
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        mods = iter(self._modulations(z))

        def mod(t: torch.Tensor) -> torch.Tensor:
            m = next(mods, None)
            return t if m is None else t * m[0] + m[1]

        e0 = mod(act(self.inc(x)))
        e1 = mod(act(self.down1(e0)))
        h = mod(act(self.down2(e1)))
        for block in self.body:
            h = mod(block(h))
        d1 = mod(act(self.up2(F.interpolate(h, size=e1.shape[-2:], mode="bilinear")) + e1))
        d0 = mod(act(self.up1(F.interpolate(d1, size=e0.shape[-2:], mode="bilinear")) + e0))
        return self.out(d0)
