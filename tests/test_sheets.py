"""README sheets: per model, original | edited | restored | error, from the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restorable.evaluation.sheets import labelled_grid, model_rows
from restorable.files import read_image

SAMPLE = Path(__file__).parents[1] / "src" / "restorable" / "samples" / "scikit-image__coffee.jpg"


def test_model_rows_show_the_edit_and_the_restoration() -> None:
    img = read_image(SAMPLE)[:64, :96]
    tiles = model_rows(img, ["l0"])
    labels = [t[0] for t in tiles]
    assert labels[0] == "l0: original" and labels[3].startswith("error x")
    assert all(t[1].shape == img.shape and t[1].dtype == np.uint8 for t in tiles)
    assert np.array_equal(tiles[0][1], img)
    assert not np.array_equal(tiles[1][1], img)  # the edit is visible
    restored = tiles[2][1].astype(int)
    assert np.abs(restored - img).mean() < np.abs(tiles[1][1].astype(int) - img).mean()
    sheet = labelled_grid(tiles, 4)
    assert sheet.shape[1] == 4 * 96 and sheet.shape[0] > 64


def test_settings_rows_span_a_conditioned_models_range() -> None:
    """l0-cond at lam 0.01, 0.02, 0.04: each edit differs, each restores closer than it edits."""
    from restorable.evaluation.sheets import settings_rows

    img = read_image(SAMPLE)[:64, :96]
    tiles = settings_rows(img, "l0-cond")
    labels = [t[0] for t in tiles]
    assert labels[0] == "original" and len(tiles) == 7
    assert [lab.split(":")[0] for lab in labels[1::2]] == ["lam=0.01", "lam=0.02", "lam=0.04"]
    edits = [t[1] for t in tiles[1::2]]
    assert not np.array_equal(edits[0], edits[2])  # the setting changes the edit
    for edited, restored in zip(edits, [t[1] for t in tiles[2::2]], strict=True):
        assert np.abs(restored.astype(int) - img).mean() < np.abs(edited.astype(int) - img).mean()
