"""restorable: photo edits whose 8-bit output still hides the original.

img ──► restorable.load(op).apply ──► edited uint8 ──► .restore ──► img (restored)
img ──► restorable.reference(op) ──► the classic operator's output (the target)
edited ──► restorable.identify ──► (model, lift dB, margin dB): no record needed
file ──► restorable.restore_file ──► restored, even cropped or stripped
"""

from restorable.errors import RestorableError
from restorable.operators import get_operator, operator_ids, reference

__all__ = [
    "RestorableError",
    "get_operator",
    "identify",
    "load",
    "operator_ids",
    "reference",
    "restore_file",
]
__version__ = "0.1.0"


def load(model: str | None = None, **kwargs):
    """The restorable model named ``model``: ``"l0"``, ``"l0-jpeg"``, ``"l0-learned"``, ... (see
    :func:`restorable.models.load`; ``op=`` is the parameter's old name)."""
    from restorable.models import load as _load

    return _load(model, **kwargs)


def identify(img, **kwargs):
    """Which shipped model made an edited image, from its pixels alone: an
    :class:`~restorable.realworld.Identification` that unpacks as ``(name, score, margin)``
    (see :func:`restorable.realworld.identify`)."""
    from restorable.realworld import identify as _identify

    return _identify(img, **kwargs)


def restore_file(path, model=None, **kwargs):
    """Restore an edited file: its record, else the model identified from the pixels; any crop
    offset; a :class:`~restorable.realworld.RestorableWarning` when a PNG's pixels changed since
    apply (see :func:`restorable.realworld.restore_file`)."""
    from restorable.realworld import restore_file as _restore_file

    return _restore_file(path, model, **kwargs)
