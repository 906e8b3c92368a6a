"""A learned per-photo colour grade: the whole-photo estimate for a user's own edit (issue #26).

``train --pairs`` learns an edit nobody wrote as an operator, and the edits people make most
are global grades set per photo from the photo's own tones: levels (black and white points,
gamma), curves, an auto-level or an equalize, saturation. ImageMagick's ``-auto-level
-auto-gamma`` is one: a stretch of the photo's darkest to its brightest value, then the one
gamma that brings its mean to the middle. A ψ that reads a crop and a thumbnail learned it only
to 31.4 dB in 10 CPU minutes (leaving the photo unchanged: 18.5); it must infer the photo's
extremes and mean from a 128-px thumbnail, through a network trained a thousand steps.

So the estimate computes the statistics such grades are made from, exactly, from the whole
photo's histograms (each channel's and the luma's quantiles at 13 fractions, 0 and 1 included,
mean and spread, and the cumulative histogram at every level), and small networks turn them
into the photo's grade in the form a photo editor exposes:

    per channel: levels  z = clamp((v - black) / (white - black)),  z ** gamma
                 + a curve (one network for every level: the level, its cumulative histogram,
                   the channel, the statistics ─► the change there)
    then a 3 × 3 colour mix and an offset
    then a colour lookup: a 17³ table of changes indexed by the mixed colour (a 3D LUT)

the first three predicted from the statistics, the lookup one table for all photos, all of
them starting at the identity. It is fitted alone, first, on pixels sampled from every training
pair (thousands of Adam steps a minute: no image network runs), the lookup then solved exactly
by least squares where held-back training photos say that helps, and frozen; ψ reads its
output as a guided model's ψ reads the operator's.

Measured before building it (a standalone probe, 72 training and 8 held-back pairs at 640 px,
3 CPU minutes, 2026-12-05; 8-bit PSNR of the estimate alone against the held-back AFTER):
``-auto-level -auto-gamma`` 35.0-36.2 dB with the curve alone (its exact form is one levels
stretch and gamma for all channels, which a curve network learns slowly), 44.2 with the levels
in front of it.

The colour lookup came later (2026-12-05): the colour grade of ``benchmarks/learn_from_pairs.py``
(``-modulate 110,130,95 -sigmoidal-contrast 4x50%``, a change of hue and saturation in HSL) is
one function of each pixel's colour, which the curves and the mix reproduced only to 33.0 dB on
held-back pairs; with the lookup the estimate reaches 44.2 dB (2 CPU minutes' fit, 72 pairs,
8 held back). The auto-level, a per-photo edit, keeps the table the descent left: 46.1 dB
against 46.8 with no table at all (:meth:`GradeEstimate._solve_lookup` says why).

Applied, it is three 256-entry lookup tables, a colour mix and a trilinear lookup: per pixel,
no neighbourhood.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from restorable.image import rgb_uint8
from restorable.network.photo_estimate import PhotoEstimate

QUANTILES = (0.0, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.995, 1.0)
STATS = 4 * (len(QUANTILES) + 2)  # R, G, B, luma: quantiles, mean, spread
LUMA = np.array([0.299, 0.587, 0.114])
HIDDEN = 64
MIN_RANGE = 0.05  # white - black: a levels stretch of at most 20×
SAMPLES = 65536  # pixels kept per training pair for the fit
BATCH_PHOTOS, BATCH_PIXELS = 16, 4096  # per Adam step
SOLVE_PIXELS = 1_000_000  # pixels of all pairs the colour lookup is solved on
SMOOTH = 0.01  # the colour lookup's smoothness, against its data (ColourLookup.solve)
SMOOTHNESS = (0.01, 0.1, 1.0, 10.0)  # those a fit tries on held-back photos
LR = 2e-3
ROWS = 256  # rows of a photo counted or graded at a time: memory stays small at 24 MP
GRID = 17  # points per axis of the colour lookup (a photo editor's 3D LUTs use 17 or 33)


def histograms(u8: np.ndarray) -> np.ndarray:
    """(4, 256) pixel counts of R, G, B and the luma (rounded to 8 bits) of an HxWx3 uint8,
    counted in strips of rows: at 24 MP a whole-photo luma and int copies would take 0.8 GB."""
    counts = np.zeros((4, 256), np.int64)
    for top in range(0, u8.shape[0], ROWS):
        x = u8[top : top + ROWS, :, :3].reshape(-1, 3)
        luma = np.rint(x @ LUMA).astype(np.uint8)
        for c, values in enumerate((x[:, 0], x[:, 1], x[:, 2], luma)):
            counts[c] += np.bincount(values, minlength=256)[:256]
    return counts


def statistics(u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(STATS,) statistics and (4, 256) cumulative histograms of a whole uint8 photo, in [0, 1]:
    exact from its histograms (a quantile is the first level whose cumulative share reaches
    it; 0 gives the darkest value, 1 the brightest), so a 24 MP photo costs four bincounts."""
    counts = histograms(u8).astype(np.float64)
    cdf = np.cumsum(counts, 1) / np.maximum(counts.sum(1, keepdims=True), 1)
    levels = np.arange(256) / 255.0
    stats = []
    for c in range(4):
        share = counts[c] / max(counts[c].sum(), 1)
        mean = float(share @ levels)
        spread = math.sqrt(max(float(share @ (levels - mean) ** 2), 0.0))
        first = int(np.argmax(counts[c] > 0))
        quant = [first / 255.0] + [
            int(np.searchsorted(cdf[c], q - 1e-12)) / 255.0 for q in QUANTILES[1:]
        ]
        stats += quant + [mean, spread]
    return np.asarray(stats, np.float32), cdf.astype(np.float32)


