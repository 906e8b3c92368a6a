"""One place that turns a ``NetConfig`` into a module, for training and for loading.

    NetConfig.arch ─┬─ "quasi-invertible" ─► QuasiInvertibleNet (ours)
                    ├─ "ied"              ─► InvertibleEncoderDecoder (baseline)
                    └─ "stega"            ─► OperatorStega (baseline)

Every module has ``forward(img, guide=None) -> (out, Δ)``, ``inverse(stored) -> img`` and
``cfg``; the baselines also say how far their receptive fields reach, for tiling.
"""

from __future__ import annotations

import torch
from torch import nn

from restorable.network.model import NetConfig, QuasiInvertibleNet


def archs() -> dict[str, type[nn.Module]]:
    from restorable.baselines import InvertibleEncoderDecoder, OperatorStega

    return {
        "quasi-invertible": QuasiInvertibleNet,
        "ied": InvertibleEncoderDecoder,
        "stega": OperatorStega,
    }


def build_net(cfg: NetConfig) -> nn.Module:
    """The network ``cfg`` describes (ours unless ``cfg.arch`` names a baseline)."""
    known = archs()
    if cfg.arch not in known:
        raise ValueError(f"unknown arch {cfg.arch!r}; choose from {' '.join(known)}")
    if cfg.cond and cfg.arch != "quasi-invertible":
        raise ValueError(f"arch {cfg.arch!r} takes no setting channel (NetConfig.cond)")
    return known[cfg.arch](cfg)


# optional parts that start as the identity, so a model may gain them when carried on: ρ, and
# the whole-photo path of a learned ψ (its FiLM starts at zero: scale 1, shift 0), and the
# learned estimate (fitted before training: training/estimate_fit.py)
GROWN = ("refiner.", "whole.", "psi.film.", "estimator.")
# and lose: a JPEG fork of a refined PNG model learns its own restore; a learned model that
# changes its whole-photo estimate (grid → curve) keeps ψ's weights for the estimate's channels
DROPPED = ("refiner.", "whole.grid.", "whole.guide.", "whole.curve.")


def _widen_psi_input(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ψ gaining the grid path reads 12 more input channels (the grid's estimate): its first
    conv gets zero weights for them, so the carried-on model starts exactly where it was."""
    key = "psi.inc.weight"
    own = net.state_dict().get(key)
    old = state.get(key)
    if own is None or old is None or own.shape[1] <= old.shape[1] or own.shape[0] != old.shape[0]:
        return state
    wide = torch.zeros(own.shape, dtype=old.dtype)
    wide[:, : old.shape[1]] = old
    return {**state, key: wide}


def load_weights(net: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load ``state`` into ``net``; returns the optional tensors (grown, dropped).

    A model trained without ρ (``network/refine.py``) carries on with one: ρ keeps its identity
    start; a learned model trained without a whole-photo path carries on with one
    (``network/whole_photo.py``) the same way. One with ρ seeds a model without (the JPEG fork of
    a refined PNG model learns its own restore): ρ is dropped. Anything else missing or
    unexpected is the usual error."""
    state = _widen_psi_input(net, state)
    missing, unexpected = net.load_state_dict(state, strict=False)
    grown = [k for k in missing if k.startswith(GROWN)]
    dropped = [k for k in unexpected if k.startswith(DROPPED)]
    if len(grown) != len(missing) or len(dropped) != len(unexpected):
        net.load_state_dict(state)  # raises, naming the keys
    return grown, dropped
