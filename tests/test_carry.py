"""The photos that travel to a lent GPU: only training photos, downscaled, every N-th."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restorable.data import carry
from restorable.files import read_image, write_image

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


def test_carry_writes_every_nth_training_photo_downscaled_and_no_validation_photo(
    tmp_path: Path, monkeypatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    img = read_image(sorted(SAMPLES.glob("*.jpg"))[0])
    names = [f"t{i}.jpg" for i in range(5)]
    for n in names + ["v0.jpg"]:
        write_image(shared / n, img)
    monkeypatch.setattr(carry, "SHARED_PHOTOS", shared)
    monkeypatch.setattr(carry, "load_split", lambda: {"train": names, "val": ["v0.jpg"]})
    out = tmp_path / "train"
    total = carry.make_carry(out, max_side=64, every=2)
    written = sorted(p.name for p in out.iterdir())
    assert written == ["t0.jpg", "t2.jpg", "t4.jpg"]  # no validation photo, no temp file
    assert total == sum(p.stat().st_size for p in out.iterdir())
    small = read_image(out / "t0.jpg")
    assert max(small.shape[:2]) == 64 and small.dtype == np.uint8


def test_tracked_bytes_counts_this_repository() -> None:
    repo = Path(__file__).parents[1]
    assert carry.tracked_bytes(repo) > (repo / "README.md").stat().st_size


def test_tracked_bytes_outside_a_checkout_is_unknown(tmp_path: Path) -> None:
    assert carry.tracked_bytes(tmp_path) is None
