"""Perceptual losses for style transfer without a pretrained network.

::

    image ─► loss network (fixed random weights) ─► features F_l, l = 1..L
      content loss  = mean (F_l(y) − F_l(x))² / mean F_l(x)²            (content layers)
      style loss    = mean_l ‖G_l(y) − G_l(s)‖² / ‖G_l(s)‖²,  G = F Fᵀ / (H W)  (all layers)
      total variation on y

Johnson et al. (ECCV 2016) measure content and style with an ImageNet-trained VGG-16; none exists
in this project (no pretrained weights, no internet). Random-weight convolutional features are a
known substitute for *texture* statistics: Ustyuzhaninov, Brendel, Gatys & Bethge, "What does it
take to generate natural textures?" (ICLR 2017) and He, Wang & Hopcroft, "A powerful generative
model using random weights for the deep image representation" (NeurIPS 2016). Two designs are
implemented and were compared on the same budget (``LOSS_NETWORKS``):

``"deep"``  random VGG-like stack: conv3x3 + ReLU at four scales (24 / 48 / 96 / 128 channels,
            2x2 average pooling between scales), Kaiming-normal weights, fixed seed.
``"pyramid"``  a single wide random layer applied to a 4-level average-pooling image pyramid:
            64 zero-mean 5x5 filters + ReLU at each scale (the "single layer, many scales"
            network of Ustyuzhaninov et al., with scales from the pyramid instead of large
            filters).

Each Gram loss is normalised by the painting's own Gram norm, and the content loss by the photo's
feature energy, so that every layer contributes on the same scale whatever the random weights.

Choice: ``"pyramid"``. Both were trained on Rain Princess with the same seed, 150 Adam steps
(lr 2e-3), batches of 4 crops of 192 px, style weight 5 (``benchmarks/compare_style_loss_nets.py``),
and measured on 4 validation photos with the independent metric networks of
:mod:`restorable.evaluation.style_metrics` (seed 1001; lower is better):

=========  ==============  ================  ==============
network    style distance  content distance  time per step
=========  ==============  ================  ==============
deep       0.109           0.569             1.6 s
pyramid    0.049           0.544             2.4 s
=========  ==============  ================  ==============

The pyramid network is better on both axes, and it looks better: its outputs already carry the
painting's palette (deep blue against orange and yellow) and dark stroke-like contours, while the
deep stack's outputs stay an orange-beige wash with black blobs, closer to a blurred recolouring.
The deep stack loses colour information through its stacked random layers; the pyramid's single
layer keeps a colour component in every filter. The cost is ~1.5x time per step, which the
shipped runs pay with batches of 2 instead of 4.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrices of features (N, C, H, W) -> (N, C, C), ``G = F Fᵀ / (H W)``."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / float(h * w)


def _centre(x: torch.Tensor) -> torch.Tensor:
    # Image in [0, 1] -> roughly zero mean, unit spread, so random filters see signed input.
    return (x - 0.45) / 0.25


class DeepRandomFeatures(nn.Module):
    """Random VGG-like feature stack; returns features at four scales (fixed, no gradients)."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 128), seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        convs, cin = [], 3
        for cout in widths:
            conv = nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")
            fan_in = cin * 9
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / fan_in**0.5)
                conv.weight.mul_(2**0.5)  # Kaiming gain for ReLU
                conv.bias.zero_()
            convs.append(conv)
            cin = cout
        self.convs = nn.ModuleList(convs)
        self.content_layers = (1, 2)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, feats = _centre(x), []
        for i, conv in enumerate(self.convs):
            if i:
                h = F.avg_pool2d(h, 2)
            h = F.relu(conv(h))
            feats.append(h)
        return feats


class PyramidRandomFeatures(nn.Module):
    """One wide random layer (zero-mean 5x5 filters + ReLU) on a 4-level image pyramid."""

    def __init__(self, width: int = 64, levels: int = 4, ksize: int = 5, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        w = torch.randn(width, 3, ksize, ksize, generator=gen)
        w = w - w.mean(dim=(1, 2, 3), keepdim=True)  # zero-mean: respond to structure
        w = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        # A constant colour channel per filter keeps colour in the statistics.
        b = 0.1 * torch.randn(width, generator=gen)
        colour = torch.randn(width, 3, generator=gen) / 3**0.5
        self.register_buffer("weight", w + colour.view(width, 3, 1, 1) / ksize**2)
        self.register_buffer("bias", b)
        self.levels, self.pad = levels, ksize // 2
        self.content_layers = (0, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, feats = _centre(x), []
        for i in range(self.levels):
            if i:
                h = F.avg_pool2d(h, 2)
            hp = F.pad(h, (self.pad,) * 4, mode="reflect")
            feats.append(F.relu(F.conv2d(hp, self.weight, self.bias)))
        return feats


LOSS_NETWORKS = {"deep": DeepRandomFeatures, "pyramid": PyramidRandomFeatures}

#: The loss network the shipped styles were trained with (see module docstring).
CHOSEN = "pyramid"


def make_loss_network(kind: str = CHOSEN, seed: int = 0) -> nn.Module:
    """A fixed random-feature network of design ``kind`` ("deep" or "pyramid")."""
    try:
        cls = LOSS_NETWORKS[kind]
    except KeyError:
        raise ValueError(f"unknown loss network {kind!r}; choose {sorted(LOSS_NETWORKS)}") from None
    return cls(seed=seed).eval()


def total_variation(y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV)."""
    dx = (y[..., :, 1:] - y[..., :, :-1]).abs().mean()
    dy = (y[..., 1:, :] - y[..., :-1, :]).abs().mean()
    return dx + dy


class PerceptualLoss(nn.Module):
    """Content + style + TV loss against one fixed style image.

    ``forward(y, x)`` returns (total, parts dict) for a stylised batch ``y`` of photos ``x``.
    """

    def __init__(
        self,
        style: torch.Tensor,
        net: nn.Module,
        content_weight: float = 1.0,
        style_weight: float = 5.0,
        tv_weight: float = 0.1,
    ):
        super().__init__()
        self.net = net
        with torch.no_grad():
            grams = [gram_matrix(f) for f in net(style[None] if style.ndim == 3 else style)]
        self.style_grams = [g.mean(0, keepdim=True) for g in grams]
        self.style_norms = [g.pow(2).sum() for g in self.style_grams]
        self.content_weight, self.style_weight, self.tv_weight = (
            content_weight,
            style_weight,
            tv_weight,
        )

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        fy = self.net(y)
        with torch.no_grad():
            fx = self.net(x)
        content = sum(
            (fy[i] - fx[i]).pow(2).mean() / (fx[i].pow(2).mean() + 1e-8)
            for i in self.net.content_layers
        ) / len(self.net.content_layers)
        style = sum(
            (gram_matrix(f) - g).pow(2).sum(dim=(1, 2)).mean() / n
            for f, g, n in zip(fy, self.style_grams, self.style_norms, strict=True)
        ) / len(fy)
        tv = total_variation(y)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        parts = {"content": content.item(), "style": style.item(), "tv": tv.item()}
        return total, parts
