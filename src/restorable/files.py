"""Reading and writing image files safely.

    file ──► read_image ──► uint8 HxWx3 sRGB (+ alpha HxW)   any failure: one-line RestorableError
    uint8 ──► write_image ──► temp file in the same folder ──► rename (never onto an input)

What :func:`read_image` does with each kind of file (the model works on 8-bit sRGB only):

- Missing, empty, truncated, corrupt, not an image, a folder: refused. Every image is decoded in
  full (``im.load()``), so a truncated file fails here, not half-way through a batch.
- Larger than ``max_pixels`` (default 100 megapixels): refused from the header, before any pixel
  is allocated (decompression bombs).
- Several frames (animated GIF/PNG/WebP, multi-page TIFF): refused; split it first. MPO photos
  (phone cameras: a JPEG plus previews) are read as their first, main frame.
- EXIF orientation: applied, so the pixels are upright as a viewer shows them.
- 8-bit grayscale (``L``, ``1``) and palette (``P``): converted to RGB (grey stays grey). The
  restored original is then the RGB version.
- 16-bit (``I;16``, ``I`` grayscale, 48/64-bit RGB(A) PNG and TIFF): converted down to 8 bits
  per channel (grayscale rounded, v / 257; RGB keeps the high byte, as Pillow decodes it); the
  restored original is the 8-bit version. 32-bit float (``F``) is refused.
- CMYK: converted to sRGB through its embedded ICC profile, or with Pillow's plain formula when
  it has none (colours may then be off; a note says so).
- ICC profile other than sRGB (Adobe RGB, Display P3, ...): pixels converted to sRGB with
  PIL.ImageCms (perceptual intent), since outputs are written without a profile and read as
  sRGB. sRGB or no profile: pixels as stored. A profile lcms cannot parse is ignored.
- Transparency (``RGBA``, ``LA``, ``PA``, palette or key transparency): with ``with_alpha=True``
  the alpha channel is returned separately and can be written back unchanged with
  ``write_image(..., alpha=...)`` (PNG). Without it, a fully opaque alpha is dropped and any real
  transparency is refused, because the edit cannot carry it.

Each conversion appends a short sentence to ``notes`` when the caller passes a list.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from restorable.errors import RestorableError
from restorable.image import MIN_SIDE

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 100_000_000
META_KEY = "restorable"

# Pillow refuses (DecompressionBombError) above twice this; our own, clearer check at
# MAX_PIXELS runs first on every read, so Pillow's guard is only the backstop.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_SRGB = ImageCms.createProfile("sRGB")
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def read_image(
    path: str | os.PathLike,
    *,
    with_alpha: bool = False,
    max_pixels: int = MAX_PIXELS,
    notes: list[str] | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """Read a photo as uint8 HxWx3 sRGB, upright (see the module docstring for each file kind).

    With ``with_alpha=True`` return ``(rgb, alpha)`` where alpha is uint8 HxW or None.
    """
    path = Path(path)
    if not path.exists():
        raise RestorableError(f"{path}: no such file")
    if path.is_dir():
        raise RestorableError(f"{path}: is a folder, not an image file")
    if path.stat().st_size == 0:
        raise RestorableError(f"{path}: file is empty")
    notes = [] if notes is None else notes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                rgb, alpha = _decode(im, path, max_pixels, notes)
    except RestorableError:
        raise
    except UnidentifiedImageError:
        raise RestorableError(_not_an_image(path)) from None
    except Image.DecompressionBombError:
        raise RestorableError(_too_large(path, None, max_pixels)) from None
    except PermissionError:
        raise RestorableError(f"{path}: permission denied") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on malformed files
        raise RestorableError(f"{path}: cannot read image ({_one_line(exc)})") from None
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise RestorableError(f"{path}: image is too small ({rgb.shape[1]}x{rgb.shape[0]})")
    if alpha is not None and not with_alpha:
        if alpha.min() < 255:
            raise RestorableError(
                f"{path}: image has transparency, which this command cannot carry; "
                "flatten it onto a background first"
            )
        notes.append("dropped a fully opaque alpha channel")
        alpha = None
    return (rgb, alpha) if with_alpha else rgb


def _decode(
    im: Image.Image, path: Path, max_pixels: int, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Everything after ``Image.open``: checks, full decode, orientation, mode and colour."""
    w, h = im.size
    if w * h > max_pixels:
        raise RestorableError(_too_large(path, (w, h), max_pixels))
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":
        raise RestorableError(
            f"{path}: has {frames} frames (animation or multi-page); save one frame as PNG first"
        )
    # Pillow reads 48/64-bit RGB(A) PNG and TIFF as 8-bit modes; the raw mode tells.
    sixteen_bit = bool(im.tile) and ";16" in str(im.tile[0].args)
    im.load()  # full decode: truncated or corrupt data fails here
    icc = im.info.get("icc_profile")
    im = ImageOps.exif_transpose(im)
    if sixteen_bit and im.mode in ("RGB", "RGBA"):
        notes.append("converted 16 bits per channel to 8")

    if im.mode in _SIXTEEN_BIT_MODES:
        # Pillow gives 16-bit grayscale as I;16* or I; scale 0..65535 to 0..255.
        values = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), "L")
        notes.append("converted 16-bit grayscale to 8 bits")
        icc = None
    elif im.mode == "F":
        raise RestorableError(f"{path}: 32-bit float images are not supported; save as 8-bit")

    if im.mode == "P" or (im.mode in ("L", "RGB") and "transparency" in im.info):
        has_alpha = "transparency" in im.info or (im.palette and im.palette.mode == "RGBA")
        if im.mode == "P":
            notes.append("converted palette colours to RGB")
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif im.mode in _ALPHA_MODES:
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")

    alpha = None
    if im.mode == "RGBA":
        alpha = np.asarray(im.getchannel("A"), dtype=np.uint8).copy()
        im = im.convert("RGB")

    if im.mode == "CMYK":
        converted = _to_srgb(im, icc) if icc else None
        if converted is None:
            notes.append("converted CMYK without a colour profile; colours may be off")
            converted = im.convert("RGB")
        else:
            notes.append("converted CMYK to sRGB with its colour profile")
        im = converted
    elif im.mode in ("L", "RGB"):
        if icc and not _is_srgb(icc):
            converted = _to_srgb(im, icc)
            if converted is not None:
                notes.append("converted colours to sRGB from the embedded profile")
                im = converted
        if im.mode == "L":
            notes.append("converted grayscale to RGB")
            im = im.convert("RGB")
    elif im.mode == "YCbCr":
        im = im.convert("RGB")
    else:
        raise RestorableError(
            f"{path}: image mode {im.mode} is not supported; save it as 8-bit RGB (PNG or JPEG)"
        )
    return np.asarray(im, dtype=np.uint8).copy(), alpha


