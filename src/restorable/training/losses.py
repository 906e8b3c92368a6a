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
    # the whole-photo grid's own estimate of f(I) against the target (network/whole_photo.py):
    # the grid then learns the photo's tones directly, as it did alone in the curves that chose
    # it (benchmarks/psi_curves.py), instead of only through ψ and H (train.py adds this term)
    estimate: float = 0.0


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
    loss = sum(getattr(w, k) * v for k, v in parts.items())
    return loss, {k: float(v.detach()) for k, v in parts.items()}
