"""Augmented training pairs (data/augment.py, #31): rescaled and jittered copies of the training
photos, each with f computed on the copy, cached apart from the plain pairs, training only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from restorable.data.augment import Augment, Variant, jitter
from restorable.data.pairs import (
    PairCrops,
    _cache_key,
    _operator_source_hash,
    compute_augmented_pairs,
    compute_pairs,
    load_pairs,
    photo_paths,
)
from restorable.errors import RestorableError
from restorable.image import to_uint8
from restorable.operators import reference
from restorable.operators.photo import exposure


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _copies(photos: Path, cache: Path, augment: Augment, max_side: int = 120, op="exposure"):
    paths = photo_paths(photos, "all")
    found = compute_augmented_pairs(op, paths, augment, {}, max_side, cache, workers=1,
                                    progress=False)  # fmt: skip
    return paths, [i for i, _ in found], load_pairs([f for _, f in found])


def test_plain_cache_keys_are_the_old_ones() -> None:
    """An unaugmented config keeps its cache folder: the key is the formula it always was."""
    for op, params, side, recipe in (("l0", {"lam": 0.02}, 640, ""), ("retouch", {}, 96, "mask")):
        blob = json.dumps(
            {"op": op, "params": params, "max_side": side, "code": _operator_source_hash(op),
             **({"recipe": recipe} if recipe else {})},
            sort_keys=True,
        )  # fmt: skip
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        old = f"{op}{'-' + recipe if recipe else ''}-{digest}"
        assert _cache_key(op, params, side, recipe) == old
    keys = {_cache_key("l0", {}, 640, "", v) for v in Augment((0.5, 0.75), 2).variants()}
    assert len(keys | {_cache_key("l0", {}, 640)}) == 5  # each copy its own folder
    assert _cache_key("l0", {}, 640, "", Variant(scale=0.5)).startswith("l0-s0.5-")


def test_jittered_copies_are_deterministic_differ_and_get_their_own_f(
    photos: Path, cache: Path, tmp_path: Path
) -> None:
    augment = Augment(jitter=2)
    paths, of_photo, copies = _copies(photos, cache, augment)
    plain = load_pairs(compute_pairs("exposure", paths, {}, 120, cache, 1, progress=False))
    assert of_photo == [0, 1, 2, 3, 4] * 2  # copy by copy, every photo
    for i, (x, y) in zip(of_photo, copies, strict=True):
        assert x.shape == plain[i][0].shape and not np.array_equal(x, plain[i][0])
        assert np.array_equal(y, to_uint8(reference("exposure")(x)))  # f of the copy itself
    for a, b in zip(copies[:5], copies[5:], strict=True):
        assert not np.array_equal(a[0], b[0])  # copy 0 and copy 1 draw apart
    # the same copies from scratch elsewhere: seeded by the photos' bytes, not by chance
    _, _, again = _copies(photos, tmp_path / "elsewhere", augment)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(copies, again, strict=True))


def test_a_new_copy_computes_that_copy_only(photos: Path, cache: Path) -> None:
    _copies(photos, cache, Augment(jitter=1))
    first = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    _copies(photos, cache, Augment(jitter=2))
    now = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    assert len(now) == 2 * len(first) and all(now[p] == t for p, t in first.items())


def test_scales_never_upscale(photos: Path, cache: Path) -> None:
    """96×120 photos trained at 120 px: 0.5 makes 60-px copies (of the photo as decoded, with
    f of the copy); 0.95 would nearly repeat the plain pair and 2 would upscale, so neither is
    made; at max_side 640 no copy of 0.5 × 640 can be made from them at all."""
    _, of_photo, copies = _copies(photos, cache, Augment(scales=(0.5, 0.95)))
    assert of_photo == [0, 1, 2, 3, 4]
    for x, y in copies:
        assert x.shape == (48, 60, 3)
        assert np.array_equal(y, to_uint8(reference("exposure")(x)))
    assert _copies(photos, cache, Augment(scales=(0.5,)), max_side=640)[1] == []
    with pytest.raises(RestorableError, match="between 0 and 1"):
        Augment(scales=(2.0,)).check()
    for side in (50, 120, 500, 2000):
        for s in (0.25, 0.5, 0.75, 0.95):
            made = Variant(scale=s).longer_side(side, 640)
            assert made is None or made < min(side, 640)


def test_jitter_is_a_gain_in_linear_light_then_clipped() -> None:
    """With colour and saturation ranges at 0, a jittered copy is the exposure operator at the
    drawn gain (sRGB decoded, multiplied, clipped, encoded): the light a camera catches."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for seed in range(4):
        stops = 0.7 * np.random.default_rng(seed).uniform(-1, 1, 5)[0]
        out = jitter(img, np.random.default_rng(seed), 0.7, 0.0, 0.0)
        expected = to_uint8(exposure(img.astype(np.float32) / 255, gain=2.0**stops))
        assert np.abs(out.astype(int) - expected).max() <= 1  # float32 vs float64 rounding
    assert np.array_equal(jitter(img, rng, 0.0, 0.0, 0.0), img)  # no range: no change
    grey = np.full((4, 4, 3), 128, np.uint8)
    assert len(np.unique(jitter(grey, rng, 0.0, 0.0, 0.5))) == 1  # saturation keeps a grey grey
    tinted = jitter(grey, np.random.default_rng(3), 0.0, 0.08, 0.0)
    assert len(np.unique(tinted[0, 0])) > 1  # a colour cast


