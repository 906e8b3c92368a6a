"""Reading and writing image files safely.

Reading turns every way a file can be wrong into a one-line :class:`RestorableError`. Writing goes
to a temporary file in the destination folder and is renamed into place, so a failure or Ctrl-C
never leaves a half-written output, and an input is never overwritten.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from restorable.errors import RestorableError
from restorable.image import MIN_SIDE

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an RGB photo as uint8 HxWx3, honouring EXIF orientation."""
    path = Path(path)
    if not path.exists():
        raise RestorableError(f"{path}: no such file")
    if path.is_dir():
        raise RestorableError(f"{path}: is a folder, not an image file")
    if path.stat().st_size == 0:
        raise RestorableError(f"{path}: file is empty")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode != "RGB":
                raise RestorableError(
                    f"{path}: image mode {im.mode} is not supported; convert it to 8-bit RGB"
                )
            arr = np.asarray(im, dtype=np.uint8).copy()
    except RestorableError:
        raise
    except UnidentifiedImageError:
        raise RestorableError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise RestorableError(f"{path}: cannot read image ({exc})") from None
    if min(arr.shape[:2]) < MIN_SIDE:
        raise RestorableError(f"{path}: image is too small ({arr.shape[1]}x{arr.shape[0]})")
    return arr


def write_image(
    path: str | os.PathLike,
    img: np.ndarray,
    quality: int | None = None,
    force: bool = True,
) -> Path:
    """Write uint8 HxWx3 ``img`` to ``path`` (PNG, or JPEG by suffix) atomically.

    ``quality`` applies to JPEG (default 95, no chroma subsampling). With ``force=False`` an
    existing file is refused.
    """
    path = Path(path)
    if path.exists() and not force:
        raise RestorableError(f"{path}: already exists (use --force to overwrite)")
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        fmt, kwargs = "JPEG", {"quality": quality or 95, "subsampling": 0}
    elif suffix == ".png":
        fmt, kwargs = "PNG", {}
    else:
        raise RestorableError(f"{path}: output must end in .png, .jpg or .jpeg")
    if not path.parent.exists():
        raise RestorableError(f"{path.parent}: output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".restorable-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(np.asarray(img, dtype=np.uint8), "RGB").save(fh, fmt, **kwargs)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RestorableError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
