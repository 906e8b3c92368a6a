"""The record an edited file carries: which model made it, and a hash of the pixels it wrote.

    apply ─► make_record(model, pixels) ─► Record ─► .as_dict() ─► files.write_image(meta=...)
                                                    (PNG iTXt "restorable" / JPEG comment)
    file ─► files.read_meta_text (bounded, no pixel decoding) ─► parse_record ─► Record
                                                   anything off ─► RecordIgnored(why) ─► None + note

This module is the one owner of the format: the CLI, the web page and ``realworld`` write and
read records only through it. A record is untrusted input like the rest of the file (anyone can
write a PNG text chunk), so before any field is used:

- the whole record is at most :data:`MAX_RECORD_BYTES` (a 100,000-character name, or JSON nested
  thousands deep, is refused before it is parsed);
- it is a JSON object with known keys only, each of its type and length: ``op`` and ``name``
  are model names (:func:`restorable.names.check_model_name`: a name, never a path), ``model``
  (the version) is short printable text, ``sha`` is 12 hex digits, ``params`` (a conditioned
  model's setting) at most a few short names with finite numbers.

A record that fails is ignored with a one-line reason (:class:`RecordIgnored`), and ``restore``
then identifies the model from the pixels, as for a file whose record was stripped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from restorable.names import is_model_name

MAX_RECORD_BYTES = 1024  # ours are ~120 bytes; room for a setting and future fields
MAX_PARAMS = 4
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_SHA = re.compile(r"[0-9a-f]{12}")
_PARAM = re.compile(r"[a-z_][a-z0-9_]{0,31}")
KEYS = ("op", "model", "name", "sha", "params")


class RecordIgnored(ValueError):
    """A file's record that cannot be trusted; the message says why, in a few words."""


@dataclass(frozen=True)
class Record:
    """A checked record. ``name`` is the model to restore with (``op`` for records written
    before models had names of their own); ``sha`` is None for records without a hash."""

    op: str
    name: str
    model: str = ""
    sha: str | None = None
    params: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The JSON object written into the file (the keys of :data:`KEYS` that are set)."""
        out: dict = {"op": self.op, "name": self.name}
        if self.model:
            out["model"] = self.model
        if self.sha is not None:
            out["sha"] = self.sha
        if self.params:
            out["params"] = dict(self.params)
        return out


def make_record(model, pixels, settings: Mapping[str, float] | None = None) -> Record:
    """The record ``apply`` writes for ``pixels`` (uint8 HxWx3, as written) made by ``model``
    (a :class:`restorable.models.RestorableModel`) at a conditioned model's ``settings``."""
    from restorable.files import content_hash

    return Record(
        op=model.op,
        name=model.card.stem,
        model=model.version,
        sha=content_hash(pixels),
        params=dict(settings or {}),
    )


def parse_record(data: str | bytes | Mapping | None) -> Record | None:
    """The :class:`Record` in ``data`` (the text stored in a file, or its parsed object); None
    when there is none (empty, or a JPEG comment that is not ours: not a JSON object). Raises
    :class:`RecordIgnored` with the reason for anything that claims to be a record and is off.
    """
    if data is None:
        return None
    if isinstance(data, Mapping):
        obj = data
    else:
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        text = data.strip()
        if not text:
            return None
        if not text.startswith("{"):
            return None  # a camera's or an editor's JPEG comment: not a record
        if len(text.encode("utf-8", errors="replace")) > MAX_RECORD_BYTES:
            raise RecordIgnored(f"record too large (over {MAX_RECORD_BYTES} bytes)")
        try:
            obj = json.loads(text)
        except RecursionError:
            raise RecordIgnored("record nested too deeply") from None
        except ValueError:
            raise RecordIgnored("record is not valid JSON") from None
        if not isinstance(obj, dict):
            raise RecordIgnored("record is not a JSON object")
    unknown = sorted(str(k)[:20] for k in obj if k not in KEYS)
    if unknown:
        raise RecordIgnored(f"record has unknown fields ({', '.join(unknown[:3])})")
    op = obj.get("op")
    if op is None:
        raise RecordIgnored("record names no operator")
    if not is_model_name(op):
        raise RecordIgnored(f"record's operator {_shown(op)} is not a valid name")
    name = obj.get("name", op)
    if not is_model_name(name):
        raise RecordIgnored(
            f"record's model name {_shown(name)} is not a valid name (names are not paths)"
        )
    version = obj.get("model", "")
    if not isinstance(version, str) or (version and not _VERSION.fullmatch(version)):
        raise RecordIgnored(f"record's model version {_shown(version)} is not short plain text")
    sha = obj.get("sha")
    if sha is not None and not (isinstance(sha, str) and _SHA.fullmatch(sha)):
        raise RecordIgnored("record's pixel hash is not 12 hex digits")
    return Record(op=op, name=name, model=version, sha=sha, params=_check_params(obj))


def _shown(value: object, limit: int = 40) -> str:
    """A record's value as a note may quote it: ``repr`` (control characters, such as a
    terminal's escape sequences, come out as ``\\x1b``), at most ``limit`` characters. The
    web page escapes it again, as all text from a file."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_params(obj: Mapping) -> dict[str, float]:
    params = obj.get("params", {})
    if not isinstance(params, dict) or len(params) > MAX_PARAMS:
        raise RecordIgnored(f"record's setting is not a map of at most {MAX_PARAMS} values")
    for key, value in params.items():
        if not (isinstance(key, str) and _PARAM.fullmatch(key)):
            raise RecordIgnored("record's setting has a name that is not a plain identifier")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise RecordIgnored("record's setting is not a finite number")
    return dict(params)


def read_record(path: str | Path, notes: list[str] | None = None) -> Record | None:
    """The checked record of the file at ``path``; None when it has none or when it was
    ignored, which appends ``"record ignored: <why>"`` to ``notes``. Reads no pixels (a
    crafted record is refused before the image is decoded). Unreadable files raise the
    one-line RestorableError of :func:`restorable.files.read_meta_text`."""
    from restorable.files import read_meta_text

    try:
        return parse_record(read_meta_text(path))
    except RecordIgnored as why:
        if notes is not None:
            notes.append(f"record ignored: {why}")
        return None