def _is_srgb(icc: bytes) -> bool:
    try:
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return True  # unreadable: treat as the sRGB every viewer assumes
    return "srgb" in desc.lower()


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """``im`` (L, RGB or CMYK) converted from profile ``icc`` to sRGB RGB, or None on failure."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return None


def _too_large(path: Path, size: tuple[int, int] | None, max_pixels: int) -> str:
    dims = f" ({size[0]}x{size[1]})" if size else ""
    return (
        f"{path}: image is too large{dims}; the limit is {max_pixels / 1e6:g} megapixels "
        "(downscale it first)"
    )


_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\0", b"MM\0*", b"BM", b"RIFF")


def _not_an_image(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        head = b""
    if head.startswith(_MAGIC):
        return f"{path}: corrupt image file (its header cannot be decoded)"
    return f"{path}: not an image file (or a format Pillow cannot read)"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def check_not_input(path: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise RestorableError if ``path`` is (or resolves to) one of ``inputs``."""
    path = Path(path)
    for inp in inputs:
        inp = Path(inp)
        same = path.resolve() == inp.resolve()
        if not same and path.exists() and inp.exists():
            same = os.path.samefile(path, inp)  # hard links, case-insensitive file systems
        if same:
            raise RestorableError(f"{path}: is an input file; refusing to overwrite it")


def check_quality(quality: int | None) -> None:
    """A JPEG quality outside 1-100 is an error here, not something Pillow quietly clamps."""
    if quality is not None and not 1 <= quality <= 100:
        raise RestorableError(f"--quality {quality}: give a JPEG quality from 1 to 100")


