"""µ, the storage model: what saving to 8-bit PNG or JPEG does to f̂(I), made differentiable.

Both use a straight-through estimator: the forward pass sees exactly what the file will hold,
the gradient flows to f̂(I) as if µ were the identity (Ouyang et al. 2022, Sec. 3.3).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0,1] and round to 1/255 (an 8-bit PNG), straight-through."""
    q = torch.round(x.clamp(0, 1) * 255) / 255
    return x + (q - x).detach()


def jpeg_roundtrip(x: np.ndarray, quality: int, subsampling: int = 0) -> np.ndarray:
    """Encode uint8 HxWx3 as JPEG and decode it. ``subsampling``: Pillow's 0 = 4:4:4 (as we
    save), 1 = 4:2:2, 2 = 4:2:0 (as phones, websites and most encoders' defaults save)."""
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=int(quality), subsampling=int(subsampling))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def jpeg(
    x: torch.Tensor,
    qualities: list[int] | torch.Tensor,
    subsampling: list[int] | None = None,
) -> torch.Tensor:
    """Compression-aware µ: f̂ + ε with ε = JPEG(f̂) − f̂ from a real codec, held constant.

    ``qualities`` (and ``subsampling``, default 4:4:4) give one setting per image in the batch:
    training over the variety real encoders produce is what lets a file survive re-encoding.
    """
    subsampling = [0] * len(x) if subsampling is None else subsampling
    with torch.no_grad():
        u8 = (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        dec = np.stack(
            [
                jpeg_roundtrip(im, int(q), int(s))
                for im, q, s in zip(u8, qualities, subsampling, strict=True)
            ]
        )
        target = torch.from_numpy(dec).to(x.device).permute(0, 3, 1, 2).float() / 255
    return x + (target - x).detach()
