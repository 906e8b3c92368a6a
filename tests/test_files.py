"""read_image / write_image: one test per way a file can be wrong or unusual."""

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from restorable import files
from restorable.errors import RestorableError
from restorable.files import (
    check_not_input,
    content_hash,
    list_images,
    read_image,
    read_meta,
    write_image,
)


def _photo(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=2).astype(np.uint8)


def _save(path: Path, im: Image.Image, **kwargs) -> Path:
    im.save(path, **kwargs)
    return path


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg
    return msg


# --- inputs that cannot be read ---------------------------------------------------------------


def test_missing(tmp_path):
    with pytest.raises(RestorableError, match="no such file") as e:
        read_image(tmp_path / "nope.png")
    _one_line(e)


def test_empty(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(RestorableError, match="empty"):
        read_image(tmp_path / "empty.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(tmp_path, fmt):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(buf, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(RestorableError, match="cannot read image") as e:
        read_image(path)
    _one_line(e)


def test_corrupt_bytes(tmp_path):
    path = tmp_path / "bad.png"
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[40:-20] = np.random.default_rng(0).integers(0, 256, len(data) - 60, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(RestorableError, match="corrupt image file") as e:
        read_image(path)
    _one_line(e)


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("hello, not a picture\n")
    with pytest.raises(RestorableError, match="not an image file"):
        read_image(tmp_path / "notes.png")


def test_folder(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(RestorableError, match="is a folder"):
        read_image(tmp_path / "dir.png")


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_multi_frame(tmp_path, fmt):
    frames = [Image.fromarray(_photo()), Image.fromarray(255 - _photo())]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(RestorableError, match="2 frames"):
        read_image(path)


def _png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims ``width`` x ``height`` (CRC fixed up)."""
    buf = io.BytesIO()
    Image.fromarray(_photo(8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("side", [12_000, 60_000])
def test_decompression_bomb_refused_before_decoding(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(side, side))
    with pytest.raises(RestorableError, match="too large") as e:
        read_image(path)
    assert "100 megapixels" in _one_line(e)


def test_pixel_limit_is_a_parameter(tmp_path):
    path = _save(tmp_path / "a.png", Image.fromarray(_photo(24, 32)))
    with pytest.raises(RestorableError, match=r"too large \(32x24\)"):
        read_image(path, max_pixels=500)


# --- inputs that are converted ----------------------------------------------------------------


def test_rgb_png_round_trips_exactly(tmp_path):
    img = _photo()
    path = _save(tmp_path / "a.png", Image.fromarray(img))
    np.testing.assert_array_equal(read_image(path), img)


def test_grayscale_becomes_rgb(tmp_path):
    gray = _photo()[..., 0]
    path = _save(tmp_path / "g.png", Image.fromarray(gray, "L"))
    notes = []
    out = read_image(path, notes=notes)
    assert out.shape == (*gray.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    assert notes == ["converted grayscale to RGB"]


def test_palette_becomes_rgb(tmp_path):
    rgb = Image.fromarray(_photo())
    pal = rgb.quantize(16)
    path = _save(tmp_path / "p.png", pal)
    np.testing.assert_array_equal(read_image(path), np.asarray(pal.convert("RGB")))


def test_rgba_refused_unless_caller_takes_alpha(tmp_path):
    img, alpha = _photo(), np.full((24, 32), 128, np.uint8)
    rgba = Image.fromarray(np.dstack([img, alpha]), "RGBA")
    path = _save(tmp_path / "t.png", rgba)
    with pytest.raises(RestorableError, match="transparency"):
        read_image(path)
    rgb, a = read_image(path, with_alpha=True)
    np.testing.assert_array_equal(rgb, img)
    np.testing.assert_array_equal(a, alpha)
    # Written back unchanged.
    out = write_image(tmp_path / "out.png", rgb, alpha=a)
    rgb2, a2 = read_image(out, with_alpha=True)
    np.testing.assert_array_equal(a2, alpha)
    np.testing.assert_array_equal(rgb2, img)


def test_opaque_alpha_is_dropped(tmp_path):
    rgba = Image.fromarray(np.dstack([_photo(), np.full((24, 32), 255, np.uint8)]), "RGBA")
    path = _save(tmp_path / "o.png", rgba)
    np.testing.assert_array_equal(read_image(path), _photo())
    assert read_image(tmp_path / "o.png", with_alpha=True)[1] is not None


def test_16bit_grayscale_png_converted_down(tmp_path):
    values = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)
    path = _save(tmp_path / "g16.png", Image.fromarray(values))
    notes = []
    out = read_image(path, notes=notes)
    np.testing.assert_array_equal(out[..., 1], np.rint(values / 257).astype(np.uint8))
    assert "16-bit" in notes[0]


def test_48bit_png_converted_down(tmp_path):
    values = (_photo().astype(np.uint16) * 256 + 17)[..., ::-1]  # OpenCV writes BGR
    path = tmp_path / "c16.png"
    assert cv2.imwrite(str(path), np.ascontiguousarray(values))
    notes = []
    out = read_image(path, notes=notes)
    np.testing.assert_array_equal(out, _photo())
    assert "16 bits per channel" in notes[0]


def test_cmyk_jpeg_converted(tmp_path):
    path = _save(tmp_path / "c.jpg", Image.new("CMYK", (32, 24), (0, 255, 255, 0)), quality=100)
    notes = []
    out = read_image(path, notes=notes)
    assert out.shape == (24, 32, 3)
    assert out[..., 0].min() > 240 and out[..., 1:].max() < 15  # CMY 0/1/1 = red
    assert "CMYK" in notes[0]


def _icc_swapped_red_green() -> bytes:
    """A matrix/TRC RGB profile whose red and green primaries are sRGB's green and red."""

    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"swapped test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB's green
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + bytes(4)
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + bytes(4)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def test_non_srgb_profile_converted_to_srgb(tmp_path):
    red = np.zeros((24, 32, 3), np.uint8)
    red[..., 0] = 200
    path = _save(tmp_path / "wide.png", Image.fromarray(red), icc_profile=_icc_swapped_red_green())
    notes = []
    out = read_image(path, notes=notes)
    # "Red" in this profile is sRGB's green.
    assert out[0, 0, 1] > 150 and out[0, 0, 0] < 60
    assert notes == ["converted colours to sRGB from the embedded profile"]


def test_exif_orientation_honoured(tmp_path):
    img = _photo(8, 16)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    path = _save(tmp_path / "rot.png", Image.fromarray(img), exif=exif)
    np.testing.assert_array_equal(read_image(path), np.rot90(img, k=-1))


# --- writing ---------------------------------------------------------------------------------


def test_unwritable_output_folder(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # running as root: permissions are not enforced

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(files.os, "open", denied)
    try:
        with pytest.raises(RestorableError, match="cannot write") as e:
            write_image(locked / "out.png", _photo())
        _one_line(e)
    finally:
        locked.chmod(0o700)


def test_missing_output_folder(tmp_path):
    with pytest.raises(RestorableError, match="output folder does not exist"):
        write_image(tmp_path / "no" / "out.png", _photo())


def test_refuses_to_overwrite_an_input(tmp_path):
    inp = _save(tmp_path / "in.png", Image.fromarray(_photo()))
    before = inp.read_bytes()
    with pytest.raises(RestorableError, match="input file"):
        write_image(tmp_path / "." / "in.png", 255 - _photo(), force=True, inputs=[inp])
    with pytest.raises(RestorableError, match="input file"):
        check_not_input(tmp_path / "sub" / ".." / "in.png", [str(inp)])
    assert inp.read_bytes() == before


def test_existing_output_needs_force(tmp_path):
    out = write_image(tmp_path / "out.png", _photo())
    with pytest.raises(RestorableError, match="--force"):
        write_image(out, 255 - _photo())
    write_image(out, 255 - _photo(), force=True)
    np.testing.assert_array_equal(read_image(out), 255 - _photo())


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def broken(self, fp, *args, **kwargs):
        fp.write(b"half a PNG")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(RestorableError, match="No space left"):
        write_image(tmp_path / "out.png", _photo())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(self, fp, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "out.png", _photo())
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_normal_permissions(tmp_path):
    out = write_image(tmp_path / "out.png", _photo())
    assert out.stat().st_mode & 0o044 == 0o044 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_metadata_round_trip(tmp_path, suffix):
    img = _photo()
    meta = {"op": "l0", "model": "l0-v1", "sha": content_hash(img)}
    out = write_image(tmp_path / f"out{suffix}", img, meta=meta)
    assert read_meta(out) == meta
    assert read_meta(write_image(tmp_path / f"plain{suffix}", img)) is None
    if suffix == ".png":  # lossless: the hash of the pixels read back matches
        assert content_hash(read_image(out)) == meta["sha"]


def test_content_hash():
    img = _photo()
    assert len(content_hash(img)) == 12
    assert content_hash(img) == content_hash(img.copy()) != content_hash(255 - img)


def test_list_images_skips_hidden_and_other_files(tmp_path):
    for name in ["b.png", "a.JPG", ".restorable-tmp.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]


def test_api_refuses_a_jpeg_quality_outside_1_to_100(tmp_path):
    for quality in (0, 101):
        with pytest.raises(RestorableError, match=f"--quality {quality}: give a JPEG quality"):
            write_image(tmp_path / "out.jpg", _photo(), quality=quality)
    assert list(tmp_path.iterdir()) == []
    write_image(tmp_path / "out.jpg", _photo(), quality=100)


def test_png_compression_changes_size_not_pixels(tmp_path):
    img = _photo()
    fast = write_image(tmp_path / "fast.png", img)  # the default, level 1
    small = write_image(tmp_path / "small.png", img, png_compression=9)
    assert np.array_equal(read_image(fast), read_image(small))
    assert small.stat().st_size < fast.stat().st_size
    with pytest.raises(RestorableError, match="from 0 .* to 9") as e:
        write_image(tmp_path / "bad.png", img, png_compression=10)
    _one_line(e)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.png", "small.png"]
