"""The pair cache's key: a change to the code one operator runs recomputes its pairs only."""

from __future__ import annotations

import pytest

import restorable.operators.smoothing as smoothing
from restorable.data.pairs import _code_closure, _operator_source_hash


def test_key_follows_the_code_each_operator_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {op: _operator_source_hash(op) for op in ("l0", "rtv", "wls")}
    assert len(set(before.values())) == 3
    rtv_code = "\n".join(_code_closure(smoothing.rtv))
    assert "def _rtv_weights" in rtv_code and "def _circular_gradients" not in rtv_code
    # replace a helper that only RTV calls
    monkeypatch.setattr(smoothing, "_rtv_weights", smoothing._gaussian_blur)
    after = {op: _operator_source_hash(op) for op in before}
    assert after["rtv"] != before["rtv"]
    assert after["l0"] == before["l0"] and after["wls"] == before["wls"]
    assert _operator_source_hash("rtv") == after["rtv"]  # deterministic
