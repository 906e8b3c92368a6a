"""The ``restorable info NAME`` subcommand: a model's card, history included.

::

    restorable info bwp            # what it is, how it was trained, what it was carried on from
    restorable info bwp --json     # the card itself

A model's history (steps, minutes per device, recipe, the runs it was carried on through) lives
in its card, the JSON beside its weights, so that it travels with the weights and cannot drift
from them the way a hand-written table in the README did. This prints it for a person.
"""

from __future__ import annotations

import argparse
import json

from restorable.errors import RestorableError

HELP = "print a model's card: network, training history, recipe, validation figures"


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``info`` subcommand to ``subparsers``; its handler is ``args.fn``."""
    p = subparsers.add_parser("info", help=HELP, description=HELP)
    p.add_argument("name", help="model name (l0, l0-jpeg, l0-learned, ...; `restorable list`)")
    p.add_argument("--weights", help="folder with <model>.safetensors/.json (default: shipped)")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.set_defaults(fn=run_info)
    return p


def _loss(loss: dict) -> str:
    keys = ("approx", "restore", "delta")
    text = " : ".join(f"{loss.get(k, 0):g}" for k in keys) + " (approx : restore : Δ)"
    if loss.get("adversarial"):
        text += f", adversarial {loss['adversarial']:g}"
    return text


def _variant(card: dict) -> str:
    """The card's variant (:attr:`restorable.models.ModelCard.variant`), "?" if it cannot say."""
    from restorable.models import ModelCard

    try:
        return ModelCard(**card).variant
    except TypeError:  # a card missing fields: still printable
        return "?"


def describe_card(card: dict) -> list[str]:
    """The lines ``restorable info`` prints for ``card`` (a model card as loaded from JSON)."""
    from restorable.training.history import describe

    name = card.get("name") or card.get("op", "?")
    net, t, m = card.get("net") or {}, card.get("training") or {}, card.get("metrics") or {}
    guided = "guided by the classic operator" if net.get("guided") else "unguided (learned)"
    if net.get("estimate"):  # a learned model whose ψ reads its own estimate of f
        guided += f", ψ reads a learned {net['estimate']} estimate of f"
    lines = [
        f"{name}  ({card.get('version', '?')}; operator {card.get('op', '?')}, "
        f"variant {_variant(card)})",
        f"network   {net.get('arch') or 'quasi-invertible'}, {net.get('blocks', '?')} blocks, "
        f"width {net.get('width', '?')}, ψ width {net.get('psi_width', '?')}, {guided}"
        + (f", ρ {net['refine']}" if net.get("refine") else "")
        + (f", ψ sees the whole photo ({net['whole']})" if net.get("whole") else "")
        + (f", conditioned on {net['cond']}" if net.get("cond") else ""),
    ]
    if card.get("params"):
        lines.append("params    " + ", ".join(f"{k}={v}" for k, v in card["params"].items()))
    if t:
        lines.append(f"trained   {describe(t)}")
        recipe = [f"batch {t.get('batch', '?')} × {t.get('crop', '?')}²"]
        if t.get("loss"):
            recipe.append("loss " + _loss(t["loss"]))
        if t.get("jpeg"):
            recipe.append("real JPEG in training")
        if t.get("ema"):
            recipe.append(f"EMA {t['ema']}")
        if t.get("precision"):
            recipe.append(str(t["precision"]))
        lines.append("recipe    " + ", ".join(recipe))
        if t.get("init_from") == name:
            lines.append("from      its own earlier weights (carried on)")
        elif t.get("init_from"):
            lines.append(f"from      {t['init_from']}'s weights")
        if t.get("carried_on"):
            lines.append(f"last run  {t['carried_on']}")
        if t.get("pairs"):
            pairs = t["pairs"]
            lines.append(f"pairs     {pairs.get('count', '?')} from {pairs.get('before', '?')}")
        history = t.get("history") or []
        if history:
            lines.append("history")
            lines += [f"  - {entry}" for entry in history]
    if m:
        figures = ", ".join(
            f"{k.replace('_', ' ')} {v:.2f}" for k, v in m.items() if isinstance(v, float)
        )
        lines.append(f"checked   {figures} dB (training's validation crops)")
    return lines


def run_info(args: argparse.Namespace) -> int:
    from restorable.models import available_models, read_card

    card = read_card(args.name, args.weights)
    if not card:
        have = " ".join(available_models(args.weights)) or "none"
        raise RestorableError(f"no model {args.name!r} (models: {have})")
    if args.json:
        print(json.dumps(card, indent=1, ensure_ascii=False))
    else:
        print("\n".join(describe_card(card)))
    return 0
