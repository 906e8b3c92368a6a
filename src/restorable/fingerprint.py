"""The shipped fingerprint classifier, as identification reads it (network/fingerprint.py says
what it is; training/fingerprint.py how it is trained).

It knows only the models it was trained on, at the weights it was trained on: its card keeps a
digest of each one's weights, and :func:`probabilities` answers only for a model whose loaded
weights still have that digest. A model retrained since, or a user's own, is identified by its
phase lift alone, as before the classifier shipped.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from restorable.network.fingerprint import Fingerprint
from restorable.network.fingerprint import probabilities as class_probabilities

FOLDER = Path(__file__).parent / "weights" / "identify"
STEM = "fingerprint"
MIN_SIDE = 5  # px: two stride-2 layers leave at least 2 × 2 values per map to pool


def weights_digest(net: torch.nn.Module) -> str:
    """A digest of a network's weights as loaded (fp32 after an fp16 file): the same for the
    same file wherever it lies, different as soon as one weight changed."""
    cached = getattr(net, "_restorable_digest", None)
    if cached:
        return cached
    h = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest = h.hexdigest()[:16]
    net._restorable_digest = digest  # a loaded model's weights do not change
    return digest


@functools.lru_cache(maxsize=2)
def load_fingerprint(folder: Path = FOLDER) -> tuple[Fingerprint, dict] | None:
    """(network, card) of the shipped classifier, or None where none ships."""
    from safetensors.torch import load_file

    card_path, weights = folder / f"{STEM}.json", folder / f"{STEM}.safetensors"
    if not (card_path.exists() and weights.exists()):
        return None
    card = json.loads(card_path.read_text())
    net = Fingerprint(len(card["classes"]), card.get("width", 32))
    net.load_state_dict({k: v.float() for k, v in load_file(weights).items()})
    return net.eval(), card


def probabilities(square: np.ndarray, models: dict) -> dict[str, float]:
    """{"none": p, name: p, ...} for the uint8 ``square`` over "no model" and those of
    ``models`` (name → RestorableModel) the classifier knows at their weights, renormalised
    over them; {} where no classifier ships or it knows none of them."""
    found = load_fingerprint()
    if found is None:
        return {}
    if min(square.shape[:2]) < MIN_SIDE:  # its last maps would hold one value: no deviation
        return {}
    net, card = found
    known = card["digests"]
    valid = [n for n, m in models.items() if known.get(n) == weights_digest(m.net)]
    if not valid:
        return {}
    p = class_probabilities(net, square)
    index = {c: i for i, c in enumerate(card["classes"])}
    kept = {n: float(p[index[n]]) for n in ["none", *valid]}
    total = sum(kept.values()) or 1.0
    return {n: v / total for n, v in kept.items()}


def unedited_probability(square: np.ndarray) -> float | None:
    """The classifier's p("no model") for the uint8 ``square`` over all its classes, or None
    where no classifier ships or the picture is too small. Read on a *restoration*: one on the
    right grid is close to an unedited photo, one on a wrong grid carries the hidden signal
    garbled (realworld.grid_scores)."""
    found = load_fingerprint()
    if found is None or min(square.shape[:2]) < MIN_SIDE:
        return None
    net, card = found
    return float(class_probabilities(net, square)[card["classes"].index("none")])
