"""A fitted bilateral filter: the whole-photo estimate for wmf-like edits (issue #26).

wmf-learned's ψ alone approximated the weighted median filter to 37.4 dB on the validation
photos (paper 40.81), still rising by tenths of a dB per half hour of CPU. The weighted median
is an edge-aware smoothing over a fixed window (r = 10 px) with range weights on the guide;
a bilateral filter is the classic edge-aware smoothing of the same kind, and OpenCV runs it in
a fraction of a second on a 640-px photo. So, as ``llf-learned`` reads a learned local
Laplacian filter, ``wmf-learned`` can read a bilateral filter whose three settings (diameter,
range and spatial sigma) are fitted to the training pairs; ψ then learns what the median does
that the mean does not.

Measured before any training (a standalone probe, 11 training photos at 640 px, 8-bit against
``wmf``): leaving the photo unchanged 29.45 dB; a median blur does worse (3 px 30.8, 7 px
29.7); bilateral d 21, σ_r 35 / 50 / 70 / 100 (σ_s 20): 33.0 / 35.4 / 37.6 / 35.0; d 31,
σ_r 70, σ_s 8: 37.8. The same probe for l0 (L0 smoothing) gave at best 30.8 (an edge-preserving
recursive filter; bilateral 29.9) against ψ's 31.8 alone, so l0-learned does not use it.

A second filter, blended in (2026-12-05): the weighted median's own window is a box (21 × 21
px) and its weights are a Gaussian of the *grey* difference (σ = 25.5), where OpenCV's bilateral
filter has a Gaussian window and weighs the colour difference. The grey-guided box mean with
the median's kind of weights (``joint_box``) is the weighted *mean* of the median's own
weights. Alone it does no better than the bilateral (probe, 11 training | 10 validation photos
at 640 px: bilateral 37.77 | 38.80 dB, grey box σ 20 37.85 | 38.95), but the two err
differently: a least-squares blend of the photo, the bilateral and the grey box reaches 39.15 |
40.14; with two more of each 39.30 | 40.32, not worth the time. So the fit chooses the grey
box's radius and σ as well, then the three blend weights (and an offset) by least squares.
Weights files from before the blend (wmf-learned v5) load as the bilateral alone.

It is not the operator: no weighted median runs at apply time, and both filters are core OpenCV
(the operator needs opencv-contrib). It has no gradient: fitting is a grid search and a least
squares solve, not descent.
"""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import torch
from tqdm import tqdm

from restorable.image import rgb_uint8
from restorable.network.photo_estimate import PhotoEstimate

# the settings the fit tries: diameter (px), range sigma (0-255), spatial sigma (px)
DIAMETERS = (15, 21, 31)
SIGMA_COLOR = (50.0, 60.0, 70.0, 80.0, 90.0)
SIGMA_SPACE = (6.0, 8.0, 12.0, 20.0)
FIT_PHOTOS = 16  # training pairs the grid is scored on (evenly spread over the split)
# what a weights file may set: a models folder is untrusted, and OpenCV allocates and loops over
# the diameter squared per pixel (a diameter of 1e9 would hang apply, not fail)
MAX_DIAMETER = 63
MAX_SIGMA = 1000.0
MAX_WEIGHT = 16.0  # a blend weight's bound: the fitted ones are near 1 (0.5, 0.66, -0.15)
# the grey-guided box filter's settings the fit tries: radius (px) and σ of the grey weights
JOINT_RADII = (6, 8, 10, 12)
JOINT_SIGMAS = (15.0, 20.0, 25.0, 30.0)
JOINT_LEVELS = 18  # grey levels the range weights are sampled at (every 15 of 0-255)
STRIP = 512  # rows filtered at a time: memory stays small at 24 MP
BLEND_SAMPLES = 8  # every 8th pixel of the fit photos enters the least squares


def joint_box(u8: np.ndarray, radius: int, sigma: float, levels: int = JOINT_LEVELS) -> np.ndarray:
    """Each pixel's mean over a (2·radius + 1)² box, weighted by a Gaussian (σ, 0-255 scale) of
    the grey difference to it: float32 HxWx3 on the 0-255 scale.

    Written here because no library has it: OpenCV's bilateral filter weighs colour distance
    over a Gaussian window, the contrib joint bilateral a Gaussian window too. It is computed
    as Durand and Dorsey's piecewise-linear bilateral: the box sums of w_l·x and w_l for the
    weights w_l of ``levels`` sampled grey levels, interpolated at each pixel's own grey, in
    strips of rows (with a halo of ``radius``) so that memory stays small."""
    h = u8.shape[0]
    out = np.empty(u8.shape, np.float32)
    for top in range(0, h, STRIP):
        lo, hi = max(0, top - radius), min(h, top + STRIP + radius)
        strip = _joint_box_rows(u8[lo:hi], radius, sigma, levels)
        out[top : top + STRIP] = strip[top - lo : top - lo + min(STRIP, h - top)]
    return out