def _mlp(n_in: int, n_out: int) -> nn.Sequential:
    """Two hidden layers whose last layer starts at zero: the grade starts as the identity."""
    net = nn.Sequential(
        nn.Linear(n_in, HIDDEN),
        nn.GELU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.GELU(),
        nn.Linear(HIDDEN, n_out),
    )
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class ColourLookup(nn.Module):
    """A (3, GRID, GRID, GRID) table of changes to a graded colour, indexed by its R, G, B and
    read trilinearly, as a photo editor's 3D LUT: what per-channel curves and a 3 × 3 mix
    cannot state (a change of hue or saturation in HSL, as ImageMagick's ``-modulate`` makes).

    One table for all photos: the per-photo part of a grade is the curves' and the mix's. A
    network of the photo's statistics and the colour, tried first, fitted the colour grade of
    ``benchmarks/learn_from_pairs.py`` no better than the curves alone (33.0 dB on held-back
    pairs), while one shared table solved by least squares reproduces it to 48.4 dB
    (``GRID`` 17; 33 points: 47.6). So the table is fitted with the rest by Adam, then solved
    exactly for the fitted curves (:meth:`solve`) where held-back photos say that helps. It
    starts at zero: no change."""

    def __init__(self):
        super().__init__()
        # (3, GRID, GRID, GRID): four dimensions, as the trainer's channels-last copy needs
        self.table = nn.Parameter(torch.zeros(3, GRID, GRID, GRID))

    def looked_up(self, rgb: torch.Tensor) -> torch.Tensor:
        """Colours (B, N, 3) → the table's changes there (B, N, 3), the colours clamped to
        [0, 1]. grid_sample reads its (x, y, z) as (B, G, R) here."""
        grid = (rgb.clamp(0.0, 1.0) * 2.0 - 1.0).flip(-1)[:, None, None]
        table = self.table.contiguous()[None].expand(rgb.shape[0], -1, -1, -1, -1)
        out = F.grid_sample(table, grid, mode="bilinear", align_corners=True)
        return out[:, :, 0, 0].transpose(1, 2)

    @torch.no_grad()
    def solve(self, rgb: torch.Tensor, change: torch.Tensor, smooth: float = SMOOTH) -> None:
        """Set the table to the least-squares fit of ``change`` (N, 3) at colours ``rgb`` (N, 3).

        The change is linear in the table's values (eight trilinear weights a colour), so its
        best values solve one sparse system of GRID³ unknowns a channel, where Adam only nears
        them: the normal equations, plus ``smooth`` times the grid's Laplacian (relative to the
        data's mean weight a point), so that colours no pair showed take their neighbours'
        change smoothly instead of none."""
        from scipy.sparse import csr_matrix, diags, eye, kron
        from scipy.sparse.linalg import spsolve

        t = rgb.clamp(0.0, 1.0).double().numpy() * (GRID - 1)
        low = np.clip(np.floor(t).astype(np.int64), 0, GRID - 2)
        frac = t - low
        rows, cols, vals = [], [], []
        for corner in range(8):
            step = [(corner >> k) & 1 for k in (2, 1, 0)]  # R, G, B
            w = np.prod([frac[:, k] if d else 1 - frac[:, k] for k, d in enumerate(step)], 0)
            idx = low + np.asarray(step)
            rows.append(np.arange(len(t)))
            cols.append((idx[:, 0] * GRID + idx[:, 1]) * GRID + idx[:, 2])
            vals.append(w)
        a = csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(t), GRID**3),
        )
        normal = (a.T @ a).tocsc()
        diff = diags([-np.ones(GRID - 1), np.ones(GRID - 1)], [0, 1], shape=(GRID - 1, GRID))
        line, one = (diff.T @ diff), eye(GRID)
        laplacian = (
            kron(kron(line, one), one) + kron(kron(one, line), one) + kron(kron(one, one), line)
        )
        weight = smooth * normal.diagonal().mean()
        system = (normal + weight * laplacian + 1e-9 * eye(GRID**3)).tocsc()
        rhs = a.T @ change.double().numpy()
        solved = np.stack([spsolve(system, rhs[:, c]) for c in range(3)])
        self.table.copy_(torch.from_numpy(solved).float().view(3, GRID, GRID, GRID))


