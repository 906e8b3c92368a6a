"""Fuzzing: mutated records, and whole files mutated before ``apply`` and before ``restore``,
through the API and the CLI. Seeded and bounded (a few hundred cases, well under a minute).

What must hold for every case: a clean result or a one-line RestorableError (the CLI: exit 0, 1
or 2, stderr lines that are ``error:``/``note:``/``warning:`` or the identification line, never
a traceback); the input file unchanged; nothing half-written left in the output folder (no
temporary file, and an output that exists is a whole image).

Mutations are structure-aware where that reaches deeper: a PNG chunk's body is changed and its
CRC recomputed, so the decoder gets past the checksum; plain byte flips, truncations,
insertions and repeated slices cover the rest. The models folder holds copies of the shipped
l0 and l0-jpeg only, so a file whose record was destroyed is identified from the pixels quickly.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import string
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from restorable.cli import main
from restorable.errors import RestorableError
from restorable.files import read_image, write_image
from restorable.models import WEIGHTS_DIR, available_models, load
from restorable.names import is_model_name
from restorable.realworld import RestorableWarning, restore_file
from restorable.record import MAX_RECORD_BYTES, Record, RecordIgnored, parse_record

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
pytestmark = pytest.mark.skipif(
    not {"l0", "l0-jpeg"} <= set(available_models()), reason="needs the shipped l0 models"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for name in ("l0", "l0-jpeg"):
        for ext in (".json", ".safetensors"):
            shutil.copy(WEIGHTS_DIR / f"{name}{ext}", folder / f"{name}{ext}")
    return folder


@pytest.fixture(scope="module")
def seeds(weights, tmp_path_factory) -> dict[str, bytes]:
    """The files the mutants start from: a photo (PNG, JPEG) and its edits (PNG, JPEG)."""
    folder = tmp_path_factory.mktemp("seeds")
    photo = read_image(SAMPLES / "scikit-image__coffee.jpg")[100:164, 200:280]  # 64x80
    out = {"photo.png": write_image(folder / "photo.png", photo)}
    out["photo.jpg"] = write_image(folder / "photo.jpg", photo, quality=90)
    for name, suffix in (("l0", ".png"), ("l0-jpeg", ".jpg")):
        main(
            ["apply", "--op", "l0", "--model", name, "--weights", str(weights)]
            + [str(out["photo.png"]), "-o", str(folder / f"edit{suffix}")]
        )
        out[f"edit{suffix}"] = folder / f"edit{suffix}"
    return {k: Path(v).read_bytes() for k, v in out.items()}


# --- mutators ----------------------------------------------------------------------------------


def _chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """[(type, body)] of a PNG, or None if it does not parse as chunks."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    out, pos = [], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    parts = [PNG_SIGNATURE]
    for cid, body in chunks:
        crc = zlib.crc32(cid + body).to_bytes(4, "big")
        parts.append(len(body).to_bytes(4, "big") + cid + body + crc)
    return b"".join(parts)


