"""The paper's two baselines (Ouyang et al. 2022, Table 1), built to train and run exactly like
our network: ``forward(img, guide=None) -> (out, Δ)`` and ``inverse(stored) -> img``.

    IED             I ─► E1 ─► µ ─► E2 ─► Î                   (two encoder-decoders)
    Operator+Stega  I ─► f(I) ─► hide I in it ─► µ ─► reveal ─► Î   (deep steganography)

Neither is invertible, so neither restores exactly: only restoration training makes Î close.
``restorable.network.factory.build_net`` picks one by ``NetConfig.arch`` ("ied", "stega").
"""

from restorable.baselines.ied import InvertibleEncoderDecoder
from restorable.baselines.stega import OperatorStega

__all__ = ["InvertibleEncoderDecoder", "OperatorStega"]
