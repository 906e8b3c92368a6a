"""µ_share, the storage model of a shared file: what a website does to an edit before anyone
downloads it again — downsize it, then re-encode it as JPEG with 4:2:0 chroma.

    f̂(I) ──► round to 8 bits ──► resize by s (Lanczos | bicubic | area, as sites use)
                                  ──► JPEG q70-95 (4:2:0 or 4:4:4) ──► the received file y_s
    I    ──► the same resize (in float, no rounding) ──► I_s, what restoring y_s should give

A share-robust model (``OP-share``) is trained to restore I_s from y_s with Δ = 0 at the
received size (``train.py``): the restoration loss is taken against the original as the site
would have resized it, since a received file carries nothing of the pixels the site threw away
and a user compares with the photo at the size they received (issue #28 chose this over
restoring to the original size, which would ask the network to invent the lost detail).

The gradient goes through a differentiable stand-in for the resize (torch's antialiased
bicubic, or area averaging) while the forward pass sees the real codec's bytes: the same
straight-through estimator as the JPEG µ (storage.py), with the resize put in front of it.
Each batch draws one scale and one method (all crops then share a size and stack); qualities
and chroma subsampling are drawn per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from restorable.network.storage import jpeg_roundtrip

# The resamplers sites use, as Pillow names them; each with the torch mode that stands in for
# it in the backward pass (Lanczos and bicubic are both windowed-sinc-like low-passes).
RESAMPLERS: dict[str, Image.Resampling] = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
}
_TORCH_MODE = {"lanczos": "bicubic", "bicubic": "bicubic", "area": "area"}
SCALES = (0.4, 1.0)  # the range of downscale factors a share draws from (issue #28)
FULL_SIZE_SHARE = 0.25  # of the draws keep the size: a plain JPEG re-encode, as OP-jpeg trains
MIN_SIDE = 16  # px: a received crop is never smaller (the inverse halves it once, Haar)


@dataclass(frozen=True)
class ShareDraw:
    """One batch's share pipeline: the received size, the resampler, and per image the JPEG
    quality and chroma subsampling (Pillow's 0 = 4:4:4, 2 = 4:2:0)."""

    size: tuple[int, int]
    method: str
    qualities: tuple[int, ...]
    subsampling: tuple[int, ...]


def draw_share(
    rng: np.random.Generator,
    batch: int,
    height: int,
    width: int,
    qualities: tuple[int, int] = (70, 95),
    subsampling: tuple[int, ...] = (0, 2),
    scales: tuple[float, float] = SCALES,
) -> ShareDraw:
    """A random share of a batch of ``height`` × ``width`` crops."""
    scale = 1.0 if rng.random() < FULL_SIZE_SHARE else float(rng.uniform(*scales))
    size = (max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale)))
    size = (min(size[0], height), min(size[1], width))
    method = str(rng.choice(list(RESAMPLERS)))
    q = rng.integers(qualities[0], qualities[1] + 1, size=batch)
    sub = rng.choice(list(subsampling), size=batch)
    return ShareDraw(size, method, tuple(int(v) for v in q), tuple(int(v) for v in sub))


def resize_u8(img: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """HxWx3 uint8 resized to ``size`` (h, w) as Pillow's ``method`` does it."""
    if img.shape[:2] == tuple(size):
        return img
    return np.asarray(Image.fromarray(img).resize(size[::-1], RESAMPLERS[method]))


def resize_float(img: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """HxWxC float resized channel by channel in float (Pillow's "F" mode: no rounding)."""
    if img.shape[:2] == tuple(size):
        return img.astype(np.float32)
    chans = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(img[..., c], np.float32), "F").resize(
                size[::-1], RESAMPLERS[method]
            )
        )
        for c in range(img.shape[2])
    ]
    return np.stack(chans, axis=-1)


def _torch_resize(x: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    mode = _TORCH_MODE[method]
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)


def share(out: torch.Tensor, draw: ShareDraw) -> torch.Tensor:
    """µ_share(f̂(I)) for a Bx3xHxW batch in [0, 1]: the received files' pixels in the forward
    pass (real Pillow resize and JPEG), a differentiable resize's gradient in the backward."""
    with torch.no_grad():
        u8 = (out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        got = np.stack(
            [
                jpeg_roundtrip(resize_u8(im, draw.size, draw.method), q, s)
                for im, q, s in zip(u8, draw.qualities, draw.subsampling, strict=True)
            ]
        )
        real = torch.from_numpy(got).to(out.device).permute(0, 3, 1, 2).float() / 255
    stand_in = _torch_resize(out, draw.size, draw.method)
    return stand_in + (real - stand_in).detach()


def received_original(x: torch.Tensor, draw: ShareDraw) -> torch.Tensor:
    """The original batch as the site would have resized it (the restoration's target)."""
    if tuple(x.shape[-2:]) == tuple(draw.size):
        return x
    arr = x.detach().permute(0, 2, 3, 1).float().cpu().numpy()
    small = np.stack([resize_float(im, draw.size, draw.method) for im in arr])
    return torch.from_numpy(small).to(x.device).permute(0, 3, 1, 2)


def pad_for_inverse(y: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``y`` reflect-padded on the bottom and right to a multiple of ``multiple`` (the inverse
    needs whole Haar cells), and its size to crop the restored batch back to."""
    h, w = y.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        y = F.pad(y, (0, pw, 0, ph), mode="reflect")
    return y, (h, w)
