"""What the learned estimates computed on whole photos in numpy share (histogram_psi,
bilateral_psi, grade_psi): the batched torch forward a model's ψ path calls."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class PhotoEstimate(nn.Module):
    """An estimate of f(photo) whose :meth:`photo` maps a whole HxWx3 photo (uint8, or float in
    [0, 1]) to uint8; :meth:`forward` runs it on each photo of a batch. No gradient flows: the
    estimates are fitted first, by their own means, then frozen."""

    def photo(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] → the estimate, each photo whole."""
        outs = []
        for x in img.detach().float().cpu().permute(0, 2, 3, 1).numpy():
            outs.append(torch.from_numpy(self.photo(x)).permute(2, 0, 1).float() / 255)
        return torch.stack(outs).to(img)