def _joint_box_rows(u8: np.ndarray, radius: int, sigma: float, levels: int) -> np.ndarray:
    grey = cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY).astype(np.float32)
    x = u8.astype(np.float32)
    size = (2 * radius + 1, 2 * radius + 1)
    step = 255.0 / (levels - 1)
    pos = grey / step  # each pixel's place among the sampled levels
    out = np.zeros_like(x)
    for level in range(levels):
        hat = np.maximum(0.0, 1.0 - np.abs(pos - level))  # linear interpolation's weight
        if not hat.any():
            continue
        w = np.exp(-((grey - level * step) ** 2) / (2 * sigma**2)).astype(np.float32)
        den = cv2.boxFilter(w, -1, size, normalize=False, borderType=cv2.BORDER_REFLECT)
        num = cv2.boxFilter(
            x * w[..., None], -1, size, normalize=False, borderType=cv2.BORDER_REFLECT
        )
        out += (hat / np.maximum(den, 1e-6))[..., None] * num
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


class BilateralEstimate(PhotoEstimate):
    """photo → an estimate of f(photo): OpenCV's bilateral filter with fitted settings.

    A learned model with ``NetConfig.estimate = "bilateral"`` runs it once on the whole photo
    and ψ reads the result as a guided model's ψ reads the operator's output. The settings are
    a buffer saved with the weights; before :meth:`fit` the estimate is the photo itself."""

    keep_fp32 = True  # three settings, shipped exact (models.write_weights)

    def __init__(self):
        super().__init__()
        # diameter, sigma_color, sigma_space; a diameter of 0 means not fitted
        self.register_buffer("settings", torch.zeros(3))
        # the grey box's radius and σ (a radius of 0: not used), and the blend's weights of
        # the photo, the bilateral, the grey box and an offset (0-255 scale)
        self.register_buffer("joint", torch.zeros(2))
        self.register_buffer("blend", torch.tensor([0.0, 1.0, 0.0, 0.0]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Settings from a weights file are checked before any photo is filtered with them:
        models.load turns the ValueError into a one-line error naming the file. A file from
        before the blend (no ``joint``, ``blend``) is the bilateral alone, as it was."""
        state_dict.setdefault(prefix + "joint", torch.zeros(2))
        state_dict.setdefault(prefix + "blend", torch.tensor([0.0, 1.0, 0.0, 0.0]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        d, sigma_color, sigma_space = (float(v) for v in self.settings)
        radius, sigma = (float(v) for v in self.joint)
        unfitted = d == sigma_color == sigma_space == 0.0
        sane = (
            d == int(d)
            and 1 <= d <= MAX_DIAMETER
            and all(0.0 < s <= MAX_SIGMA for s in (sigma_color, sigma_space))
            and radius == int(radius)
            and 0 <= radius <= MAX_DIAMETER // 2
            and (radius == 0 or 0.0 < sigma <= MAX_SIGMA)
            and all(abs(float(w)) <= MAX_WEIGHT for w in self.blend)
        )  # NaN fails every comparison
        if not (unfitted or sane):
            got = f"{d:g}, {sigma_color:g}, {sigma_space:g}; {radius:g}, {sigma:g}; "
            got += ", ".join(f"{float(w):g}" for w in self.blend)
            raise ValueError(f"bilateral settings out of range: {got}")

    def fitted(self) -> bool:
        return bool(self.settings[0] > 0)

    def _filter(self, u8: np.ndarray, d: int, sigma_color: float, sigma_space: float):
        return cv2.bilateralFilter(u8, d, sigma_color, sigma_space, borderType=cv2.BORDER_REFLECT)

    @torch.no_grad()
    def photo(self, img: np.ndarray) -> np.ndarray:
        """The estimate of a whole HxWx3 photo (uint8, or float in [0, 1]) as uint8: how
        training caches it and apply hands it to ψ."""
        u8 = rgb_uint8(img)
        if not self.fitted():
            return u8.copy()
        d, sigma_color, sigma_space = (float(v) for v in self.settings)
        bilateral = self._filter(u8, int(d), sigma_color, sigma_space)
        radius, sigma = int(self.joint[0]), float(self.joint[1])
        if radius == 0:
            return bilateral
        w = [float(v) for v in self.blend]
        out = w[0] * u8.astype(np.float32) + w[1] * bilateral.astype(np.float32) + w[3]
        out += w[2] * joint_box(u8, radius, sigma)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def fit(
        self,
        pairs: list[tuple[np.ndarray, ...]],
        progress: bool = True,
        minutes: float | None = None,
    ) -> dict:
        """Choose the settings that best reproduce the outputs (mean 8-bit PSNR) of up to
        FIT_PHOTOS whole training pairs (I, f(I), ...) uint8, spread evenly over them: a grid
        search, then the blend's (grey box, weights); deterministic, a fixed amount of work
        (``minutes`` is not a budget here). Returns {"photos", "minutes", "settings", "psnr",
        "joint", "blend", "blend_psnr"}."""
        start = time.time()
        chosen = [
            pairs[i]
            for i in np.linspace(0, len(pairs) - 1, min(FIT_PHOTOS, len(pairs))).round().astype(int)
        ]
        chosen = [(rgb_uint8(x), rgb_uint8(y)) for x, y, *_ in chosen]
        grid = list(itertools.product(DIAMETERS, SIGMA_COLOR, SIGMA_SPACE))
        best, best_psnr = grid[0], -np.inf
        for d, sc, ss in tqdm(grid, desc="estimate settings", disable=not progress, leave=False):
            score = float(np.mean([_psnr(self._filter(x, d, sc, ss), y) for x, y in chosen]))
            if score > best_psnr:
                best, best_psnr = (d, sc, ss), score
        self.settings.copy_(torch.tensor(best, dtype=torch.float32))
        bilaterals = [self._filter(x, *best) for x, _ in chosen]
        joint, weights, blend_psnr = (0, 0.0), [0.0, 1.0, 0.0, 0.0], best_psnr
        grid = list(itertools.product(JOINT_RADII, JOINT_SIGMAS))
        for radius, sigma in tqdm(grid, desc="estimate blend", disable=not progress, leave=False):
            boxes = [joint_box(x, radius, sigma) for x, _ in chosen]
            w = _blend_weights(chosen, bilaterals, boxes)
            score = float(
                np.mean(
                    [
                        _psnr(_blended(w, x, b, j), y)
                        for (x, y), b, j in zip(chosen, bilaterals, boxes, strict=True)
                    ]
                )
            )
            if score > blend_psnr:
                joint, weights, blend_psnr = (radius, sigma), w, score
        self.joint.copy_(torch.tensor(joint, dtype=torch.float32))
        self.blend.copy_(torch.tensor(weights, dtype=torch.float32))
        return {
            "photos": len(chosen),
            "minutes": round((time.time() - start) / 60, 2),
            "settings": {"diameter": best[0], "sigma_color": best[1], "sigma_space": best[2]},
            "psnr": round(best_psnr, 2),
            "joint": {"radius": joint[0], "sigma": joint[1]},
            "blend": [round(v, 4) for v in weights],
            "blend_psnr": round(blend_psnr, 2),
        }


def _blended(w: list[float], x: np.ndarray, bilateral: np.ndarray, box: np.ndarray) -> np.ndarray:
    out = w[0] * x.astype(np.float32) + w[1] * bilateral.astype(np.float32) + w[2] * box + w[3]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _blend_weights(chosen, bilaterals, boxes) -> list[float]:
    """Least-squares weights of (photo, bilateral, grey box, 1) for the outputs, on every
    BLEND_SAMPLES-th pixel of the fit photos; clipped to ±MAX_WEIGHT (what a load accepts)."""
    cols, target = [], []
    for (x, y), b, j in zip(chosen, bilaterals, boxes, strict=True):
        n = x[..., :3].size
        take = slice(0, n, BLEND_SAMPLES)
        cols.append(
            np.stack(
                [
                    x[..., :3].reshape(-1)[take].astype(np.float64),
                    b.reshape(-1)[take].astype(np.float64),
                    j.reshape(-1)[take].astype(np.float64),
                    np.ones(len(range(0, n, BLEND_SAMPLES))),
                ],
                1,
            )
        )
        target.append(y[..., :3].reshape(-1)[take].astype(np.float64))
    w = np.linalg.lstsq(np.concatenate(cols), np.concatenate(target), rcond=None)[0]
    return [float(v) for v in np.clip(w, -MAX_WEIGHT, MAX_WEIGHT)]
