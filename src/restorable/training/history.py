"""A model's training across runs, kept in one record on its card.

Models are carried on from loan to loan: a few minutes on a lent GPU, then forty on this CPU,
then more. The card must say what the shipped weights cost in all, and on what: a GPU minute is
worth twenty CPU minutes here, so "43.8 min CPU" for 3.8 GPU minutes and 40 CPU minutes would
mislead. A run that starts from weights of the *same* model (same name) therefore adds its steps
and minutes to that card's, per device; a run that starts from another model's weights (OP-jpeg
forked from OP, wmf-learned from rtv-learned) is a new model and records only where it began.
"""

from __future__ import annotations

import json
from pathlib import Path


def device_kind(device: str) -> str:
    """ "GPU" or "CPU": the unit a minute of training is counted in."""
    return "GPU" if str(device).startswith("cuda") else "CPU"


def prior_training(init_from: str | Path | None, stem: str) -> dict | None:
    """The training record of the weights a run starts from, when they are the same model.

    ``stem``: the name the run saves under (``l0-learned``). The card beside ``init_from``
    (``X.safetensors`` -> ``X.json``) must carry that name; otherwise None.
    """
    if not init_from:
        return None
    card = Path(init_from).with_suffix(".json")
    if not card.exists():
        return None
    data = json.loads(card.read_text())
    if (data.get("name") or data.get("op")) != stem:
        return None
    return data.get("training") or None


def minutes_by_device(training: dict) -> dict[str, float]:
    """Minutes per device kind; a record from before this field counts as one device."""
    if training.get("minutes_by_device"):
        return dict(training["minutes_by_device"])
    return {device_kind(training.get("device", "cpu")): float(training.get("trained_minutes") or 0)}


def carry_on(run: dict, prior: dict | None) -> dict:
    """This run's training record (``steps``, ``trained_minutes``, ``device``), made cumulative
    over ``prior``'s when the run carried that model on."""
    here = {device_kind(run.get("device", "cpu")): float(run.get("trained_minutes") or 0)}
    if not prior:
        return {**run, "minutes_by_device": here}
    total = minutes_by_device(prior)
    for kind, minutes in here.items():
        total[kind] = round(total.get(kind, 0.0) + minutes, 1)
    this_run = f"{run['steps']} steps, {run['trained_minutes']} min {device_kind(run['device'])}"
    return {
        **run,
        "steps": int(run["steps"]) + int(prior.get("steps") or 0),
        "trained_minutes": round(sum(total.values()), 1),
        "minutes_by_device": total,
        "run_steps": int(run["steps"]),  # this run's own share: what a per-run budget counts
        "run_minutes": float(run["trained_minutes"]),
        "carried_on": f"{this_run} on top of {describe(prior)}",
        # the card is the model's one history: keep the earlier runs' entries and add this one
        "history": [*(prior.get("history") or []), f"carried on {this_run}"],
    }


def describe(training: dict) -> str:
    """``8355 steps, 3.8 min GPU + 40.0 min CPU``: what the results tables print."""
    parts = [
        f"{m:.1f} min {kind}" for kind, m in minutes_by_device(training).items()
    ]  # in the order trained
    return f"{training.get('steps', '?')} steps, " + " + ".join(parts)
