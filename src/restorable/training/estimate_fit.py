"""Fit a learned model's whole-photo pyramid estimate (``network/pyramid_psi.py``) before its
training, by least squares on whole photos.

The estimate is a learned local Laplacian filter with about twenty weights: one odd remapping
of the difference to the local level (hinge coefficients a_j) and a gain g_l per pyramid level.
Its change to the luma is Σ_l,j g_l a_j B_lj(Y), where B_lj is what hinge j does at level l
(:meth:`PyramidEstimate.basis`): linear in a for fixed gains and in the gains for fixed a. So
it is fitted by alternating least squares on the normal equations of whole training photos,
then frozen: training caches its output for every training photo, as a guided model's training
reads the operator's, and apply runs it once per photo.

Why not descent on crops, as at first (llf-learned v3: Adam, 630 steps on 96-px crops, 6 CPU
minutes): a crop's pyramid is shallower than the photo's and its coarse levels see none of the
photo around it, so the remapping fitted to reproduce the whole photo's output from a crop is
not the whole photo's. Fitted so, the estimate reproduced llf to 30.10 dB on 10 validation
photos; by least squares on 16 whole training photos 31.49, and 34.02 once the pixels the
operator clipped (any channel at 0 or 255, where the estimate's unclipped change is not seen)
were left out of the sums (a standalone probe of this fit, 2026-12-04; the shipped model's
figures are in docs/results.md).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm import tqdm

from restorable.network.pyramid_psi import A_SCALE, PyramidEstimate, _float_and_luma

ROUNDS = 30  # alternations of the two least-squares problems (they settle in under ten)
RIDGE = 1e-6  # × the mean diagonal: keeps unseen levels' gains at 1 and the hinges finite


def _normal_equations(
    est: PyramidEstimate, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(Gram matrix, right-hand side) of one pair's unclipped pixels over the (level, hinge)
    basis, zero-padded to every level the estimate has."""
    xf, luma = _float_and_luma(x)
    yf, target = _float_and_luma(y)
    inside = ((y[..., :3] > 0) & (y[..., :3] < 255)).all(-1).ravel()
    basis = est.basis(luma)
    levels, knots = est.llf.gain.numel(), basis.shape[1]
    full = np.zeros((levels, knots, inside.size), np.float32)
    full[: basis.shape[0]] = basis.reshape(basis.shape[0], knots, -1)
    f = full.reshape(levels * knots, -1)[:, inside].astype(np.float64)
    r = (target - luma).ravel()[inside].astype(np.float64)
    return f @ f.T, f @ r


def fit_estimate(
    est: PyramidEstimate,
    pairs: list[tuple[np.ndarray, ...]],
    minutes: float = 3.0,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Fit ``est`` on whole pairs (I, f(I), ...) uint8, taken in a seeded random order for as
    long as ``minutes`` allows (at least 4 photos, at most all), then freeze it. Returns
    {"photos", "minutes"}. Deterministic for a given number of photos."""
    start = time.time()
    order = np.random.default_rng(seed).permutation(len(pairs))
    levels, knots = est.llf.gain.numel(), est.llf.a.numel()
    gram = np.zeros((levels * knots, levels * knots))
    rhs = np.zeros(levels * knots)
    used = 0
    bar = tqdm(desc="fitting the estimate", unit="photo", disable=not progress, leave=False)
    for i in order:
        if used >= 4 and time.time() - start > minutes * 60:
            break
        g, r = _normal_equations(est, pairs[i][0], pairs[i][1])
        gram, rhs, used = gram + g, rhs + r, used + 1
        bar.update(1)
    bar.close()
    ridge = RIDGE * np.trace(gram) / len(rhs)
    g4 = gram.reshape(levels, knots, levels, knots)
    b2 = rhs.reshape(levels, knots)
    gain, a = np.ones(levels), np.zeros(knots)
    for _ in range(ROUNDS):
        m = np.einsum("l,ljmk,m->jk", gain, g4, gain) + ridge * np.eye(knots)
        a = np.linalg.solve(m, np.einsum("l,lj->j", gain, b2))
        m = np.einsum("j,ljmk,k->lm", a, g4, a) + ridge * np.eye(levels)
        gain = np.linalg.solve(m, np.einsum("j,lj->l", a, b2) + ridge * np.ones(levels))
    with torch.no_grad():
        est.llf.a.copy_(torch.from_numpy(a / A_SCALE).float())
        est.llf.gain.copy_(torch.from_numpy(gain).float())
    est.eval()
    for p in est.parameters():
        p.requires_grad_(False)
    return {"photos": used, "minutes": round((time.time() - start) / 60, 2)}
