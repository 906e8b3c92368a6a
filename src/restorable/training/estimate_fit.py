"""Fit a learned model's whole-photo estimate (``network/pyramid_psi.py``) before its training.

The estimate is a learned local Laplacian filter with about twenty weights: one odd remapping of
the difference to the local level, and a gain per pyramid level. It is fitted alone, on random
crops of the training pairs, by the approximation loss (it has no other job), and then frozen:
training caches its output for every training photo, as a guided model's training reads the
operator's, and apply runs it once per photo.

Fitted alone it learns in a few hundred steps (standalone, llf: 20.2 → 29.5 dB in 2.5 CPU
minutes at a constant rate), but noisily at the rate it needs to start, so the rate decays
tenfold over the budget here.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from restorable.network.pyramid_psi import PyramidEstimate


def fit_estimate(
    est: PyramidEstimate,
    pairs: list[tuple[np.ndarray, ...]],
    minutes: float = 3.0,
    crop: int = 128,
    batch: int = 8,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Fit ``est`` on random aligned ``crop``-px squares of ``pairs`` (I, f(I), ...) uint8 for
    ``minutes`` of wall time (at least 20 steps); returns {"steps", "minutes", "loss"}.
    Deterministic for a given number of steps (the seed fixes the crops)."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(est.parameters(), lr=lr)
    budget, start, steps, loss = minutes * 60, time.time(), 0, float("nan")
    usable = [p for p in pairs if min(p[0].shape[:2]) >= crop]
    if not usable:
        raise ValueError(f"no training photo is {crop} px on its short side")
    bar = tqdm(desc="fitting the estimate", unit="step", disable=not progress, leave=False)
    est.train()
    while steps < 20 or time.time() - start < budget:
        frac = min(1.0, (time.time() - start) / budget) if budget > 0 else 1.0
        for g in opt.param_groups:
            g["lr"] = lr * math.exp(math.log(0.1) * frac)
        xs, ys = [], []
        for i in rng.integers(len(usable), size=batch):
            x, y = usable[i][0], usable[i][1]
            t = int(rng.integers(x.shape[0] - crop + 1))
            left = int(rng.integers(x.shape[1] - crop + 1))
            xs.append(x[t : t + crop, left : left + crop, :3])
            ys.append(y[t : t + crop, left : left + crop, :3])
        xb = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255
        yb = torch.from_numpy(np.stack(ys)).permute(0, 3, 1, 2).float() / 255
        out = est(xb)
        step_loss = F.mse_loss(out, yb)
        opt.zero_grad()
        step_loss.backward()
        opt.step()
        steps += 1
        loss = float(step_loss.detach())
        bar.update(1)
    bar.close()
    est.eval()
    for p in est.parameters():
        p.requires_grad_(False)
    return {"steps": steps, "minutes": round((time.time() - start) / 60, 2), "loss": loss}
