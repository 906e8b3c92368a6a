"""The model users hold: tiled apply/restore equal one pass on the real network; save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from restorable.models import (
    RECEPTIVE_FIELD,
    RESTORE_RECEPTIVE_FIELD,
    ModelCard,
    RestorableModel,
    load,
    save_model,
)
from restorable.network.model import NetConfig, QuasiInvertibleNet


def _model(guided: bool = False) -> RestorableModel:
    torch.manual_seed(0)
    cfg = NetConfig(blocks=2, width=8, psi_width=8, guided=guided)
    net = QuasiInvertibleNet(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.03 * torch.randn_like(p))
    return RestorableModel(net, ModelCard(op="exposure", version="test", net=cfg.to_dict()))


def _photo(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.4 * np.sin(x / 23.0)[..., None] * np.cos(y / 31.0)[..., None]
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def test_tiled_apply_and_restore_equal_one_pass() -> None:
    model = _model()
    img = _photo(301, 1243)  # odd sizes, several tiles along the width
    tile = 2 * RECEPTIVE_FIELD + 200
    whole = model.apply(img, tile=None)
    tiled = model.apply(img, tile=tile)
    assert np.abs(whole.astype(int) - tiled).max() <= 1  # float rounding may flip a level
    assert (whole != tiled).mean() < 1e-4
    r_whole = model.restore(whole, tile=None)
    r_tiled = model.restore(whole, tile=2 * RESTORE_RECEPTIVE_FIELD + 48)
    assert np.abs(r_whole.astype(int) - r_tiled).max() <= 1
    assert (r_whole != r_tiled).mean() < 1e-4


def test_guided_model_tiles_its_guide() -> None:
    model = _model(guided=True)  # the exposure operator is pointwise: tiling it is exact
    img = _photo(200, 1100)
    whole = model.apply(img, tile=None)
    tiled = model.apply(img, tile=2 * RECEPTIVE_FIELD + 200)
    assert np.abs(whole.astype(int) - tiled).max() <= 1


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _model()
    save_model(model.net, model.card, tmp_path)
    loaded = load("exposure", tmp_path)
    img = _photo(40, 56)
    np.testing.assert_array_equal(loaded.apply(img), model.apply(img))
    assert loaded.version == "test" and loaded.op == "exposure"
