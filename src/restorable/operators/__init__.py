"""Reference operators: the classic image edits the learned models imitate.

Importing this package fills the registry; see :mod:`restorable.operators.registry`.
"""

from restorable.operators import detail, photo, smoothing, style_transfer, stylise  # noqa: F401
from restorable.operators.registry import OperatorInfo, get_operator, operator_ids, reference

__all__ = ["OperatorInfo", "get_operator", "operator_ids", "reference"]
