"""Conversions between the image types the library accepts.

Operators work on float32 HxWx3 arrays in [0, 1] (channel last, as scikit-image does); files and
models exchange uint8 HxWx3. These helpers are the only place that converts, so every entry point
validates input the same way.
"""

from __future__ import annotations

import numpy as np

from restorable.errors import RestorableError

MIN_SIDE = 4


def check_image(img: np.ndarray) -> np.ndarray:
    """Validate an HxWx3 uint8 or float image without converting it (see as_float_image)."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise RestorableError(f"expected an RGB image of shape HxWx3, got shape {img.shape}")
    if min(img.shape[:2]) < MIN_SIDE:
        raise RestorableError(
            f"image is too small ({img.shape[1]}x{img.shape[0]}); each side needs at least "
            f"{MIN_SIDE} pixels"
        )
    if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
        raise RestorableError(f"expected uint8 or float image, got dtype {img.dtype}")
    return img


def as_float_image(img: np.ndarray) -> np.ndarray:
    """Return ``img`` as a C-contiguous float32 HxWx3 array in [0, 1].

    Accepts uint8 (0..255) or float (assumed in [0, 1], clipped). Raises RestorableError for any
    other shape or dtype, or a side shorter than MIN_SIDE pixels.
    """
    img = check_image(img)
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    else:
        out = np.clip(img.astype(np.float32), 0.0, 1.0)
    return np.ascontiguousarray(out)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a float image in [0, 1] to uint8 (values outside are clipped)."""
    return np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def rgb_uint8(img: np.ndarray) -> np.ndarray:
    """The first three channels of a uint8 image, or of a float one in [0, 1] rounded to uint8,
    C-contiguous (what OpenCV and the estimates' lookups take)."""
    x = np.asarray(img)[..., :3]
    return np.ascontiguousarray(x if x.dtype == np.uint8 else to_uint8(x))
