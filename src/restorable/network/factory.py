"""One place that turns a ``NetConfig`` into a module, for training and for loading.

    NetConfig.arch ─┬─ "quasi-invertible" ─► QuasiInvertibleNet (ours)
                    ├─ "ied"              ─► InvertibleEncoderDecoder (baseline)
                    └─ "stega"            ─► OperatorStega (baseline)

Every module has ``forward(img, guide=None) -> (out, Δ)``, ``inverse(stored) -> img`` and
``cfg``; the baselines also say how far their receptive fields reach, for tiling.
"""

from __future__ import annotations

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
