"""Every file is untrusted input, its record included: a model name is a name, never a path; a
crafted record (a path, a huge name, deep JSON, HTML, unknown fields) is ignored with a note and
the model is identified from the pixels; the file's record is read without decoding pixels.

The models folder here holds copies of the shipped l0 and l0-jpeg only, so identifying from the
pixels takes a second; a "pwn" model planted where a crafted path points is a copy of l0-jpeg,
so a restore that followed the path would name it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import zlib
from pathlib import Path

import numpy as np
import pytest

import restorable
from restorable.cli import main
from restorable.errors import RestorableError
from restorable.files import read_image, read_meta, read_meta_text, write_image
from restorable.models import WEIGHTS_DIR, available_models, has_model, load
from restorable.names import check_model_name, is_model_name
from restorable.realworld import restore_file
from restorable.record import (
    MAX_RECORD_BYTES,
    Record,
    RecordIgnored,
    make_record,
    parse_record,
    read_record,
)

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
HAVE = {"l0", "l0-jpeg"} <= set(available_models())
needs_models = pytest.mark.skipif(not HAVE, reason="needs the shipped l0 and l0-jpeg models")


def _copy_model(name: str, folder: Path, as_name: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for ext in (".json", ".safetensors"):
        shutil.copy(WEIGHTS_DIR / f"{name}{ext}", folder / f"{as_name or name}{ext}")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    _copy_model("l0", folder)
    _copy_model("l0-jpeg", folder)
    return folder


@pytest.fixture(scope="module")
def edit(weights) -> tuple[np.ndarray, np.ndarray]:
    """(photo, its l0 edit) on a 96x128 crop of a sample."""
    photo = read_image(SAMPLES / "scikit-image__chelsea.jpg")[96:192, 136:264]
    return photo, load("l0", weights).apply(photo)


def _png_with_record(path: Path, pixels: np.ndarray, text: str) -> Path:
    """A PNG whose "restorable" text chunk is ``text`` verbatim (any record, even invalid)."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("restorable", text)
    Image.fromarray(pixels).save(path, pnginfo=info)
    return path


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../../x", "/etc/passwd", "a/b", "a\\b", ".hidden", "", "L0", "l0\x00", "a" * 65, "é", 7],
)
def test_a_model_name_is_a_name_not_a_path(name) -> None:
    assert not is_model_name(name)
    with pytest.raises(RestorableError) as caught:
        check_model_name(name)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_valid_names_pass() -> None:
    for name in ("l0", "l0-jpeg", "my-grade_2.v1", "style_rain", "9"):
        assert check_model_name(name) == name


def test_load_refuses_paths_even_where_model_files_lie(tmp_path: Path) -> None:
    """Today's planted model at a traversal path: load must not follow it."""
    _copy_model("l0", tmp_path / "evil", as_name="pwn")
    (tmp_path / "models").mkdir()
    for name in ("../evil/pwn", str(tmp_path / "evil" / "pwn"), "x" * 100_000):
        with pytest.raises(RestorableError) as caught:
            load(name, tmp_path / "models")
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
        with pytest.raises(RestorableError):
            restorable.load(name)


def test_a_model_file_linked_from_outside_its_folder_is_not_loaded(tmp_path: Path) -> None:
    _copy_model("l0", tmp_path / "elsewhere")
    folder = tmp_path / "models"
    folder.mkdir()
    for ext in (".json", ".safetensors"):
        (folder / f"l0{ext}").symlink_to(tmp_path / "elsewhere" / f"l0{ext}")
    assert not has_model("l0", folder)
    with pytest.raises(RestorableError, match="no restorable model"):
        load("l0", folder)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda card: card["net"].update(estimate="evil"),
        lambda card: card["net"].update(whole=5),
        lambda card: card["net"].update(blocks="eight"),
        lambda card: card["net"].update(unknown_switch=True),
        lambda card: card.update(net=[1, 2]),
    ],
)
def test_a_spoilt_card_is_one_line(tmp_path: Path, spoil) -> None:
    """A models folder is untrusted: a card that names an unknown path or estimate, a field of
    the wrong type or an unknown one is a one-line error from load, not a traceback."""
    _copy_model("l0", tmp_path)
    card = json.loads((tmp_path / "l0.json").read_text())
    spoil(card)
    (tmp_path / "l0.json").write_text(json.dumps(card))
    with pytest.raises(RestorableError) as caught:
        load("l0", tmp_path)
    assert "\n" not in str(caught.value) and "l0.json" in str(caught.value)


