"""Measuring a stylisation: how much it looks like the painting, how much it keeps the photo.

::

    photo x, stylised y, painting s ─► metric networks (random, seeds ≠ training) ─► F_l
      style_distance(y, s)   = mean_l ‖G_l(y) − G_l(s)‖²_F / ‖G_l(s)‖²_F     (lower = more painting)
      content_distance(y, x) = mean_l mean (F_l(y) − F_l(x))² / mean F_l(x)²  (lower = more photo)

Both are computed with *two* fixed random-feature networks — one of each design in
:mod:`restorable.training.style_losses` ("deep" and "pyramid") — built with seed
``METRIC_SEED``, which differs from the training seed (0). Their weights therefore share nothing
with the network the loss was trained against, and neither design is favoured. ``G = F Fᵀ/(HW)``
(:func:`restorable.training.style_losses.gram_matrix`), so the style distance compares
resolution-independent texture statistics; the painting is measured at ``STYLE_SIZE`` long side.
Both distances are relative (0 = identical statistics / features).

The baselines: :func:`reinhard_colour_transfer` (Reinhard, Ashikhmin, Gooch & Shirley, "Color
transfer between images", IEEE CG&A 2001: match per-channel mean and standard deviation in a
Lab space) and the untrained (randomly initialised) style network.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from skimage import color

from restorable.training.style_losses import DeepRandomFeatures, PyramidRandomFeatures, gram_matrix

METRIC_SEED = 1001
STYLE_SIZE = 256

_NETS: list | None = None


def metric_networks() -> list[torch.nn.Module]:
    """The two fixed random metric networks (built once)."""
    global _NETS
    if _NETS is None:
        _NETS = [
            DeepRandomFeatures(seed=METRIC_SEED).eval(),
            PyramidRandomFeatures(seed=METRIC_SEED).eval(),
        ]
    return _NETS


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


@torch.no_grad()
def style_distance(y: np.ndarray, style: np.ndarray) -> float:
    """Relative Gram distance between image ``y`` and painting ``style`` (HxWx3 in [0, 1])."""
    dists = []
    for net in metric_networks():
        for fy, fs in zip(net(_t(y)), net(_t(style)), strict=True):
            gy, gs = gram_matrix(fy), gram_matrix(fs)
            dists.append(float((gy - gs).pow(2).sum() / gs.pow(2).sum()))
    return float(np.mean(dists))


@torch.no_grad()
def content_distance(y: np.ndarray, x: np.ndarray) -> float:
    """Relative feature distance between stylised ``y`` and photo ``x`` (same size)."""
    dists = []
    for net in metric_networks():
        fy, fx = net(_t(y)), net(_t(x))
        for i in net.content_layers:
            dists.append(float((fy[i] - fx[i]).pow(2).mean() / fx[i].pow(2).mean()))
    return float(np.mean(dists))


def reinhard_colour_transfer(img: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001 colour transfer: match Lab mean and std of ``img`` to ``style``."""
    a, b = color.rgb2lab(img), color.rgb2lab(style)
    am, asd = a.reshape(-1, 3).mean(0), a.reshape(-1, 3).std(0) + 1e-6
    bm, bsd = b.reshape(-1, 3).mean(0), b.reshape(-1, 3).std(0)
    out = (a - am) / asd * bsd + bm
    with warnings.catch_warnings():  # out-of-gamut Lab values are clipped; that is expected
        warnings.simplefilter("ignore", UserWarning)
        rgb = color.lab2rgb(out)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def resize_long(img: np.ndarray, long_side: int) -> np.ndarray:
    """Resize float HxWx3 so its long side is ``long_side`` (area interpolation)."""
    import cv2

    h, w = img.shape[:2]
    s = long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32)
