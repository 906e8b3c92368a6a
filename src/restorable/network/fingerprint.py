"""A classifier of hidden signals: which shipped model's edit a picture is, from its pixels.

Identification (:mod:`restorable.realworld`) names the model whose restore-then-apply is
markedly more consistent at one Haar phase than at the others (the *lift*). That fails for the
models whose own edits lift under about 1 dB (exposure, retouch-jpeg, rgf-jpeg, wmf-jpeg after
JPEG q90; 25 of 33 misses on training photos, docs/real-world.md): their consistency is nearly
flat across phases. But every model leaves a hidden signal of its own kind in its edits, and
steganalysis has long found such signals with a small CNN on the picture's high frequencies
(Xu, Wu and Shi 2016; Boroumand, Chen and Fridrich 2019, SRNet: no pooling in the first layers,
so the signal is not averaged away). So a small CNN of that kind reads the picture and its
high-pass residual and says which of the shipped models made it, or none. Identification uses
it as evidence beside the lift (:func:`restorable.realworld.decide`).

It is fully convolutional with global mean and standard-deviation pooling: trained on 96-px
crops at random offsets (any Haar phase), it reads the 256-px square identification looks at in
one pass. It is only valid for the models it was trained on, at the versions it was trained on:
the card lists them, and :func:`restorable.realworld` ignores it for any other model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HIGH_PASS_GAIN = 8.0  # the residual is a few levels of 255: scaled to the picture's range


class Fingerprint(nn.Module):
    """uint8-derived (B, 3, H, W) in [0, 1] → (B, classes) logits; class 0 is "no model"."""

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        w = width
        self.classes = classes
        self.body = nn.Sequential(
            nn.Conv2d(6, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * w, 3 * w, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(3 * w, 3 * w, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(6 * w, classes)

    @staticmethod
    def features(x: torch.Tensor) -> torch.Tensor:
        """The picture and its residual after a 3×3 mean (where a hidden signal lives)."""
        blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        return torch.cat([x, HIGH_PASS_GAIN * (x - blur)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self.features(x))
        pooled = torch.cat([h.mean(dim=(2, 3)), h.std(dim=(2, 3))], dim=1)
        return self.head(pooled)


@torch.no_grad()
def probabilities(net: Fingerprint, img: np.ndarray) -> np.ndarray:
    """Softmax over the classes for one uint8 HxWx3 picture (one pass, any size ≥ 16 px)."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0
    return torch.softmax(net(x), dim=1)[0].numpy()