def _flip(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    kind = rng.choice(["flip", "truncate", "insert", "repeat", "chunk", "chunk", "record"])
    chunks = _chunks(data)
    if kind in ("chunk", "record") and chunks:
        if kind == "record":
            text = _fuzzed_record_text(rng).encode("utf-8", errors="replace")
            chunks = [c for c in chunks if c[0] != b"iTXt"]
            at = rng.randrange(1, max(2, len(chunks)))
            chunks.insert(at, (b"iTXt", b"restorable\0\0\0\0\0" + text))
        else:
            i = rng.randrange(len(chunks))
            cid, body = chunks[i]
            chunks[i] = (cid, _flip(rng, body) if body else bytes([rng.randrange(256)]))
        return _png(chunks)
    if kind == "flip":
        return _flip(rng, data)
    if kind == "truncate":
        return data[: rng.randrange(1, len(data))]
    at = rng.randrange(len(data))
    if kind == "insert":
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + data[at:]
    end = min(len(data), at + rng.randint(1, 256))
    return data[:end] + data[at:end] * rng.randint(1, 3) + data[end:]


def _fuzzed_value(rng: random.Random, depth: int = 0):
    pick = rng.randrange(9 if depth < 4 else 6)
    if pick == 0:
        return rng.choice([None, True, False, 0, -1, 2**70, 1e308, float("nan"), float("inf")])
    if pick == 1:
        return rng.uniform(-1e6, 1e6)
    if pick in (2, 3):
        pieces = [
            "l0",
            "../",
            "/",
            "\\",
            "..",
            "<img src=http://127.0.0.1:9/x>",
            "\0",
            "é",
            "a" * rng.choice([1, 64, 65, 2000]),
            "%2e%2e/",
            "~",
            " ",
            "\n",
            "l0-jpeg",
        ]
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
    if pick in (4, 5):
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 30)))
    if pick in (6, 7):
        keys = ["op", "name", "model", "sha", "params", "lam", "x", ""]
        return {rng.choice(keys): _fuzzed_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return [_fuzzed_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _fuzzed_record_text(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return json.dumps(_fuzzed_value(rng), allow_nan=True)
    if kind == 1:  # a good record with one field fuzzed
        record = {"op": "l0", "name": "l0", "model": "l0-v1", "sha": "0123456789ab"}
        record[rng.choice([*record, "params", "other"])] = _fuzzed_value(rng, 1)
        return json.dumps(record, allow_nan=True)
    if kind == 2:  # a good record's text, mutated
        text = json.dumps({"op": "l0", "name": "l0-jpeg", "params": {"lam": 0.02}})
        return _flip(rng, text.encode()).decode("utf-8", errors="replace")
    return "".join(rng.choice('{}[]":,0a ') for _ in range(rng.randint(0, 3000)))


# --- records -----------------------------------------------------------------------------------


def test_fuzzed_records_are_a_record_or_ignored_with_a_reason() -> None:
    rng = random.Random(20261203)
    outcomes = {"record": 0, "ignored": 0, "none": 0}
    for _ in range(400):
        text = _fuzzed_record_text(rng)
        try:
            record = parse_record(text)
        except RecordIgnored as why:
            assert str(why) and "\n" not in str(why) and len(str(why)) < 120
            outcomes["ignored"] += 1
            continue
        if record is None:
            outcomes["none"] += 1
            continue
        assert isinstance(record, Record) and len(text.encode()) <= MAX_RECORD_BYTES
        assert is_model_name(record.op) and is_model_name(record.name)
        assert record.sha is None or len(record.sha) == 12
        assert all(np.isfinite(v) for v in record.params.values())
        outcomes["record"] += 1
    assert min(outcomes.values()) > 0, outcomes  # the fuzzer reached every outcome


# --- whole files -------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_leftovers(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert not left, left
    for p in folder.iterdir():
        read_image(p)  # an output that exists is a whole image


def _mutants(seeds: dict[str, bytes], names: list[str], count: int, seed: int):
    rng = random.Random(seed)
    for i in range(count):
        name = names[i % len(names)]
        data = seeds[name]
        for _ in range(rng.choice([1, 1, 2])):
            data = _mutate(rng, data) or data
        yield i, name, data


def test_fuzzed_edits_restore_or_fail_in_one_line_through_the_api(seeds, weights, tmp_path):
    cache: dict = {}
    outcomes = {"restored": 0, "refused": 0}
    for i, name, data in _mutants(seeds, ["edit.png", "edit.jpg"], 60, seed=1):
        path = tmp_path / f"m{i}{Path(name).suffix}"
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():  # "the pixels differ": expected here
                warnings.simplefilter("ignore", RestorableWarning)
                result = restore_file(path, weights_dir=str(weights), cache=cache, notes=[])
        except RestorableError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 400, str(exc)
            outcomes["refused"] += 1
        else:
            assert result.image.dtype == np.uint8 and result.image.ndim == 3
            outcomes["restored"] += 1
        assert path.read_bytes() == data
    assert min(outcomes.values()) > 0, outcomes


def _cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    for line in lines:
        ok = (
            line.startswith(("error: ", "note: ", "warning: "))
            or "no usable record; identified" in line
            or re.fullmatch(r"\d+ done, \d+ failed", line)
            or ("|" in line and "image" in line)  # the batch's progress bar
        )
        assert ok, line
    return rc, lines


def test_fuzzed_edits_through_restore_on_the_command_line(seeds, weights, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    codes = set()
    for i, name, data in _mutants(seeds, ["edit.png", "edit.jpg"], 24, seed=2):
        src = tmp_path / f"m{i}{Path(name).suffix}"
        src.write_bytes(data)
        digest = _digest(src)
        rc, lines = _cli(
            ["restore", str(src), "-o", str(out / f"r{i}.png"), "--weights", str(weights)], capsys
        )
        codes.add(rc)
        assert rc in (0, 1), lines
        assert (rc == 0) == (out / f"r{i}.png").exists()
        assert _digest(src) == digest
    _no_leftovers(out)
    assert codes == {0, 1}, codes


def test_fuzzed_photos_apply_or_fail_in_one_line(seeds, weights, tmp_path, capsys):
    model = load("l0", weights)
    outcomes = {"applied": 0, "refused": 0}
    for i, name, data in _mutants(seeds, ["photo.png", "photo.jpg"], 60, seed=3):
        path = tmp_path / f"p{i}{Path(name).suffix}"
        path.write_bytes(data)
        try:
            edited = model.apply(read_image(path))
        except RestorableError as exc:
            assert "\n" not in str(exc), str(exc)
            outcomes["refused"] += 1
        else:
            assert edited.dtype == np.uint8
            outcomes["applied"] += 1
        assert path.read_bytes() == data
    assert min(outcomes.values()) > 0, outcomes

    out = tmp_path / "out"
    out.mkdir()
    folder = tmp_path / "batch"
    folder.mkdir()
    digests = {}
    for i, name, data in _mutants(seeds, ["photo.png", "photo.jpg"], 16, seed=4):
        src = folder / f"b{i}{Path(name).suffix}"
        src.write_bytes(data)
        digests[src] = _digest(src)
    rc, lines = _cli(
        ["apply", "--op", "l0", "--weights", str(weights), str(folder), "-o", str(out)], capsys
    )
    assert rc in (0, 1) and lines[-1].endswith("failed"), lines
    assert all(_digest(p) == d for p, d in digests.items())
    _no_leftovers(out)
