"""restorable: photo edits whose 8-bit output still hides the original.

    img ──► restorable.load(op).apply ──► edited uint8 ──► .restore ──► img (restored)
    img ──► restorable.reference(op) ──► the classic operator's output (the target)
"""

from restorable.errors import RestorableError
from restorable.operators import get_operator, operator_ids, reference

__all__ = ["RestorableError", "get_operator", "load", "operator_ids", "reference"]
__version__ = "0.1.0"


def load(op: str, **kwargs):
    """The shipped restorable model for operator ``op`` (see :mod:`restorable.models`)."""
    from restorable.models import load as _load

    return _load(op, **kwargs)