def test_weights_that_do_not_fit_their_card_are_one_line(tmp_path: Path) -> None:
    _copy_model("l0", tmp_path)
    card = json.loads((tmp_path / "l0.json").read_text())
    card["net"]["blocks"] = 2  # the shipped weights have 8
    (tmp_path / "l0.json").write_text(json.dumps(card))
    with pytest.raises(RestorableError, match="do not fit") as caught:
        load("l0", tmp_path)
    assert "\n" not in str(caught.value)
    (tmp_path / "l0.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(RestorableError, match="do not fit"):
        load("l0", tmp_path)


# --- records ----------------------------------------------------------------------------------


@needs_models
def test_records_round_trip(weights, edit) -> None:
    model = load("l0", weights)
    record = make_record(model, edit[1], {"lam": 0.03})
    assert parse_record(json.dumps(record.as_dict())) == record
    assert parse_record(record.as_dict()) == record
    # a record from before names existed: op only
    assert parse_record('{"op": "l0", "model": "l0-v1"}') == Record("l0", "l0", "l0-v1")


BAD_RECORDS = {
    '{"op": "../../../../tmp/pwn"}': "not a valid name",
    '{"op": "l0", "name": "/tmp/pwn"}': "not a valid name",
    '{"op": "<img src=http://127.0.0.1:9/x>"}': "not a valid name",
    '{"op": "l0", "evil": 1}': "unknown fields",
    '{"op": "l0", "sha": "zz"}': "12 hex digits",
    '{"op": "l0", "model": "v1 <b>bold</b>"}': "short plain text",
    '{"op": "l0", "params": {"lam": NaN}}': "finite number",
    '{"op": "l0", "params": {"lam": true}}': "finite number",
    '{"op": "l0", "params": [1]}': "setting is not a map",
    '{"op": "l0", "params": {"../x": 1}}': "plain identifier",
    '{"name": "l0"}': "names no operator",
    '{"op": 5}': "not a valid name",
    '{"op": "l0",': "not valid JSON",
    "{" + '"op": "' + "a" * 100_000 + '"}': "too large",
    '{"op": ' + "[" * 400 + "]" * 400 + "}": "not a valid name",  # within the size limit
}


@pytest.mark.parametrize("text", list(BAD_RECORDS), ids=range(len(BAD_RECORDS)))
def test_bad_records_are_ignored_with_a_reason(text: str) -> None:
    with pytest.raises(RecordIgnored, match=BAD_RECORDS[text]):
        parse_record(text)


def test_deeply_nested_json_is_no_recursion_error(monkeypatch) -> None:
    """JSON nested past Python's recursion limit inside the size limit: ignored, no crash."""
    monkeypatch.setattr("restorable.record.MAX_RECORD_BYTES", 10**6)
    with pytest.raises(RecordIgnored, match="nested too deeply"):
        parse_record('{"op": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_a_jpeg_comment_that_is_not_a_record_is_no_record(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "camera.jpg"
    Image.new("RGB", (32, 32)).save(path, comment=b"CREATOR: gd-jpeg v1.0")
    notes: list[str] = []
    assert read_record(path, notes) is None and notes == []


@needs_models
@pytest.mark.parametrize(
    "record, why",
    [
        ({"op": "../../../../{evil}/pwn"}, "not a valid name"),
        ({"op": "{evil}/pwn"}, "not a valid name"),
        ({"op": "l0", "name": "x" * 100_000}, "too large"),
        ({"op": "l0", "name": "pwn"}, "not installed"),
        ({"op": "<img src=http://127.0.0.1:9/x>"}, "not a valid name"),
    ],
)
def test_restore_ignores_a_crafted_record_and_identifies_from_pixels(
    tmp_path: Path, weights, edit, record: dict, why: str
) -> None:
    """Fails on the old code: it restored with the planted model (or raised a traceback)."""
    evil = tmp_path / "evil"
    _copy_model("l0-jpeg", evil, as_name="pwn")  # what a followed path would load
    text = json.dumps(record).replace("{evil}", str(evil).lstrip("/"))
    if "../../../.." in text:  # relative to the models folder, as a traversal would go
        text = text.replace("../../../../", "../" * len(weights.parts))
    path = _png_with_record(tmp_path / "crafted.png", edit[1], text)
    notes: list[str] = []
    result = restore_file(path, weights_dir=str(weights), notes=notes)
    assert result.name == "l0" and result.source == "pixels"
    assert any(n.startswith("record ignored") and why in n for n in notes), notes
    assert all("\n" not in n and len(n) < 200 for n in notes)


@needs_models
def test_cli_restore_of_a_crafted_record_says_so_in_one_line(tmp_path, weights, edit, capsys):
    path = _png_with_record(tmp_path / "crafted.png", edit[1], '{"op": "/tmp/pwn"}')
    before = path.read_bytes()
    out = tmp_path / "restored.png"
    assert main(["restore", str(path), "-o", str(out), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    assert "record ignored" in err and "identified l0 from the pixels" in err
    assert "Traceback" not in err and path.read_bytes() == before
    assert read_image(out).shape == edit[0].shape


@needs_models
def test_cli_refuses_a_path_as_op(tmp_path: Path, edit, capsys) -> None:
    src = tmp_path / "photo.png"
    write_image(src, edit[0])
    for argv in (
        ["apply", "--op", "../x", str(src), "-o", str(tmp_path / "a.png")],
        ["apply", "--op", "l0", "--model", "/x/y", str(src), "-o", str(tmp_path / "b.png")],
        ["restore", "--op", "../../x", str(src), "-o", str(tmp_path / "c.png")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "not valid" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


# --- reading a record reads no pixels -----------------------------------------------------------


def _chunks(data: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return out


def _chunk(cid: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(cid + body).to_bytes(4, "big")
    return len(body).to_bytes(4, "big") + cid + body + crc


def test_the_record_after_the_pixels_is_read_without_decoding_them(tmp_path: Path, monkeypatch):
    """Other tools move text chunks after IDAT, where Pillow reaches them only by decoding the
    image; here decoding fails loudly, and the record must still be read."""
    src = write_image(tmp_path / "a.png", np.zeros((40, 50, 3), np.uint8), meta={"op": "l0"})
    chunks = _chunks(src.read_bytes())
    text = [c for c in chunks if c[4:8] == b"iTXt"]
    rest = [c for c in chunks if c[4:8] != b"iTXt"]
    moved = tmp_path / "moved.png"
    moved.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(rest[:-1] + text + rest[-1:]))

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    assert read_meta(moved) == {"op": "l0"}
    assert read_record(moved) == Record("l0", "l0")


def test_a_compressed_record_is_read_and_a_zlib_bomb_is_bounded(tmp_path: Path) -> None:
    body = b"restorable\x00\x01\x00\x00\x00" + zlib.compress(b'{"op": "l0"}')
    bomb = b"restorable\x00\x01\x00\x00\x00" + zlib.compress(b'{"op": "' + b"a" * 50_000_000, 9)
    for content, expect in ((body, {"op": "l0"}), (bomb, None)):
        png = write_image(tmp_path / "p.png", np.zeros((8, 8, 3), np.uint8), force=True)
        chunks = _chunks(png.read_bytes())
        extra = [_chunk(b"iTXt", content)]
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks[:-1] + extra + chunks[-1:]))
        assert read_meta(png) == expect
        assert len(read_meta_text(png)) <= 64 * 1024
    with pytest.raises(RecordIgnored, match="too large"):
        parse_record(read_meta_text(png))


def test_a_huge_declared_image_gives_its_record_at_once(tmp_path: Path) -> None:
    """A header claiming 60000x60000 px (a decompression bomb): the record is still read, from
    the chunks alone, and read_image refuses the pixels from the header."""
    png = write_image(tmp_path / "p.png", np.zeros((8, 8, 3), np.uint8), meta={"op": "l0"})
    chunks = _chunks(png.read_bytes())
    ihdr = bytearray(chunks[0][8:-4])
    ihdr[0:8] = (60000).to_bytes(4, "big") * 2
    chunks[0] = _chunk(b"IHDR", bytes(ihdr))
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
    assert read_record(png) == Record("l0", "l0")
    with pytest.raises(RestorableError, match="too large"):
        read_image(png)


# --- writing -----------------------------------------------------------------------------------


def test_outputs_get_the_umask_without_the_umask_being_touched(tmp_path: Path, monkeypatch):
    """write_image must not call os.umask (it changes the mask for every thread for a moment);
    the kernel applies the mask to the file it creates."""
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("os.umask called"))
        out = write_image(tmp_path / "o.png", np.zeros((8, 8, 3), np.uint8))
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_a_run_on_a_folder_without_images_leaves_no_output_folder(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    out = tmp_path / "out"
    assert main(["apply", "--op", "l0", str(tmp_path / "empty"), "-o", str(out)]) == 1
    assert "no images found" in capsys.readouterr().err
    assert not out.exists()


def test_a_run_where_every_file_fails_leaves_no_output_folder(tmp_path: Path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "out"
    assert main(["restore", "--op", "l0", str(tmp_path / "in"), "-o", str(out)]) == 1
    assert not out.exists()


def test_record_limit_is_far_above_what_apply_writes(weights, edit) -> None:
    if not HAVE:
        pytest.skip("needs the shipped l0 model")
    rec = make_record(load("l0-jpeg", weights), edit[1], {"lam": 0.0123456789})
    assert len(json.dumps(rec.as_dict())) * 4 < MAX_RECORD_BYTES
