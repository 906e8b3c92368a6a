"""The training objective of Ouyang et al. (2022), Eq. 5.

    L = λa‖f̂(I) − f(I)‖² + λr‖Î − I‖² + λΔ‖Δ‖²  (+ λadv·L_adv for Type III, in train.py)

Î is restored from the *stored* output µ(f̂(I)) with Δ = 0, exactly as ``restore`` will run, so
the network learns to survive rounding and JPEG. Mean squared errors (not sums) keep the weights
independent of crop size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossWeights:
    approx: float = 4.0
    restore: float = 1.0
    delta: float = 0.1
    adversarial: float = 0.0  # Type III: patch discriminator term (training/adversarial.py)
    # exposure: extra restoration weight on the pixels the edit clipped to white. They are a few
    # percent of a crop, so the plain mean lets the network give up the highlight detail that
    # only the hidden original can bring back — the figure users judge brightening by (#10).
    clipped: float = 0.0


def total_loss(
    out: torch.Tensor,
    target: torch.Tensor,
    restored: torch.Tensor | None,
    original: torch.Tensor,
    delta: torch.Tensor,
    w: LossWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum and its parts (as floats, for logging)."""
    parts = {
        "approx": torch.mean((out - target) ** 2),
        "delta": torch.mean(delta**2),
    }
    if restored is not None:
        parts["restore"] = torch.mean((restored - original) ** 2)
        if w.clipped > 0:
            parts["clipped"] = clipped_error(restored, original, target)
    loss = sum(getattr(w, k) * v for k, v in parts.items())
    return loss, {k: float(v.detach()) for k, v in parts.items()}


CLIP_LEVEL = 254.5 / 255  # a channel at 255 after rounding


def clipped_error(
    restored: torch.Tensor, original: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Mean squared restoration error over the pixels where the target ``f(I)`` is white in
    some channel (B,3,H,W); 0 when a batch has none."""
    mask = (target >= CLIP_LEVEL).any(dim=1, keepdim=True).to(restored.dtype)
    err = ((restored - original) ** 2 * mask).sum()
    return err / (mask.sum() * restored.shape[1]).clamp_min(1.0)
