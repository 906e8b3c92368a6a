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

It is not the operator: no weighted median runs at apply time, and the filter is core OpenCV
(the operator needs opencv-contrib). It has no gradient: fitting is a grid search, not descent.
"""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

# the settings the fit tries: diameter (px), range sigma (0-255), spatial sigma (px)
DIAMETERS = (15, 21, 31)
SIGMA_COLOR = (50.0, 60.0, 70.0, 80.0, 90.0)
SIGMA_SPACE = (6.0, 8.0, 12.0, 20.0)
FIT_PHOTOS = 16  # training pairs the grid is scored on (evenly spread over the split)
# what a weights file may set: a models folder is untrusted, and OpenCV allocates and loops over
# the diameter squared per pixel (a diameter of 1e9 would hang apply, not fail)
MAX_DIAMETER = 63
MAX_SIGMA = 1000.0


def _uint8(img: np.ndarray) -> np.ndarray:
    x = np.asarray(img[..., :3])
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x.astype(np.float32) * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


class BilateralEstimate(nn.Module):
    """photo → an estimate of f(photo): OpenCV's bilateral filter with fitted settings.

    A learned model with ``NetConfig.estimate = "bilateral"`` runs it once on the whole photo
    and ψ reads the result as a guided model's ψ reads the operator's output. The settings are
    a buffer saved with the weights; before :meth:`fit` the estimate is the photo itself."""

    keep_fp32 = True  # three settings, shipped exact (models.write_weights)

    def __init__(self):
        super().__init__()
        # diameter, sigma_color, sigma_space; a diameter of 0 means not fitted
        self.register_buffer("settings", torch.zeros(3))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Settings from a weights file are checked before any photo is filtered with them:
        models.load turns the ValueError into a one-line error naming the file."""
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        d, sigma_color, sigma_space = (float(v) for v in self.settings)
        unfitted = d == sigma_color == sigma_space == 0.0
        sane = (
            d == int(d)
            and 1 <= d <= MAX_DIAMETER
            and all(0.0 < s <= MAX_SIGMA for s in (sigma_color, sigma_space))
        )  # NaN fails every comparison
        if not (unfitted or sane):
            got = f"{d:g}, {sigma_color:g}, {sigma_space:g}"
            raise ValueError(f"bilateral settings out of range: {got}")

    def fitted(self) -> bool:
        return bool(self.settings[0] > 0)

    def _filter(self, u8: np.ndarray, d: int, sigma_color: float, sigma_space: float):
        return cv2.bilateralFilter(u8, d, sigma_color, sigma_space, borderType=cv2.BORDER_REFLECT)

    @torch.no_grad()
    def photo(self, img: np.ndarray) -> np.ndarray:
        """The estimate of a whole HxWx3 photo (uint8, or float in [0, 1]) as uint8: how
        training caches it and apply hands it to ψ."""
        u8 = _uint8(img)
        if not self.fitted():
            return u8.copy()
        d, sigma_color, sigma_space = (float(v) for v in self.settings)
        return self._filter(u8, int(d), sigma_color, sigma_space)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] → the estimate, each photo whole (no gradient flows)."""
        outs = []
        for x in img.detach().float().cpu().permute(0, 2, 3, 1).numpy():
            outs.append(torch.from_numpy(self.photo(x)).permute(2, 0, 1).float() / 255)
        return torch.stack(outs).to(img)

    def fit(self, pairs: list[tuple[np.ndarray, ...]], progress: bool = True) -> dict:
        """Choose the settings that best reproduce the outputs (mean 8-bit PSNR) of up to
        FIT_PHOTOS whole training pairs (I, f(I), ...) uint8, spread evenly over them: a grid
        search, deterministic. Returns {"photos", "minutes", "settings", "psnr"}."""
        start = time.time()
        chosen = [
            pairs[i]
            for i in np.linspace(0, len(pairs) - 1, min(FIT_PHOTOS, len(pairs))).round().astype(int)
        ]
        chosen = [(_uint8(x), _uint8(y)) for x, y, *_ in chosen]
        grid = list(itertools.product(DIAMETERS, SIGMA_COLOR, SIGMA_SPACE))
        best, best_psnr = grid[0], -np.inf
        for d, sc, ss in tqdm(grid, desc="estimate settings", disable=not progress, leave=False):
            score = float(np.mean([_psnr(self._filter(x, d, sc, ss), y) for x, y in chosen]))
            if score > best_psnr:
                best, best_psnr = (d, sc, ss), score
        self.settings.copy_(torch.tensor(best, dtype=torch.float32))
        return {
            "photos": len(chosen),
            "minutes": round((time.time() - start) / 60, 2),
            "settings": {"diameter": best[0], "sigma_color": best[1], "sigma_space": best[2]},
            "psnr": round(best_psnr, 2),
        }
