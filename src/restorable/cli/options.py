"""What several commands share: their common options and how they read a photo.

io_args     IN... -o OUT --force --png-compression      (reference, apply, restore)
model_args  --tile --weights --device --precision        (apply, restore)
param       NAME=VALUE, the value parsed as JSON when it is JSON
read_photo  a photo and its alpha, conversions printed as notes
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from restorable.files import PNG_COMPRESSION


def param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def read_photo(src: Path):
    """Read an input photo with its alpha channel (carried through unchanged), printing what
    was converted (grayscale, palette, 16-bit, CMYK, colour profile) as a note."""
    from restorable.files import read_image

    notes: list[str] = []
    rgb, alpha = read_image(src, with_alpha=True, notes=notes)
    for note in notes:
        print(f"note: {src}: {note}", file=sys.stderr)
    return rgb, alpha


def io_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders")
    s.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input) or folder (several inputs or a folder)",
    )
    s.add_argument("--force", action="store_true", help="overwrite existing outputs")
    s.add_argument(
        "--png-compression",
        type=int,
        default=PNG_COMPRESSION,
        metavar="0-9",
        help=f"zlib level of PNG outputs (default {PNG_COMPRESSION}: fast; 9: smallest "
        "files, several times slower; the pixels are the same)",
    )


def model_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--tile", type=int, help="tile size in px (default: chosen to bound memory)")
    s.add_argument("--weights", help="folder with <op>.safetensors/.json (default: shipped)")
    s.add_argument(
        "--device", default="cpu", help="cpu (default), cuda or cuda:N: where the network runs"
    )
    s.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="network arithmetic: auto (apply in bf16 where the CPU or GPU has it natively, "
        "restore in float32), fp32 (the reference), bf16 (both)",
    )


def param_option(s: argparse.ArgumentParser, help: str) -> None:
    """``--param NAME=VALUE`` (repeatable), with ``help`` saying what it sets here."""
    s.add_argument("--param", type=param, action="append", metavar="NAME=VALUE", help=help)


def model_option(s: argparse.ArgumentParser, dest: str, help: str, **kwargs) -> None:
    """``--model MODEL``, with ``--op`` kept as its alias (the option's name before 0.2)."""
    s.add_argument("--model", "--op", dest=dest, metavar="MODEL", help=help, **kwargs)
