"""A learned local Laplacian filter: a ψ candidate shaped like the fast LLF (issue #26, llf).

llf-learned stayed far under the paper (26.5 dB approximation against 32.3) however ψ was fed:
FiLM, the grid and a plain CNN all reach about 24 dB alone on llf in 2.5 CPU minutes
(results/psi_curves.json). The local Laplacian filter is not a CNN-friendly function: each
output Laplacian coefficient at level l, pixel p is the coefficient of the pyramid of a
pointwise-remapped image r(x - g) with g = G_l[x](p) (Paris et al. 2011), and the fast
algorithm (Aubry et al. 2014) evaluates it for K values g_k and interpolates between the two
nearest. That is a handful of linear pyramid operations around one pointwise nonlinearity, so a
network of the same shape can learn it with a hundred weights where a CNN needs many layers:

    Y ──► for k in 1..K: h_k,l = r_l(Y - g_k)  (r_l learned, piecewise linear, one per level)
      ──► Laplacian pyramids ──► level l: Σ_k hat_k(G_l[Y](p)) · L_l[h_k,l](p)
      ──► added to Y's own bands, collapsed ──► Y'  ──► RGB · Y' / Y

The remappings start at zero, so the candidate starts as the identity. The photo's
coarse levels, which a training crop does not contain, come from the same construction run on
the thumbnail of the whole photo (its own weights), its change sampled at the crop's pixels.

Measured alone (``benchmarks/psi_curves.py --ops llf --candidates pyramid --lr 1e-2``, 384-px
photos): 29.5 dB after 2.5 CPU minutes, where the FiLM, grid and plain CNN ψ's reached 24.2-24.3.
Paris et al.'s own r, fitted by these hinges and run through these pyramids, reaches 37.0 dB: the
ceiling of the form at 64 sampled levels. It runs on the whole photo, once (its coarse levels
reach across it), as a guided model's classic operator does, so tiles read the same estimate.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restorable.network.global_psi import LocalPsi, ThumbEncoder

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


_LUMA = (0.2126, 0.7152, 0.0722)


def _luma(x: torch.Tensor) -> torch.Tensor:
    return 0.2126 * x[:, 0:1] + 0.7152 * x[:, 1:2] + 0.0722 * x[:, 2:3]


def blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap binomial blur per channel (Burt & Adelson's kernel), reflected edges."""
    c = x.shape[1]
    k = _BINOMIAL.to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect" if min(x.shape[-2:]) > 2 else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Burt & Adelson's expand (OpenCV's pyrUp): zeros between the samples, blur, times 4. The
    detail boost amplifies how a band is defined: with a bilinear expand instead, the exact
    LLF remapping built from these pyramids reached only 25.8 dB of the operator's output."""
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, 2 * h, 2 * w)
    z[..., ::2, ::2] = x
    return 4 * blur(z)[..., : size[0], : size[1]]


def _down_np(x: np.ndarray) -> np.ndarray:
    """:func:`blur` then every other pixel, on a 2-D float32 array: OpenCV's ``pyrDown`` (the
    same kernel and reflected borders), except on the 1-2 px levels where blur replicates."""
    if min(x.shape) > 2:
        return cv2.pyrDown(x)
    return blur(torch.from_numpy(x)[None, None])[0, 0, ::2, ::2].numpy()


