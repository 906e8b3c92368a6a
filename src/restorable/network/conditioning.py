"""Settings as an input: one model serves a range of its operator's main parameter (Table 3).

    value ─► normalise to [-1, 1] (log scale where natural) ─► constant channel ─► ψ
                                                                  (ψ only: see below)

Ouyang et al. (2022, "Effect of variable hyper-parameters", after Chen, Xu & Koltun 2017)
concatenate a constant hyper-parameter channel to the network's input. Here it goes to ψ
alone: ψ is dropped on restore, and H⁻¹ and φ⁻¹ never read ψ's input (H's inverse computes its
first half from the stored image and Δ = 0 only), so restoring needs no setting at all; the
file's record still stores it, for the user.

A ``NetConfig.cond`` is ``{"param": NAME, "low": a, "high": b, "log": bool}``; ``RANGES`` says
which operators have a conditioned model (``OP-cond``) and the values its training draws from.
"""

from __future__ import annotations

import math

from restorable.errors import RestorableError

# Per operator: the conditioned parameter, its range, and the values training draws per crop
# (evenly spaced on the chosen scale, the paper's Table 3 values among them).
RANGES: dict[str, dict] = {
    "l0": {
        "param": "lam",
        "low": 0.01,
        "high": 0.04,
        "log": True,
        "values": [0.01, 0.014, 0.02, 0.028, 0.04],
    },
    "llf": {
        "param": "alpha",
        "low": 0.1,
        "high": 1.0,
        "log": True,
        "values": [0.1, 0.16, 0.25, 0.5, 1.0],
    },
    "exposure": {
        "param": "gain",
        "low": 1.25,
        "high": 4.0,
        "log": True,
        "values": [1.25, 1.6, 2.0, 2.8, 4.0],
    },
}


def net_cond(op: str) -> dict:
    """The ``NetConfig.cond`` of ``op``'s conditioned model (RANGES less the training values)."""
    spec = RANGES[op]
    return {k: spec[k] for k in ("param", "low", "high", "log")}


def check_setting(cond: dict, value: float, model: str = "this model") -> float:
    """``value`` as a float, or a one-line RestorableError if outside the trained range."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RestorableError(f"{cond['param']}={value!r}: expected a number") from None
    low, high = cond["low"], cond["high"]
    if not (low - 1e-9 <= v <= high + 1e-9):
        raise RestorableError(
            f"{cond['param']}={v:g} is outside the range {model} was trained for "
            f"({low:g} to {high:g})"
        )
    return v


def normalise(cond: dict, value: float) -> float:
    """``value`` mapped to [-1, 1] across the range (log scale when ``cond["log"]``)."""
    low, high, v = cond["low"], cond["high"], float(value)
    if cond.get("log"):
        low, high, v = math.log(low), math.log(high), math.log(v)
    return 2.0 * (v - low) / (high - low) - 1.0


def spread(cond: dict, n: int = 5) -> list[float]:
    """``n`` values evenly spaced across the range on its scale (for a ``cond`` not in RANGES)."""
    low, high = cond["low"], cond["high"]
    if cond.get("log"):
        return [low * (high / low) ** (i / (n - 1)) for i in range(n)]
    return [low + (high - low) * i / (n - 1) for i in range(n)]
