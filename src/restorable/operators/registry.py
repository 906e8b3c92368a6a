"""The one registry of reference operators.

Each operator is a plain function ``f(img, **params) -> img`` on float32 HxWx3 images in [0, 1],
registered under its id with its type (the paper's I / II / III, or "app" for applications) and
the paper it implements. ``reference(op)`` is how everything else gets one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from restorable.errors import RestorableError
from restorable.image import as_float_image

OperatorFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class OperatorInfo:
    """What the registry knows about one operator."""

    id: str
    kind: str  # "I" nearly lossless, "II" lossy, "III" generative, "app" application
    title: str
    citation: str
    fn: OperatorFn
    defaults: dict = field(default_factory=dict)


_REGISTRY: dict[str, OperatorInfo] = {}


def register(id: str, kind: str, title: str, citation: str) -> Callable[[OperatorFn], OperatorFn]:
    """Decorator adding an operator function to the registry under ``id``."""

    def wrap(fn: OperatorFn) -> OperatorFn:
        params = inspect.signature(fn).parameters.values()
        defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
        _REGISTRY[id] = OperatorInfo(id, kind, title, citation, fn, defaults)
        return fn

    return wrap


def operator_ids() -> list[str]:
    """Registered ids in the project's canonical order."""
    order = "wls llf l0 wmf rtv rgf bwp cpd rain scream retouch exposure".split()
    known = [op for op in order if op in _REGISTRY]
    return known + sorted(set(_REGISTRY) - set(known))


def get_operator(op: str) -> OperatorInfo:
    """The registry entry for ``op``; a one-line error listing the ids if unknown."""
    try:
        return _REGISTRY[op]
    except KeyError:
        raise RestorableError(
            f"unknown operator {op!r}; choose one of: {' '.join(operator_ids())}"
        ) from None


def reference(op: str, **params) -> Callable[[np.ndarray], np.ndarray]:
    """The classic operator ``op`` as a function of one image (uint8 or float in [0, 1]).

    Keyword ``params`` override the paper's defaults. The result is float32 HxWx3 in [0, 1].
    """
    info = get_operator(op)
    unknown = set(params) - set(info.defaults)
    if unknown:
        raise RestorableError(
            f"operator {op!r} has no parameter {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(info.defaults) or 'none'}"
        )
    for name, value in params.items():
        default = info.defaults[name]
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            # here, not in each operator: a string reaching numpy fails deep inside it
            raise RestorableError(
                f"operator {op!r}: {name} must be a number (default {default}), got {value!r}"
            )
    fn = partial(info.fn, **params)

    def apply(img: np.ndarray) -> np.ndarray:
        out = fn(as_float_image(img))
        return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)

    apply.__name__ = f"reference_{op}"
    apply.__doc__ = info.fn.__doc__
    return apply
