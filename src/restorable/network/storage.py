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


def jpeg_roundtrip(x: np.ndarray, quality: int) -> np.ndarray:
    """Encode uint8 HxWx3 as JPEG (no chroma subsampling, as we save) and decode it."""
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=int(quality), subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def jpeg(x: torch.Tensor, qualities: list[int] | torch.Tensor) -> torch.Tensor:
    """Compression-aware µ: f̂ + ε with ε = JPEG(f̂) − f̂ from a real codec, held constant.

    ``qualities`` gives one JPEG quality per image in the batch.
    """
    with torch.no_grad():
        u8 = (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        dec = np.stack([jpeg_roundtrip(im, int(q)) for im, q in zip(u8, qualities, strict=True)])
        target = torch.from_numpy(dec).to(x.device).permute(0, 3, 1, 2).float() / 255
    return x + (target - x).detach()
