"""Where a benchmark keeps its figures: a results/*.json file of dated records, each saying
when, on what machine and with which command it was measured, that the docs' tables are
generated from (``--docs``) and checked against (tests/test_docs.py).

A record replaces an earlier one with the same key (the same model on the same device, say),
so measuring one row again keeps the others; records transcribed from pages written before
the JSON existed carry ``"source": "transcribed from docs (measured DATE)"``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# options that say where figures go, not how they were measured: left out of a record's command
NOT_MEASURING = ("--json", "--docs", "--from-json", "--note", "--trials")


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def command(argv: list[str] | None = None) -> str:
    """The command line that measured, as a reader would type it again (output options out)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    shown = [f"benchmarks/{script.name}" if script.parent.name == "benchmarks" else argv[0]]
    args = iter(argv[1:])
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in NOT_MEASURING:
            if "=" not in arg and flag not in ("--docs",):
                next(args, None)  # its value
            continue
        shown.append(arg)
    return " ".join(["python", *shown])


def machine(note: str | None = None) -> str:
    """What ran it: ``note`` (say "this 2-core machine, idle") after the platform's own words."""
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPUs" + (f"; {note}" if note else "")


def stamp(note: str | None = None) -> dict:
    """The fields every measured record starts with."""
    return {"date": today(), "machine": machine(note), "command": command()}


def load(path: Path | str) -> list[dict]:
    path = Path(path)
    return json.loads(path.read_text())["records"] if path.exists() else []


def merge(path: Path | str, record: dict, key: tuple[str, ...]) -> None:
    """Add ``record`` to ``path``, replacing any record equal to it on every field of ``key``;
    written to a temporary file and renamed, so a killed run leaves the old file whole."""
    path = Path(path)
    records = [r for r in load(path) if any(r.get(k) != record.get(k) for k in key)]
    records.append(record)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"records": records}, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)


def write_block(page: str, start: str, end: str, text: str) -> None:
    """Replace the generated block between ``start`` and ``end`` in ``docs/<page>``."""
    from paper_tables import write_between

    write_between(ROOT / "docs" / page, start, end, text)
    print(f"wrote docs/{page} ({start})")


def show(page: str, blocks: dict[tuple[str, str], str], docs: bool) -> None:
    """Write each generated block into ``docs/<page>`` (``--docs``), or print it with its
    markers: what every benchmark's ``--from-json`` and ``--docs`` end with."""
    for (start, end), text in blocks.items():
        if docs:
            write_block(page, start, end, text)
        else:
            print(f"{start}\n{text}\n{end}\n")


def secs(pair: list | None, digits: int = 3) -> str:
    """A [median, fastest] pair as '0.007 (0.005)', or the median alone when fastest is unknown."""
    if not pair:
        return "–"
    median, fastest = (list(pair) + [None])[:2]
    text = f"{median:.{digits}f}"
    return text if fastest is None else f"{text} ({fastest:.{digits}f})"


def provenance(record: dict) -> str:
    """'`command`, date, machine' and, for transcribed figures, where they came from."""
    text = f"`{record['command']}`, {record['date']}, {record['machine']}"
    return text + (f"; {record['source']}" if record.get("source") else "")