# zlib level of the PNGs we write. Measured on a 24-megapixel photo (Pillow 13, this 2-core
# machine): level 1 encodes in 5.2 s and 34.4 MB, Pillow's default 6 in 36.3 s and 29.3 MB
# (+17% size for 7x the speed); 9 is for the smallest files (--png-compression 9).
PNG_COMPRESSION = 1


def check_png_compression(level: int) -> None:
    """A zlib level outside 0-9 is a one-line error, before any work."""
    if not (isinstance(level, int) and 0 <= level <= 9):
        raise RestorableError(f"--png-compression {level}: give a level from 0 (fastest) to 9")


def write_image(
    path: str | os.PathLike,
    img: np.ndarray,
    quality: int | None = None,
    force: bool = False,
    *,
    meta: dict[str, str] | None = None,
    alpha: np.ndarray | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    png_compression: int = PNG_COMPRESSION,
) -> Path:
    """Write uint8 HxWx3 ``img`` to ``path`` (PNG, or JPEG by suffix) atomically.

    ``quality`` applies to JPEG (default 95, no chroma subsampling). An existing file needs
    ``force=True``; a path that is one of ``inputs`` is always refused. ``meta`` is stored as
    JSON: a PNG iTXt chunk keyed "restorable", or the JPEG comment (COM) segment; read it back
    with :func:`read_meta`. ``alpha`` (uint8 HxW) is written as the PNG's alpha channel.
    The file goes to a temporary name in the same folder first and is renamed into place, so
    a failure or Ctrl-C leaves no partial output. ``png_compression``: zlib level 0-9 for PNG
    (see :data:`PNG_COMPRESSION`; the pixels are the same at every level).
    """
    path = Path(path)
    check_not_input(path, inputs)
    check_quality(quality)
    if path.is_dir():
        raise RestorableError(f"{path}: is a folder; give an output file name")
    if path.exists() and not force:
        raise RestorableError(f"{path}: already exists (use --force to overwrite)")
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise RestorableError(f"expected a uint8 HxWx3 image, got {img.dtype} {img.shape}")
    suffix = path.suffix.lower()
    text = json.dumps(meta, sort_keys=True) if meta is not None else None
    if suffix in (".jpg", ".jpeg"):
        if alpha is not None:
            raise RestorableError(f"{path}: JPEG cannot store transparency; write a .png")
        fmt, kwargs = "JPEG", {"quality": quality or 95, "subsampling": 0}
        if text is not None:
            kwargs["comment"] = text.encode("utf-8")
    elif suffix == ".png":
        check_png_compression(png_compression)
        fmt, kwargs = "PNG", {"compress_level": png_compression}
        if text is not None:
            info = PngImagePlugin.PngInfo()
            info.add_itxt(META_KEY, text)
            kwargs["pnginfo"] = info
    else:
        raise RestorableError(f"{path}: output must end in .png, .jpg or .jpeg")
    pil = Image.fromarray(img, "RGB")
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.uint8)
        if alpha.shape != img.shape[:2]:
            raise RestorableError(f"alpha shape {alpha.shape} does not match image {img.shape}")
        pil.putalpha(Image.fromarray(alpha, "L"))
    if not path.parent.exists():
        raise RestorableError(f"{path.parent}: output folder does not exist")
    tmp = None
    try:
        fd, tmp = _create_temp(path.parent, suffix)
        with os.fdopen(fd, "wb") as fh:
            pil.save(fh, fmt, **kwargs)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, PermissionError):
            raise RestorableError(f"{path}: cannot write (permission denied)") from None
        if isinstance(exc, OSError):
            raise RestorableError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def _create_temp(folder: Path, suffix: str) -> tuple[int, str]:
    """A new file ``.restorable-XXXX<suffix>`` in ``folder``, opened for writing: (fd, path).

    Created with mode 0666 so the kernel applies the process umask itself, as for any file the
    user makes; reading the umask would mean setting it (``os.umask``), which changes it for a
    moment for every thread of the process (the web page's workers among them).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = folder / f".restorable-{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(name, flags, 0o666), str(name)
        except FileExistsError:
            continue
    raise RestorableError(f"{folder}: cannot create a temporary file there")


# The most of a file's record that is read (its text chunk or comment); a record is far smaller
# (record.MAX_RECORD_BYTES), and a larger one is refused as too large without reading it all.
MAX_META_READ = 64 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")


def read_meta_text(path: str | os.PathLike) -> str | None:
    """The raw text :func:`write_image` stored as ``meta`` in ``path`` (None if there is none),
    without decoding a single pixel: at most :data:`MAX_META_READ` bytes of it.

    PNG: the chunks are walked by hand, because Pillow reads text chunks that follow the pixels
    (where other tools move them) only by decoding the whole image first, every frame of an
    animated one too, before any size check could refuse it. JPEG and others: Pillow's header
    parse (the comment segment precedes the pixels).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(8) == _PNG_SIGNATURE:
                return _png_text(fh, META_KEY)
        with Image.open(path) as im:  # reads the header only
            text = im.info.get("comment")
    except FileNotFoundError:
        raise RestorableError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RestorableError(f"{path}: is a folder, not an image file") from None
    except PermissionError:
        raise RestorableError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise RestorableError(_not_an_image(path)) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on malformed files
        raise RestorableError(f"{path}: cannot read image ({_one_line(exc)})") from None
    if isinstance(text, bytes):
        text = text[:MAX_META_READ].decode("utf-8", errors="replace")
    return text[:MAX_META_READ] if isinstance(text, str) else None