class GradeEstimate(PhotoEstimate):
    """photo → an estimate of f(photo): a colour grade computed from the photo's statistics.

    A learned model with ``NetConfig.estimate = "grade"`` runs it once on the whole photo (its
    statistics are the whole photo's) and ψ reads the result. Before :meth:`fit` it is the
    photo itself."""

    keep_fp32 = True  # a few thousand weights, shipped exact (models.write_weights)
    # computed on the whole photo at any size (models.guide): a window's statistics would be
    # the window's, not the photo's, and its rows bound the memory (photo)
    one_pass = True

    def __init__(self):
        super().__init__()
        self.levels = _mlp(STATS, 9)  # per channel: black, white - 1, log gamma
        self.curve = _mlp(1 + 2 + 3 + STATS, 1)  # the level, two cumulative shares, channel
        self.mix = _mlp(STATS, 12)  # 3 × 3 mix and offset, added to the identity
        self.colour = ColourLookup()
        # the statistics are standardised by the training pairs' mean and spread
        self.register_buffer("stat_mean", torch.zeros(STATS))
        self.register_buffer("stat_std", torch.ones(STATS))
        self.register_buffer("fitted_", torch.zeros(()))

    def fitted(self) -> bool:
        return bool(self.fitted_ > 0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A weights file from before the colour lookup (the ``--pairs`` starting weights of
        2026-12-05, a user's model of then) grades as it did: its colour lookup is zero, no
        change."""
        state_dict.setdefault(prefix + "colour.table", torch.zeros_like(self.colour.table))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def tables(self, stats: torch.Tensor, cdf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Statistics (B, STATS) and cumulative histograms (B, 4, 256) → the grade: lookup tables
        (B, 3, 256) of each channel's levels and curve, and the colour mix (B, 3, 4)."""
        b = stats.shape[0]
        s = (stats - self.stat_mean) / self.stat_std
        v = torch.linspace(0.0, 1.0, 256, device=stats.device)
        p = self.levels(s).view(b, 3, 3)
        black, white, log_gamma = p[..., 0:1], 1.0 + p[..., 1:2], p[..., 2:3]
        z = ((v - black) / (white - black).clamp_min(MIN_RANGE)).clamp(1e-4, 1.0)
        tables = z ** torch.exp(log_gamma.clamp(-4.0, 4.0))
        onehot = torch.eye(3, device=stats.device)
        changes = []
        for c in range(3):
            inputs = [
                v.view(1, 256, 1).expand(b, 256, 1),
                cdf[:, c, :, None],
                cdf[:, 3, :, None],
                onehot[c].view(1, 1, 3).expand(b, 256, 3),
                s[:, None].expand(b, 256, STATS),
            ]
            changes.append(self.curve(torch.cat(inputs, -1))[..., 0])
        tables = tables + torch.stack(changes, 1)
        identity = torch.cat([torch.eye(3), torch.zeros(3, 1)], 1).to(stats)
        return tables, self.mix(s).view(b, 3, 4) + identity

    @staticmethod
    def mixed(tables: torch.Tensor, mix: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Pixels (B, N, 3) as 8-bit levels (long) → after the curves and the mix (B, N, 3)."""
        looked = torch.gather(tables, 2, idx.transpose(1, 2)).transpose(1, 2)
        return looked @ mix[..., :3].transpose(1, 2) + mix[:, None, :, 3]

    def graded(self, tables: torch.Tensor, mix: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Pixels (B, N, 3) as 8-bit levels (long) → graded (B, N, 3), unclipped: the curves,
        the mix, then the colour lookup's change at the mixed colour."""
        mixed = self.mixed(tables, mix, idx)
        return mixed + self.colour.looked_up(mixed)

    @torch.no_grad()
    def _solve_lookup(
        self,
        stats: torch.Tensor,
        cdf: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
        rng: np.random.Generator,
    ) -> tuple[float | None, float]:
        """Solve the colour lookup exactly for the fitted curves, or keep the one the descent
        left, as a held-back fifth of the photos says. The descent learns the table with the
        curves (so the curves do not bend to state a change of hue), but only nears its best
        values; solved, they are exact for the photos seen. For an edit of hue (the colour grade
        of ``benchmarks/learn_from_pairs.py``) that is what every photo needs: 38.1 dB on
        held-back pairs solved after a descent without the table, 44.2 with it. For a per-photo
        edit (an auto-level) one table gets only each photo's own residue, which it fits on
        the photos it saw and misses on others (46.8 dB without a table, 45.5 solved). So each
        smoothness of SMOOTHNESS is solved on the other photos and scored on the held-back
        ones against the descent's table; the winner is solved again on all photos. Returns
        (the smoothness, or None for the descent's table; the loss on the sampled pixels)."""
        n = x.shape[0]
        take = torch.from_numpy(rng.integers(0, SAMPLES, (n, max(SOLVE_PIXELS // n, 1))))
        rows = torch.arange(n)[:, None]
        mixed = self.mixed(*self.tables(stats, cdf), x[rows, take])
        target = y[rows, take]

        def loss(photos: torch.Tensor) -> float:
            m = mixed[photos].reshape(-1, 3)
            out = m + self.colour.looked_up(m[None])[0]
            t = target[photos].reshape(-1, 3)
            clipped = (t <= 0) | (t >= 1)
            return F.mse_loss(torch.where(clipped, out.clamp(0, 1), out), t).item()

        def solve(photos: torch.Tensor, smooth: float) -> None:
            m = mixed[photos].reshape(-1, 3)
            self.colour.solve(m, target[photos].reshape(-1, 3) - m, smooth)

        every = torch.arange(n)
        held, kept = every[every % 5 == 4], every[every % 5 != 4]
        descended = self.colour.table.detach().clone()
        best, best_loss = None, loss(held) if len(held) else float("inf")
        for smooth in SMOOTHNESS if len(held) else ():
            solve(kept, smooth)
            held_loss = loss(held)
            if held_loss < best_loss:
                best, best_loss = smooth, held_loss
        self.colour.table.copy_(descended)
        if best is not None:
            solve(every, best)
        return best, loss(every)

    @torch.no_grad()
    def photo(self, img: np.ndarray) -> np.ndarray:
        """The estimate of a whole HxWx3 photo (uint8, or float in [0, 1]) as uint8."""
        u8 = rgb_uint8(img)
        if not self.fitted():
            return u8.copy()
        stats, cdf = statistics(u8)
        tables, mix = self.tables(torch.from_numpy(stats)[None], torch.from_numpy(cdf)[None])
        # applied to rows of the photo: memory stays a few rows' worth at 24 MP
        out = np.empty(u8.shape[:2] + (3,), np.uint8)
        for top in range(0, u8.shape[0], ROWS):
            rows = u8[top : top + ROWS, :, :3]
            idx = torch.from_numpy(rows.reshape(1, -1, 3).astype(np.int64))
            graded = self.graded(tables, mix, idx)[0].numpy().reshape(rows.shape)
            graded = np.nan_to_num(graded, nan=0.0) * 255.0  # a bad weights file: no NaN cast
            out[top : top + ROWS] = np.clip(np.rint(graded), 0, 255).astype(np.uint8)
        return out

    def fit(
        self,
        pairs: list[tuple[np.ndarray, ...]],
        progress: bool = True,
        minutes: float | None = 2.0,
        steps: int | None = None,
        seed: int = 0,
    ) -> dict:
        """Fit on whole pairs (I, f(I), ...) uint8 by Adam on SAMPLES pixels of each, for
        ``steps`` steps or else ``minutes`` (the rate annealed over whichever is given), then
        freeze. Pixels the edit clipped (0 or 255) are compared after the estimate is clipped
        too. Returns {"photos", "steps", "minutes", "psnr"} (the last: on the sampled pixels)."""
        start = time.time()
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        stats, cdfs, xs, ys = [], [], [], []
        for x, y, *_ in pairs:
            x, y = rgb_uint8(x), rgb_uint8(y)
            s, c = statistics(x)
            stats.append(s)
            cdfs.append(c)
            take = rng.integers(0, x.shape[0] * x.shape[1], SAMPLES)
            xs.append(x.reshape(-1, 3)[take].astype(np.int64))
            ys.append(y.reshape(-1, 3)[take].astype(np.float32) / 255)
        stats_t = torch.from_numpy(np.stack(stats))
        cdf_t = torch.from_numpy(np.stack(cdfs))
        x_t, y_t = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
        with torch.no_grad():
            self.stat_mean.copy_(stats_t.mean(0))
            self.stat_std.copy_(stats_t.std(0, unbiased=False) + 1e-3)
        params = list(self.parameters())
        for p in params:  # a refit of a frozen estimate
            p.requires_grad_(True)
        with torch.no_grad():
            self.colour.table.zero_()
        self.train()
        opt = torch.optim.Adam(params, lr=LR, weight_decay=1e-4)
        done, loss_avg = 0, None
        bar = tqdm(total=steps, desc="fitting the grade", disable=not progress, leave=False)
        while True:
            elapsed = time.time() - start
            frac = done / steps if steps else elapsed / max(60.0 * (minutes or 0.0), 1e-9)
            if frac >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = LR * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
            photos = rng.choice(len(pairs), min(BATCH_PHOTOS, len(pairs)), replace=False)
            pick = torch.from_numpy(rng.integers(0, SAMPLES, (len(photos), BATCH_PIXELS)))
            rows = torch.from_numpy(photos)[:, None]
            idx, target = x_t[rows, pick], y_t[rows, pick]
            out = self.graded(*self.tables(stats_t[photos], cdf_t[photos]), idx)
            clipped = (target <= 0) | (target >= 1)
            loss = F.mse_loss(torch.where(clipped, out.clamp(0, 1), out), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            value = loss.item()
            loss_avg = value if loss_avg is None else 0.98 * loss_avg + 0.02 * value
            bar.update(1)
        bar.close()
        lookup, loss_avg = self._solve_lookup(stats_t, cdf_t, x_t, y_t, rng)
        self.fitted_.fill_(1.0)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        psnr = 10 * math.log10(1.0 / max(loss_avg or 1.0, 1e-12))
        return {
            "photos": len(pairs),
            "steps": done,
            "minutes": round((time.time() - start) / 60, 2),
            "psnr": round(psnr, 2),
            "lookup_smooth": lookup,
        }
