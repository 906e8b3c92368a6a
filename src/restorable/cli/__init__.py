"""The ``restorable`` command line, one module per command group.

    restorable COMMAND ─► build_parser: each group adds its commands ─► main ─► args.fn(args)
        catalogue.py   list, info          what is installed
        files.py       reference, apply, restore, compare   files in, files out (--ray: bulk_ray)
        training.py    train, train-style
        evaluation.py  eval, demo
        web/serve.py   serve               (registers itself; Gradio is imported only to serve)

Every command prints one-line errors (``error: ...``) for bad input and never a traceback;
folders are processed with a progress bar and a summary, and outputs are written atomically.
The groups import nothing from this package but ``options``, and nothing imports this package
but the console script and ``python -m restorable.cli``, so there is no cycle.
"""

from __future__ import annotations

import argparse
import os
import sys

from restorable import bulk_ray
from restorable.cli import catalogue, evaluation, files, training
from restorable.cli.evaluation import demo_models
from restorable.errors import RestorableError

__all__ = ["build_parser", "demo_models", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="restorable",
        description="Restorable image operators: edits whose 8-bit output hides the original.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    catalogue.register(sub)
    files.register(sub)
    training.register(sub)
    evaluation.register(sub)
    from restorable.web.serve import register_cli as register_serve

    register_serve(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "ray", None) is not None:  # apply/restore --ray: restorable/bulk_ray.py
            return bulk_ray.run(args)
        return int(args.fn(args) or 0)
    except RestorableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `restorable list | head`: the reader has gone; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs advise
        return 1