def _up_np(x: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """:func:`_up` on a 2-D float32 array: OpenCV's ``pyrUp``, except from a 1-px side."""
    if min(x.shape) > 1:
        return cv2.pyrUp(x, dstsize=(size[1], size[0]))
    return _up(torch.from_numpy(np.ascontiguousarray(x))[None, None], tuple(size[:2]))[0, 0].numpy()


def pyramids(x: torch.Tensor, levels: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(Laplacian bands 0..levels-1, Gaussian levels 0..levels) of (B, C, H, W)."""
    gauss = [x]
    for _ in range(levels):
        gauss.append(blur(gauss[-1])[..., ::2, ::2])
    bands = [g - _up(n, g.shape[-2:]) for g, n in zip(gauss, gauss[1:], strict=False)]
    return bands, gauss


def collapse(bands: list[torch.Tensor]) -> torch.Tensor:
    """Sum of bands, each upsampled to the next finer one's size."""
    out = bands[-1]
    for b in reversed(bands[:-1]):
        out = _up(out, b.shape[-2:]) + b
    return out


# Knots of the remapping's basis: r(d) = d + Σ_j a_j (relu(d - t_j) - relu(-d - t_j)), any odd
# piecewise-linear function of the difference with kinks there (Paris et al.'s r is odd, has its
# detail/edge kink at sigma_r and its steep part near 0, hence the knots crowd towards 0).
KNOTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
A_SCALE = 20.0  # the hinge coefficients are stored divided by this: Paris et al.'s r has slopes
# near 20, which Adam's per-step moves of about the learning rate would take thousands of steps
SAMPLES = 64  # sampled levels g_k: with Paris et al.'s own r, 16 / 64 / 128 reach 30.2 / 34.5 /
# 36.1 dB of the operator's output on 4 validation photos (it samples 256)


def full_depth(h: int, w: int) -> int:
    """Pyramid depth as the operator's: the coarsest level is 1-2 pixels on the short side."""
    return max(1, math.ceil(math.log2(min(h, w))))


class LearnedLaplacian(nn.Module):
    """Y (B, 1, H, W) → Y' - Y, a fast local Laplacian filter with a learned remapping r.

    One odd piecewise-linear r for every level, as in Paris et al. (so it fits on crops and
    runs at the whole photo's depth), and a learned gain per level. r is linear in its hinge
    coefficients, so the K remapped copies cost K·J multiply-adds per pixel before their
    pyramids: a 1×1-conv MLP in its place cost 20 times more per step (measured)."""

    def __init__(self, k: int = SAMPLES, max_levels: int = 16):
        super().__init__()
        self.k = k
        self.register_buffer("g", torch.linspace(0.0, 1.0, k), persistent=False)
        self.register_buffer("t", torch.tensor(KNOTS), persistent=False)
        self.a = nn.Parameter(torch.zeros(len(KNOTS)))
        self.gain = nn.Parameter(torch.ones(max_levels))

    def remap(self, d: torch.Tensor) -> torch.Tensor:
        """r(d) - d for a tensor of differences: sign(d) Σ_j a_j relu(|d| - t_j), the odd hinge
        sum written once for both signs (a third of the passes over the K copies; evaluating
        each |d| on its segment's line by ``bucketize`` and gathers measured no faster)."""
        mag = d.abs()
        a = self.a * A_SCALE
        out = a[0] * F.relu(mag - self.t[0])
        for j in range(1, len(KNOTS)):
            out = out + a[j] * F.relu(mag - self.t[j])
        return out * torch.sign(d)

    def hats(self, g: torch.Tensor, k0: int = 0, k1: int | None = None) -> torch.Tensor:
        """(B, k1 - k0, h, w) linear-interpolation weights of the sampled levels g_k0..g_k1-1
        at the local level g."""
        step = 1.0 / (self.k - 1)
        gk = self.g[k0:k1].view(1, -1, 1, 1)
        return torch.clamp(1 - (g.clamp(0, 1) - gk).abs() / step, min=0)

    def forward(self, y: torch.Tensor, levels: int | None = None, chunk: int = 0) -> torch.Tensor:
        """``chunk`` > 0: the sampled levels g_k that many at a time (the same sum, in
        order): a 24-megapixel photo's K remapped copies would take 6 GB at once."""
        levels = min(levels or full_depth(*y.shape[-2:]), self.gain.numel())
        _, gauss = pyramids(y, levels)
        step = chunk if chunk > 0 else self.k
        changes = [torch.zeros_like(g) for g in gauss]
        for k0 in range(0, self.k, step):
            g = self.g[k0 : k0 + step]
            bands, _ = pyramids(self.remap(y - g.view(1, -1, 1, 1)), levels)
            for lvl in range(levels):
                hats = self.hats(gauss[lvl], k0, k0 + step)
                changes[lvl] = changes[lvl] + (hats * bands[lvl]).sum(1, keepdim=True)
        return collapse([self.gain[lvl] * c for lvl, c in enumerate(changes[:-1])] + changes[-1:])


class PyramidEstimate(nn.Module):
    """photo → an estimate of f(photo): the learned LLF on its luma at full depth, applied to
    RGB as Y'/Y (llf's colour mode), clipped like the operator's output.

    A learned model with ``NetConfig.estimate = "pyramid"`` runs it once on the whole photo and
    ψ reads the result as a guided model's ψ reads the classic operator's: fitted first on the
    training pairs (``training/estimate_fit.py``), then frozen."""

    keep_fp32 = True  # twenty-odd weights: shipped exact, as training cached its output

    def __init__(self, k: int = SAMPLES):
        super().__init__()
        self.llf = LearnedLaplacian(k)

    def fitted(self) -> bool:
        """Whether the remapping has moved from zero (the identity): fitted, or carried on."""
        return bool(self.llf.a.abs().sum() > 0)

    def forward(self, img: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        y = _luma(img)
        ratio = (y + self.llf(y, chunk=chunk)).clamp(0, 1.5) / y.clamp(min=1e-3)
        return (img * ratio).clamp(0, 1)

    @torch.no_grad()
    def photo(self, img: np.ndarray) -> np.ndarray:
        """The estimate of a whole HxWx3 photo (uint8, or float in [0, 1]) as uint8: how
        training caches it and apply hands it to ψ.

        The same function as :meth:`forward`, computed with OpenCV's pyramids (``pyrDown`` and
        ``pyrUp`` are this module's blur and expand to float rounding, borders included) and
        NumPy, sampled level by sampled level as the operator's fast algorithm is: a few times
        faster than the batched torch form, and a few MB at a time beyond the photo. The
        remapping is piecewise linear with its kinks at ±t_j, so ``np.interp`` on those knots
        evaluates it exactly."""
        x, y = _float_and_luma(img)
        llf = self.llf
        t = llf.t.double().numpy()
        knots = np.concatenate([-t[::-1], t[1:]]) if t[0] == 0 else np.concatenate([-t[::-1], t])
        knots = np.concatenate([[-2.0], knots, [2.0]])
        values = llf.remap(torch.from_numpy(knots).float()).double().numpy()
        (acc,), gauss = self._level_sums(y, [lambda d: np.interp(d, knots, values)])
        gain = llf.gain.detach().double().numpy()
        change = np.zeros_like(gauss[len(acc)])
        for lvl in reversed(range(len(acc))):
            change = _up_np(change, acc[lvl].shape) + np.float32(gain[lvl]) * acc[lvl]
        ratio = np.clip(y + change, 0, 1.5) / np.maximum(y, 1e-3)
        out = np.clip(x * ratio[..., None], 0, 1)
        return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)

    def _level_sums(self, y: np.ndarray, remaps: list) -> tuple[list[list[np.ndarray]], list]:
        """For each remapping r (of the difference d = Y - g_k, r(d) - d), the fast LLF's
        per-level sums Σ_k hat_k(G_l[Y]) · L_l[r(Y - g_k)] (uncollapsed), and Y's Gaussian
        pyramid: what :meth:`photo` collapses with the gains, and :meth:`basis` per hinge."""
        llf = self.llf
        levels = min(full_depth(*y.shape), llf.gain.numel())
        gauss = [y]
        for _ in range(levels):
            gauss.append(_down_np(gauss[-1]))
        step = np.float32(1.0 / (llf.k - 1))
        acc = [[np.zeros_like(g) for g in gauss[:levels]] for _ in remaps]
        for gk in llf.g.double().numpy():
            d = y - np.float32(gk)
            hats = [np.maximum(1.0 - np.abs(g - np.float32(gk)) / step, 0.0) for g in gauss]
            for sums, remap in zip(acc, remaps, strict=True):
                r = remap(d).astype(np.float32)
                for lvl in range(levels):
                    down = _down_np(r)
                    sums[lvl] += hats[lvl] * (r - _up_np(down, r.shape))
                    r = down
        return acc, gauss

    def basis(self, y: np.ndarray) -> np.ndarray:
        """(levels, knots, H, W): the change of luma ``y`` (HxW float32) each hinge j of the
        remapping makes at each pyramid level l, collapsed to full size. The estimate's change
        is Σ_l,j gain_l · a_j · A_SCALE · basis[l, j]: linear in a for fixed gains and in the
        gains for fixed a, which is how :func:`training.estimate_fit.fit_estimate` solves it."""
        hinges = [
            lambda d, t=float(t): np.sign(d) * np.maximum(np.abs(d) - np.float32(t), 0)
            for t in self.llf.t.tolist()
        ]
        acc, gauss = self._level_sums(y, hinges)
        out = np.zeros((len(acc[0]), len(acc)) + y.shape, np.float32)
        for j, sums in enumerate(acc):
            for lvl, c in enumerate(sums):
                for finer in reversed(range(lvl)):
                    c = _up_np(c, gauss[finer].shape)
                out[lvl, j] = c
        return out


def _float_and_luma(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(HxWx3 float32 in [0, 1], its Rec. 709 luma) of a uint8 or float photo."""
    x = np.asarray(img[..., :3], dtype=np.float32)
    x = x / 255 if img.dtype == np.uint8 else x
    return x, np.ascontiguousarray(x @ np.asarray(_LUMA, dtype=np.float32))


class PyramidPsi(nn.Module):
    """Candidate (i): the learned local Laplacian alone, on the crop at the crop's full depth
    (on a whole photo, at the photo's: run once per photo, as a guided model's operator is)."""

    def __init__(self):
        super().__init__()
        self.est = PyramidEstimate()

    def forward(self, crop, thumb, box):
        return self.est(crop)


class PyramidFilmPsi(nn.Module):
    """Candidate (j): the learned local Laplacian, then a FiLM-modulated LocalPsi on (crop,
    estimate) for what it cannot do."""

    def __init__(self, width: int = 24, z: int = 64):
        super().__init__()
        self.est = PyramidEstimate()
        self.enc = ThumbEncoder(out=z)
        self.net = LocalPsi(width, film=z, extra=3)

    def forward(self, crop, thumb, box):
        return self.net(self.est(crop), self.enc(thumb), extra=crop)


CANDIDATES = {"pyramid": PyramidPsi, "pyramidfilm": PyramidFilmPsi}