def test_crops_weigh_each_photo_as_its_plain_pair(photos: Path) -> None:
    """Copies share their photo's weight (by area within it), so augmenting changes how a photo
    is seen, not how often: a photo with a half-size copy is drawn as often as one without."""
    big, small = np.zeros((80, 80, 3), np.uint8), np.zeros((40, 40, 3), np.uint8)
    pairs = [(big, big), (small, small), (big[:40, :40], big[:40, :40])]
    crops = PairCrops(pairs, crop=32, photos=[0, 1, 0])
    w = crops.weights
    assert np.isclose(w[0] + w[2], 4 * w[1]) and np.isclose(w[0], 4 * w[2])
    assert np.allclose(PairCrops(pairs[:2], crop=32).weights, [0.8, 0.2])  # no copies: area


def test_training_reads_the_copies_and_validation_does_not(
    photos: Path, tmp_path: Path, cache: Path
) -> None:
    from restorable.training.train import CropSource, TrainConfig

    def source(augment: dict) -> CropSource:
        return CropSource(
            TrainConfig.from_dict(
                {"op": "exposure", "photos": str(photos), "crop": 32, "max_side": 120,
                 "augment": augment, "net": {"blocks": 2, "width": 8, "psi_width": 8}}
            ),
            "cpu",
        )  # fmt: skip

    plain, augmented = source({}), source({"scales": [0.5], "jitter": 1})
    held_in = len(photo_paths(photos, "train"))
    assert len(plain.crops.pairs) == held_in and len(augmented.crops.pairs) == 3 * held_in
    vp, va = plain.validation(), augmented.validation()
    assert vp.x.equal(va.x) and vp.y.equal(va.y)  # the plain split: comparable runs
    b = augmented.batch(4)
    assert b.x.shape == (4, 3, 32, 32)


def test_augment_is_refused_where_no_operator_makes_the_targets(tmp_path: Path) -> None:
    from restorable.training.train import TrainConfig

    cfg = TrainConfig.from_dict(
        {"op": "mine", "pairs": [str(tmp_path), str(tmp_path)], "augment": {"jitter": 1}}
    )
    with pytest.raises(RestorableError, match="no operator"):
        cfg.check()
    with pytest.raises(RestorableError, match="jitter -1"):
        TrainConfig.from_dict({"op": "l0", "augment": {"jitter": -1}}).check()
    assert TrainConfig.from_dict({"op": "l0"}).to_dict()["augment"]["scales"] == ()


def test_train_all_computes_the_copies_with_the_pairs(photos: Path, cache: Path) -> None:
    """``train --all`` computes every job's pairs up front on all cores: its copies too."""
    from restorable.training.everything import Job, _pairs_for

    config = {"photos": str(photos), "max_side": 120, "augment": {"scales": [0.5], "jitter": 1}}
    _pairs_for(Job("exposure", "exposure", "png", config), eval_photos=1)
    folders = sorted(p.name.rsplit("-", 1)[0] for p in (cache / "pairs").iterdir())
    assert folders == ["exposure", "exposure", "exposure-j0", "exposure-s0.5"]  # + eval's
    assert len(list((cache / "pairs").glob("exposure-s0.5-*/*.npz"))) == 4  # the 4 held in
