"""Applications: highlight-preserving exposure (brighten twice) and portrait skin retouching.

img ──► sRGB→linear ──► ×gain, clip ──► linear→sRGB ──► img              (exposure)
img ──► faces (LBP cascade) + skin colour ──► soft mask ──► blend(img, edge-aware smooth)
                                                                          (retouch)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from restorable.image import to_uint8
from restorable.operators.registry import register


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding, float64."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding, float64."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.maximum(x, 0.0) ** (1 / 2.4) - 0.055)


@register(
    "exposure",
    "app",
    "Exposure adjustment (brighten twice)",
    "Xiao, Ouyang et al. Learning restorable image operators with quasi-invertible networks "
    "(highlight-preserving exposure application). AAAI 2022",
)
def exposure(img: np.ndarray, *, gain: float = 2.0) -> np.ndarray:
    """Brighten by ``gain`` in linear light and clip highlights: sRGB(min(1, gain·lin(img))).

    The exposure application of "Learning restorable image operators with quasi-invertible
    networks" (AAAI 2022): a brighter photo whose clipped highlights a restorable model can
    bring back. Exact, per pixel and per channel.

    Args:
        img: float32 HxWx3 in [0, 1].
        gain: multiplier in linear light (default 2.0, "one stop"; useful 0.25-8).
    """
    lin = np.clip(srgb_to_linear(img) * float(gain), 0.0, 1.0)
    return np.clip(linear_to_srgb(lin), 0.0, 1.0).astype(np.float32)


@lru_cache(maxsize=1)
def _face_cascade() -> cv2.CascadeClassifier:
    """The LBP frontal-face cascade shipped inside scikit-image's wheel.

    opencv-python 5.0 wheels no longer ship cv2.data.haarcascades; scikit-image carries
    OpenCV's lbpcascade_frontalface for its own detector, so we reuse that file. Its copy spells
    one tag ``featuhreParams``, which OpenCV's loader rejects; we fix the tag in memory.
    """
    import skimage

    path = Path(skimage.__file__).parent / "data" / "lbpcascade_frontalface_opencv.xml"
    text = path.read_text().replace("featuhreParams", "featureParams")
    storage = cv2.FileStorage(text, cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_MEMORY)
    cascade = cv2.CascadeClassifier()
    if not cascade.read(storage.getFirstTopLevelNode()) or cascade.empty():
        raise RuntimeError(f"could not load the face cascade {path}")
    return cascade


def detect_faces(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) found by the LBP cascade, largest first (deterministic)."""
    grey = cv2.equalizeHist(cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2GRAY))
    min_side = max(16, min(grey.shape) // 20)
    if min(grey.shape) < min_side:
        return []
    faces = _face_cascade().detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side)
    )
    boxes = [tuple(int(v) for v in f) for f in np.asarray(faces).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: (-b[2] * b[3], b[0], b[1]))


def skin_mask(img: np.ndarray) -> np.ndarray:
    """Binary skin-colour mask (YCrCb box of Chai & Ngan 1999: Cr 133-173, Cb 77-127)."""
    ycrcb = cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[:, :, 1], ycrcb[:, :, 2]
    return ((cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)).astype(np.float32)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    k = int(2 * round(3 * sigma) + 1)
    return cv2.GaussianBlur(mask, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)


@register(
    "retouch",
    "app",
    "Portrait skin retouching",
    "Xiao, Ouyang et al. Learning restorable image operators with quasi-invertible networks "
    "(face retouching application). AAAI 2022; guided filter: He, Sun, Tang. ECCV 2010",
)
def retouch(img: np.ndarray, *, strength: float = 1.0, eps: float = 0.01) -> np.ndarray:
    """Smooth skin in faces with an edge-aware filter; leave everything else untouched.

    The face-retouching application of "Learning restorable image operators with quasi-invertible
    networks" (AAAI 2022). Faces are found with OpenCV's LBP cascade; the mask is the YCrCb
    skin-colour range inside an ellipse around each (enlarged) face box, feathered. Skin is
    smoothed with the guided filter (Kaiming He, Jian Sun, Xiaoou Tang, "Guided image
    filtering", ECCV 2010), self-guided, radius ~ face width / 25: blemishes whose contrast is
    well below sqrt(eps) vanish, strong edges (eyes, lips, hair line) stay. Pixels outside the
    feathered mask are returned unchanged. Without a detected face the skin mask alone is used.

    Args:
        img: float32 HxWx3 in [0, 1].
        strength: blend weight of the smoothed skin, 0-1 (default 1.0).
        eps: guided-filter regulariser (variance); edges with contrast above ~sqrt(eps) are kept
            (default 0.01, i.e. 0.1; useful 0.001-0.05).
    """
    img = np.ascontiguousarray(img, dtype=np.float32)
    h, w = img.shape[:2]
    skin = skin_mask(img)
    faces = detect_faces(img)
    if faces:
        region = np.zeros((h, w), np.float32)
        for x, y, bw, bh in faces:
            centre = (int(x + bw / 2), int(y + bh / 2 + 0.1 * bh))
            axes = (int(0.65 * bw), int(0.8 * bh))
            cv2.ellipse(region, centre, axes, 0, 0, 360, 1.0, -1)
        face_w = faces[0][2]
        mask = _feather(skin * region, max(1.0, face_w / 40))
        radius = max(2, int(round(face_w / 25)))
    else:
        radius = max(2, int(round(min(h, w) / 100)))
        mask = _feather(skin, max(1.0, radius / 2))
    return smooth_under_mask(img, mask, radius=radius, strength=strength, eps=eps)


def smooth_under_mask(
    img: np.ndarray, mask: np.ndarray, *, radius: int, strength: float = 1.0, eps: float = 0.01
) -> np.ndarray:
    """Self-guided filter of ``img`` blended in by ``strength * mask``; exact copy where 0."""
    img = np.ascontiguousarray(img, dtype=np.float32)
    smooth = cv2.ximgproc.guidedFilter(img, img, int(radius), float(eps))
    m = (float(strength) * mask)[:, :, None]
    out = img + m * (smooth - img)
    out = np.where(m > 0, out, img)  # exactly unchanged where the mask is zero
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def random_soft_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A few feathered ellipses of random size, place and opacity: stand-ins for skin regions.

    The photo set holds few portraits, so the retouch model is trained to smooth under masks
    like these on any photo; at apply time the guided model reads the real (face) mask's output.
    """
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.uniform(0.05, 0.35) * w), int(rng.uniform(0.05, 0.35) * h))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        # opacity varies per region, as a skin mask's soft edges and partial coverage do
    mask *= float(rng.uniform(0.6, 1.0))
    return np.clip(_feather(mask, max(1.0, min(h, w) / rng.uniform(20, 60))), 0.0, 1.0)


def retouch_random_mask(img: np.ndarray, *, seed: int, eps: float = 0.01) -> np.ndarray:
    """The retouch smoothing under a random soft mask (training pairs for ``retouch``)."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    radius = int(rng.integers(2, max(3, min(h, w) // 40) + 1))
    return smooth_under_mask(img, random_soft_mask(h, w, rng), radius=radius, eps=eps)
