"""The adversarial term the paper adds for Type III (generative) operators: a small patch
discriminator D judges whether texture patches come from f(I) or from f̂(I).

    f(I) ──┐
           ├─► D (4 strided convs, PatchGAN) ─► real/fake score per ~30-px patch
    f̂(I) ─┘
    D:  hinge  E[relu(1 − D(f(I)))] + E[relu(1 + D(f̂(I)))]
    f̂:  −E[D(f̂(I))]   (weighted by LossWeights.adversarial)

Pixel losses alone average synthesised texture (pencil strokes, brush marks) into blur; a patch
discriminator rewards texture statistics instead (Isola et al., "Image-to-image translation with
conditional adversarial networks", CVPR 2017, for the patch design; hinge loss as in
Miyato et al. 2018). Spectral normalisation keeps D smooth enough for a few thousand steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Scores overlapping patches of an image (B,3,H,W) in [0,1] -> (B,1,H/8,W/8)."""

    def __init__(self, width: int = 32):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [spectral_norm(nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1)), nn.LeakyReLU(0.2)]
        layers.append(spectral_norm(nn.Conv2d(chans[-1], 1, 3, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def discriminator_loss(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of D on a batch of real f(I) and (detached) generated f̂(I)."""
    return F.relu(1 - d(real)).mean() + F.relu(1 + d(fake.detach())).mean()


def generator_loss(d: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """What f̂ minimises: make D score its patches as real."""
    return -d(fake).mean()
