"""What is installed: ``restorable list`` (operators and their models) and ``restorable info``
(a model's card; info.py)."""

from __future__ import annotations

import argparse


def cmd_list(args: argparse.Namespace) -> int:
    from restorable.models import models_by_op
    from restorable.operators import get_operator, operator_ids

    models = models_by_op()
    print(f"{'id':9} {'type':5} {'title':62} models\n{'':16}defaults")
    for op in operator_ids():
        info = get_operator(op)
        names = " ".join(models.get(op, [])) or "-"
        defaults = ", ".join(f"{k}={v}" for k, v in info.defaults.items()) or "-"
        print(f"{op:9} {info.kind:5} {info.title:62} {names}\n{'':16}{defaults}")
        if args.verbose:
            print(f"{'':16}{info.citation}")
    own = [name for op, names in models.items() if op not in operator_ids() for name in names]
    if own:
        from restorable.models import load

        print("\nlearned from your before/after pairs (restorable train --pairs):")
        for name in own:
            pairs = load(name).card.training.get("pairs") or {}
            print(f"{name:20} {pairs.get('count', '?')} pairs from {pairs.get('before', '?')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``list`` and ``info`` to the ``restorable`` subcommands."""
    from restorable.cli.info import register_cli as register_info

    s = sub.add_parser("list", help="list the operators (type, model, defaults)")
    s.add_argument("-v", "--verbose", action="store_true", help="also print citations")
    s.set_defaults(fn=cmd_list)
    register_info(sub)