def _png_text(fh, key: str) -> str | None:
    """The text chunk named ``key`` in the PNG stream ``fh`` (after its signature), or None.

    Stops at IEND, at the end of the data or at a malformed chunk header: a truncated or
    corrupt file is read_image's to refuse, here it just has no record. Each chunk's data is
    skipped by seeking, so the cost is one small read per chunk whatever the image's size.
    """
    wanted = key.encode("latin-1")
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return None
        length, cid = int.from_bytes(head[:4], "big"), head[4:]
        if length > 0x7FFFFFFF or not cid.isalpha():
            return None
        if cid == b"IEND":
            return None
        if cid not in _TEXT_CHUNKS:
            fh.seek(length + 4, os.SEEK_CUR)  # data and CRC
            continue
        data = fh.read(min(length, MAX_META_READ + 200))
        fh.seek(length - len(data) + 4, os.SEEK_CUR)
        name, _, rest = data.partition(b"\0")
        if name != wanted:
            continue
        return _chunk_text(cid, rest)


def _chunk_text(cid: bytes, rest: bytes) -> str:
    """A PNG text chunk's value (``rest``: what follows its keyword's NUL), decompressed to at
    most MAX_META_READ bytes (a zlib bomb cannot grow past that)."""
    compressed = False
    if cid == b"iTXt":
        if len(rest) < 2:
            return ""
        compressed = rest[0] == 1
        value = rest[2:].split(b"\0", 2)  # language, translated keyword, text
        rest = value[2] if len(value) == 3 else b""
    elif cid == b"zTXt":
        compressed, rest = True, rest[1:]
    if compressed:
        try:
            rest = zlib.decompressobj().decompress(rest, MAX_META_READ)
        except zlib.error:
            return ""
    encoding = "utf-8" if cid == b"iTXt" else "latin-1"
    return rest[:MAX_META_READ].decode(encoding, errors="replace")


def read_meta(path: str | os.PathLike) -> dict | None:
    """The ``meta`` dict :func:`write_image` stored in ``path``, or None if it has none or it is
    not a JSON object of at most MAX_META_READ bytes. Generic: a *record*, with every field
    checked, is :func:`restorable.record.read_record`'s."""
    text = read_meta_text(path)
    if not text or len(text) >= MAX_META_READ:
        return None
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return meta if isinstance(meta, dict) else None


def content_hash(img: np.ndarray) -> str:
    """First 12 hex digits of the sha256 of a uint8 image's pixel bytes (C order).

    Stable only for lossless files: a PNG read back hashes the same, a JPEG does not (its
    pixels change on compression), so hash decoded pixels only for PNG.
    """
    return hashlib.sha256(np.ascontiguousarray(img, dtype=np.uint8).tobytes()).hexdigest()[:12]


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
