"""ψ's view of the whole photo: a thumbnail, turned into global and coarse-grid parameters.

Some operators are not local: BWP's tones come from a histogram match over the whole photo, the
local Laplacian filter's coarse levels reach far, an exposure or auto-level edit normalises the
photo's tones as a whole. A ψ that sees a 96-px training crop, or only its receptive field at
apply time, cannot know those however long it trains (issue #26). So a learned model's ψ may
also read

    thumb  (B, 3, T, T)  the WHOLE photo resized to T×T (:func:`photo_thumbnail`), computed once
                         per photo: at apply time every tile reads the same one
    box    (B, 4)        where the crop or tile lies: (top, left, photo height, photo width) in
                         pixels, so a tile knows which part of the coarse grid is its own

and :class:`WholePhotoPath` turns them into

    "film"  a vector pooled from the thumbnail that scales and shifts every layer of ψ per
            channel (FiLM; Perez et al. 2018)
    "grid"  the same, plus an HDRNet-style bilateral grid of 3×4 affine colour transforms
            (Gharbi et al. 2017) sliced at each pixel by (x, y, a per-pixel guide): its output,
            a first estimate of f(I), is an extra input of ψ as the classic operator's output
            is for a guided model
    "curve" FiLM, plus a per-photo colour mix and four tone curves predicted from the
            thumbnail and its cumulative histograms, each built from per-segment slopes as a
            histogram match is (``global_psi.SlopeCurveEstimate``), the estimate entering ψ as
            the grid's does: a global tone operator is exactly of this form (BWP's best single
            per-photo curve of luma reaches 38 dB of its output, the grid 26). Alone for 4 CPU
            minutes on bwp the slope-built curves reached 28.66 dB, the knot-valued ones
            (``CurveEstimate``, before 2026-12-04) 27.12 at best, the grid 26.55

Chosen by curves (``benchmarks/psi_curves.py``, results/psi_curves.json, docs/psi_curves.png):
FiLM helps every operator that depends on the whole photo and costs nothing where none does;
the grid helps tone operators (bwp, exposure) most. Both are per channel or per pixel apart
from the thumbnail, so a tile's output equals the same region of one pass (positions are
computed as (top + i + 0.5) / height, the same float for a pixel whichever tile holds it).
ψ is not run on restore, so none of this is read there.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restorable.network.global_psi import (
    BilateralGrid,
    Guide,
    SlopeCurveEstimate,
    ThumbEncoder,
    apply_affine,
)

THUMB = 128  # thumbnail side: 4 px per cell of a 32×32 photo grid, a few ms per photo
KINDS = ("", "film", "grid", "curve")
ESTIMATING = ("grid", "curve")  # the paths whose estimate of f(I) is an input of ψ, and trained
FILM = 64  # size of the pooled vector that modulates ψ


def photo_thumbnail(img: np.ndarray, size: int = THUMB) -> torch.Tensor:
    """The whole photo (H×W×3 uint8, or float in [0, 1]) as a (1, 3, size, size) float tensor.

    Area-averaged by OpenCV on the array as it is, so a 24-megapixel uint8 photo is never
    converted to float whole; aspect is not kept (positions are fractions of the photo, so the
    grid's cells stretch with it). Training crops and apply call this same function."""
    small = cv2.resize(
        np.ascontiguousarray(img[..., :3]), (size, size), interpolation=cv2.INTER_AREA
    )
    t = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None].float()
    return t / 255 if img.dtype == np.uint8 else t


def photo_box(top: int, left: int, height: int, width: int, batch: int = 1) -> torch.Tensor:
    """The box of a window at (top, left) in a height×width photo, for ``batch`` crops."""
    return torch.tensor([[top, left, height, width]], dtype=torch.float32).expand(batch, 4)


def oriented(thumb: torch.Tensor, box: tuple[int, int, int, int], crop: int, k: int, flip: bool):
    """The thumbnail and box of a ``crop``-sized square at ``box`` = (top, left, H, W) once the
    photo is turned by ``np.rot90(·, k)`` and then mirrored left-right (``flip``), as training
    augments its crops: the crop of the turned photo at the new box is the turned crop."""
    top, left, h, w = box
    for _ in range(k % 4):  # rot90 (counter-clockwise): new[i, j] = old[j, W - 1 - i]
        top, left, h, w = w - left - crop, top, w, h
    if flip:
        left = w - left - crop
    t = torch.rot90(thumb, k, dims=(-2, -1))
    return (t.flip(-1) if flip else t), (top, left, h, w)


def pixel_coords(box: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre positions of an h×w window in grid_sample's [-1, 1] (align_corners=False):
    (B, h) for y and (B, w) for x. (top + i) is an exact integer in float32, so a pixel gets
    the same position whichever tile holds it."""
    i = torch.arange(h, dtype=box.dtype, device=box.device)
    j = torch.arange(w, dtype=box.dtype, device=box.device)
    y = (box[:, 0:1] + i[None] + 0.5) / box[:, 2:3]
    x = (box[:, 1:2] + j[None] + 0.5) / box[:, 3:4]
    return 2 * y - 1, 2 * x - 1


def slice_at(grid: torch.Tensor, guide: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Trilinear slice of ``grid`` (B, C, D, G, G) at a window's pixels (x, y from ``box``,
    depth from ``guide`` (B, 1, h, w)) → (B, C, h, w)."""
    b, _, h, w = guide.shape
    y, x = pixel_coords(box, h, w)
    pos = torch.stack(
        [x[:, None, :].expand(b, h, w), y[:, :, None].expand(b, h, w), 2 * guide[:, 0] - 1], -1
    )
    out = F.grid_sample(
        grid, pos[:, None], mode="bilinear", padding_mode="border", align_corners=False
    )
    return out[:, :, 0]


class WholePhotoPath(nn.Module):
    """thumb, box, window → (FiLM vector (B, FILM), grid estimate (B, 3, h, w) or None)."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in KINDS[1:]:
            raise ValueError(f"unknown whole-photo path {kind!r}; choose from film grid curve")
        self.kind = kind
        self.enc = ThumbEncoder(out=FILM)
        self.grid = BilateralGrid(thumb=THUMB) if kind == "grid" else None
        self.guide = Guide() if kind == "grid" else None
        self.curve = SlopeCurveEstimate() if kind == "curve" else None

    def forward(
        self, img: torch.Tensor, thumb: torch.Tensor, box: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self.enc(thumb)
        if self.curve is not None:
            return z, self.curve(img, thumb)
        if self.grid is None:
            return z, None
        coeffs = slice_at(self.grid(thumb), self.guide(img), box.to(img.dtype))
        return z, apply_affine(coeffs, img)
