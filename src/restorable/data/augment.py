"""Augmented training photos: rescaled and jittered copies, each with its own f(I) (#31).

    photo ─► resize to max_side ─► I            ─► f(I)            the plain pair (unchanged)
      ├────► resize to s·max_side ─► I_s        ─► f(I_s)          one per scale s (never upscaled)
      └────► I ─► jitter j (exposure, colour) ─► I_j ─► f(I_j)     one per jitter copy j

The classic operators are neither scale- nor exposure-equivariant (an L0 smoothing of a photo at
half size is not the half-size L0 smoothing; a tone curve of a brighter photo is not a brighter
tone curve), so an augmented input cannot reuse its photo's target: every copy is one more cached
pair with f computed on the copy (``data.pairs.compute_augmented_pairs``). Flips and quarter turns
need no such thing (the operators are isotropic), so ``PairCrops`` still draws them per crop.

Each copy is keyed by its own :class:`Variant` (the scale, or the jitter index and ranges), so
the plain pairs' cache is untouched and going from ``jitter=1`` to ``jitter=2`` reuses the first
copy. Jitter draws are seeded by the photo's bytes and the copy's index: the cache is the same on
every machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from restorable.data.pairs import _code_closure, resize_max_side
from restorable.errors import RestorableError
from restorable.image import to_uint8
from restorable.operators.photo import linear_to_srgb, srgb_to_linear

# A rescaled copy is made only where it is at most this fraction of the photo's plain (training)
# size: never an upscale, and no near-copy of the plain pair (a photo 330 px long would otherwise
# get a "0.5 × 640" copy of 320 px: the plain pair again at twice the computing cost).
SCALE_MARGIN = 0.9

# Rec. 709 luminance weights, for linear RGB (saturation is mixed towards linear luminance)
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class Variant:
    """One augmented copy of every photo: rescaled so its longer side is ``scale`` × max_side,
    or jittered copy number ``jitter`` (its draws within ±``stops`` of exposure, ±``colour`` of
    gain per channel and ±``saturation`` of saturation)."""

    scale: float | None = None
    jitter: int | None = None
    stops: float = 0.0
    colour: float = 0.0
    saturation: float = 0.0

    @property
    def label(self) -> str:
        """Short name in the cache folder: ``s0.5`` or ``j0``."""
        return f"s{self.scale:g}" if self.scale is not None else f"j{self.jitter}"

    def key(self) -> dict:
        """What the cache key holds of this copy: its recipe and the code that makes it."""
        if self.scale is not None:
            recipe = {"scale": self.scale}
        else:
            recipe = {
                "jitter": self.jitter,
                "stops": self.stops,
                "colour": self.colour,
                "saturation": self.saturation,
            }
        code = "\n".join(_code_closure(make_variant))
        return {**recipe, "code": hashlib.sha256(code.encode()).hexdigest()[:10]}

    def longer_side(self, photo_longer: int, max_side: int | None) -> int | None:
        """The copy's longer side for a photo whose own is ``photo_longer``; None where no copy
        is made (a rescale that would not shrink the plain pair by :data:`SCALE_MARGIN`)."""
        plain = photo_longer if max_side is None else min(photo_longer, max_side)
        if self.scale is None:
            return plain
        side = round(self.scale * (max_side or photo_longer))
        return side if side <= SCALE_MARGIN * plain else None


def make_variant(
    variant: Variant, photo: np.ndarray, plain: np.ndarray, max_side: int | None, seed: int
) -> np.ndarray | None:
    """The copy ``variant`` of a photo: ``photo`` as decoded, ``plain`` its training-size copy
    (:func:`~restorable.data.pairs.resize_max_side`), ``seed`` from the photo's bytes. uint8;
    None where the photo is too small for a rescaled copy."""
    side = variant.longer_side(max(photo.shape[:2]), max_side)
    if side is None:
        return None
    if variant.scale is not None:  # one Lanczos from the photo as decoded, not from ``plain``
        return resize_max_side(photo, side)
    rng = np.random.default_rng([seed, variant.jitter])
    return jitter(plain, rng, variant.stops, variant.colour, variant.saturation)


def jitter(
    img: np.ndarray, rng: np.random.Generator, stops: float, colour: float, saturation: float
) -> np.ndarray:
    """Exposure and colour jitter of a uint8 photo, in linear light, clipped: uint8.

    Drawn uniformly: an exposure change within ±``stops`` (a gain of 2^stops), a gain per
    channel within ±``colour`` (a white-balance shift) and a saturation change within
    ±``saturation`` (each pixel's linear RGB moved away from or towards its luminance).

    Why linear light: exposure and white balance are gains on the light the sensor caught, so
    that is where they are multiplications (a gain on sRGB values brightens shadows and
    highlights unlike a camera does), and mixing towards luminance there keeps a pixel's
    brightness while its saturation changes. Why clip: a brighter exposure blows highlights
    out as a real over-exposed photo does, which is what the operators meet in users' photos;
    the copy is then encoded back to sRGB and rounded to 8 bits, as the plain photos are.
    (This is the ``exposure`` operator's own decoding, so that operator on a copy is exact.)
    """
    u = rng.uniform(-1.0, 1.0, size=5)
    gain = 2.0 ** (stops * u[0]) * (1.0 + colour * u[1:4])
    lin = srgb_to_linear(img.astype(np.float64) / 255.0) * gain
    grey = lin @ LUMINANCE
    lin = grey[..., None] + (1.0 + saturation * u[4]) * (lin - grey[..., None])
    return to_uint8(linear_to_srgb(np.clip(lin, 0.0, 1.0)))


@dataclass
class Augment:
    """Which augmented copies training adds (``TrainConfig.augment``); none by default.

    ``scales``: factors of ``max_side`` in (0, 1), one rescaled copy each (0.5 and 0.75 with
    max_side 640: copies 320 and 480 px long), made where the photo is big enough (never an
    upscale: :data:`SCALE_MARGIN`), so coarse texture is seen at the scale fine texture is.
    ``jitter``: exposure-and-colour copies per photo (:func:`jitter`), within ±``stops`` of
    exposure, ±``colour`` of gain per channel, ±``saturation`` of saturation. The ranges are
    a first choice, not a measured one.
    """

    scales: tuple[float, ...] = ()
    jitter: int = 0
    stops: float = 0.7
    colour: float = 0.08
    saturation: float = 0.15

    def __post_init__(self) -> None:
        self.scales = tuple(float(s) for s in self.scales)

    def __bool__(self) -> bool:
        return bool(self.scales or self.jitter)

    def check(self) -> None:
        """One-line errors for copies that cannot be made."""
        for s in self.scales:
            if not 0 < s < 1:
                raise RestorableError(f"scale {s:g}: give factors of max_side between 0 and 1")
        if len(set(self.scales)) != len(self.scales):
            raise RestorableError("scales: give each factor once")
        if self.jitter < 0:
            raise RestorableError(f"jitter {self.jitter}: give a number of copies, 0 for none")
        for name, high in (("stops", 4.0), ("colour", 1.0), ("saturation", 1.0)):
            value = getattr(self, name)
            if not 0 <= value < high:
                raise RestorableError(f"augment {name} {value:g}: give a range in [0, {high:g})")

    def variants(self) -> list[Variant]:
        """One :class:`Variant` per copy: the scales, then the jitter copies."""
        ranges = {"stops": self.stops, "colour": self.colour, "saturation": self.saturation}
        return [Variant(scale=s) for s in self.scales] + [
            Variant(jitter=j, **ranges) for j in range(self.jitter)
        ]
