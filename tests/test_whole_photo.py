"""A learned ψ that reads the whole photo (network/whole_photo.py, issue #26): the thumbnail is
the photo's in training crops and in apply, a tiled apply equals one pass, restore never reads
it, and a model carried on with the path starts exactly where it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restorable.models import RECEPTIVE_FIELD, ModelCard, RestorableModel
from restorable.network.factory import build_net, load_weights
from restorable.network.model import NetConfig, QuasiInvertibleNet
from restorable.network.whole_photo import oriented, photo_box, photo_thumbnail


def _net(whole: str, seed: int = 0) -> QuasiInvertibleNet:
    torch.manual_seed(seed)
    net = build_net(NetConfig(blocks=2, width=8, psi_width=8, whole=whole))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.03 * torch.randn_like(p))
    return net.eval()


def _model(whole: str) -> RestorableModel:
    net = _net(whole)
    return RestorableModel(net, ModelCard(op="bwp", version="test", net=net.cfg.to_dict()))


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.4 * np.sin(x / 23.0)[..., None] * np.cos(y / 31.0)[..., None]
    img = np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1)
    return (img * 255).round().astype(np.uint8)


@pytest.mark.parametrize("whole", ["film", "grid", "curve"])
def test_the_photo_changes_the_output_of_the_same_window(whole: str) -> None:
    """The path is live: the same 64-px window gives another output inside another photo."""
    net = _net(whole)
    a, b = _photo(160, 200, seed=1), 255 - _photo(160, 200, seed=2)
    b[40:104, 40:104] = a[40:104, 40:104]
    x = torch.from_numpy(a[40:104, 40:104]).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out_a, _ = net(x, thumb=photo_thumbnail(a), box=photo_box(40, 40, 160, 200))
        out_b, _ = net(x, thumb=photo_thumbnail(b), box=photo_box(40, 40, 160, 200))
    assert (out_a - out_b).abs().max() > 1e-5  # the nets are near their (small) init


@pytest.mark.parametrize("whole", ["film", "grid", "curve"])
def test_tiled_apply_equals_one_pass(whole: str) -> None:
    """apply makes the thumbnail once for the photo and tells each tile where it lies."""
    model = _model(whole)
    img = _photo(301, 1243)  # odd sizes, several tiles along the width
    one = model.apply(img, tile=None)
    tiled = model.apply(img, tile=2 * RECEPTIVE_FIELD + 200)
    assert np.abs(one.astype(int) - tiled).max() <= 1  # float rounding may flip a level
    assert (one != tiled).mean() < 1e-4


def test_a_tile_that_forgot_its_place_would_differ() -> None:
    """The box matters: the grid slices each tile at its own place in the photo."""
    model = _model("grid")
    img = _photo(160, 400)
    x = img[:, 200:].astype(np.float32) / 255
    thumb = photo_thumbnail(img)
    right = model.apply_float(x, whole=(thumb, photo_box(0, 200, 160, 400)))
    wrong = model.apply_float(x, whole=(thumb, photo_box(0, 0, 160, 400)))
    assert np.abs(right - wrong).max() > 1e-4


@pytest.mark.parametrize("whole", ["film", "grid", "curve"])
def test_restore_never_reads_the_path(whole: str) -> None:
    """Restore runs H⁻¹ and φ⁻¹ only: a net whose whole-photo path differs restores alike."""
    a, b = _net(whole), _net(whole)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        for p in b.whole.parameters():
            p.add_(torch.randn_like(p))
        for p in b.psi.parameters():
            p.add_(torch.randn_like(p))
    y = torch.from_numpy(_photo(64, 96)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        assert torch.equal(a.inverse(y), b.inverse(y))
        assert not torch.equal(a(y)[0], b(y)[0])


@pytest.mark.parametrize("whole", ["film", "grid", "curve"])
def test_inverse_with_delta_is_exact(whole: str) -> None:
    net = _net(whole)
    x = torch.from_numpy(_photo(64, 96)).permute(2, 0, 1)[None].double() / 255
    net = net.double()
    with torch.no_grad():
        out, delta = net(x)
        assert torch.allclose(net.inverse(out, delta), x, atol=1e-9)


@pytest.mark.parametrize("whole", ["film", "grid", "curve"])
def test_carrying_a_model_on_with_the_path_starts_where_it_was(whole: str) -> None:
    """FiLM starts at scale 1, shift 0; the grid's estimate enters ψ through zero weights."""
    old = _net("")
    new = build_net(NetConfig(blocks=2, width=8, psi_width=8, whole=whole)).eval()
    grown, dropped = load_weights(new, old.state_dict())
    assert grown and not dropped
    assert all(k.startswith(("whole.", "psi.film.")) for k in grown)
    x = torch.from_numpy(_photo(64, 96)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        a, da = old(x)
        b, db = new(x)
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(da, db, atol=1e-6)


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("flip", [False, True])
def test_turned_crops_carry_the_turned_photo_and_their_place_in_it(k: int, flip: bool) -> None:
    """Training turns and mirrors each crop: its thumbnail and box are those of the photo
    turned the same way, so the crop is the turned photo's window at the new box."""
    photo = _photo(200, 300)  # larger than the thumbnail: area averages, exactly turnable
    top, left, c = 17, 60, 24
    crop = np.rot90(photo[top : top + c, left : left + c], k)
    turned = np.rot90(photo, k)
    if flip:
        crop, turned = crop[:, ::-1], turned[:, ::-1]
    thumb, (t, l, h, w) = oriented(photo_thumbnail(photo), (top, left, 200, 300), c, k, flip)
    assert (h, w) == turned.shape[:2]
    np.testing.assert_array_equal(turned[t : t + c, l : l + c], crop)
    assert torch.equal(thumb, photo_thumbnail(np.ascontiguousarray(turned)))


def test_training_batches_carry_each_crops_photo(photos: Path, tmp_path: Path, monkeypatch) -> None:
    from restorable.training.train import CropSource, TrainConfig

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig.from_dict(
        {
            "op": "exposure",
            "photos": str(photos),
            "batch": 4,
            "crop": 32,
            "max_side": 120,
            "net": {"blocks": 2, "width": 8, "psi_width": 8, "guided": False, "whole": "film"},
        }
    )
    source = CropSource(cfg, "cpu")
    b = source.batch(4)
    assert b.extra["thumb"].shape == (4, 3, 128, 128) and b.extra["box"].shape == (4, 4)
    # every box is a crop inside its (turned) photo, whose thumbnail is one of the photos'
    for (top, left, h, w), thumb in zip(b.extra["box"].tolist(), b.extra["thumb"], strict=True):
        assert 0 <= top <= h - 32 and 0 <= left <= w - 32
        turns = [torch.rot90(t[0], k, dims=(-2, -1)) for t in source.thumbs for k in range(4)]
        assert any(torch.equal(thumb, t) or torch.equal(thumb, t.flip(-1)) for t in turns)
    v = source.validation()
    assert v.extra["thumb"].shape[0] == v.x.shape[0] == v.extra["box"].shape[0]


def test_learned_recipes_read_the_whole_photo(tmp_path: Path) -> None:
    """OP-learned: FiLM, the curves for bwp and the grid for exposure (the tone operators);
    train --pairs: FiLM and the grade estimate (a user's edit is most often a grade of the
    photo's own tones); a --config may choose otherwise."""
    from restorable.training.from_pairs import pairs_config
    from restorable.training.recipes import recipe

    assert recipe("l0", "learned")["net"]["whole"] == "film"
    bwp, exposure = recipe("bwp", "learned"), recipe("exposure", "learned")
    assert bwp["net"]["whole"] == "curve" and bwp["loss"]["estimate"] > 0
    assert exposure["net"]["whole"] == "grid" and exposure["loss"]["estimate"] > 0
    assert not recipe("l0", "png")["net"].get("whole")  # guided models read f(I) instead
    before, after = tmp_path / "b", tmp_path / "a"
    for d in (before, after):
        d.mkdir()
        for i in range(4):
            from PIL import Image

            Image.fromarray(_photo(32, 40, seed=i)).save(d / f"{i}.png")
    cfg = pairs_config(before, after, "mine")
    assert cfg["net"]["whole"] == "film" and cfg["net"]["estimate"] == "grade"
    mine = pairs_config(before, after, "mine", base={"net": {"whole": "grid"}})
    assert mine["net"]["whole"] == "grid" and not mine["net"].get("estimate")


def test_the_grid_estimate_is_trained_from_the_forward_it_took(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    """The estimate loss reads the forward's own estimate (no second run of the grid): the one
    kept equals the path's output for that batch, and the training log carries its term."""
    import json

    from conftest import tiny_config

    from restorable.training.train import TrainConfig, train

    net = _net("grid")
    x = torch.from_numpy(_photo(48, 64)).permute(2, 0, 1)[None].float() / 255
    thumb, box = net.whole_photo_of(x)
    with torch.no_grad():
        net(x, thumb=thumb, box=box)
        _, estimate = net.whole(x, thumb, box)
    assert torch.equal(net.last_estimate, estimate)
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    net = {"guided": False, "whole": "grid"}
    cfg = TrainConfig.from_dict(
        tiny_config("exposure", photos, tmp_path / "run", loss={"estimate": 4.0}, net=net)
    )
    run = train(cfg, progress=False)
    last = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 2 and last["estimate"] > 0


def test_curves_interpolate_their_knots_and_start_as_the_identity() -> None:
    from restorable.network.global_psi import CurveEstimate, _cdf_at_knots, apply_curves

    k = 9
    xs = np.linspace(0, 1, k)
    knots = torch.tensor(np.stack([xs**2, np.sqrt(xs), 1 - xs]), dtype=torch.float32)[None]
    u = torch.rand(1, 3, 5, 7)
    got = apply_curves(knots, u)
    for c in range(3):
        want = np.interp(u[0, c].numpy(), xs, knots[0, c].numpy())
        assert np.allclose(got[0, c].numpy(), want, atol=1e-6)
    x = torch.from_numpy(_photo(40, 56)).permute(2, 0, 1)[None].float() / 255
    thumb = torch.nn.functional.interpolate(x, size=(32, 32), mode="area")
    cdf = _cdf_at_knots(thumb, 32)
    assert torch.all(cdf[..., 1:] >= cdf[..., :-1]) and torch.allclose(cdf[..., -1], torch.ones(4))
    assert torch.allclose(CurveEstimate()(x, thumb), x, atol=1e-6)


def test_slope_built_curves_start_as_the_identity_and_stay_monotone() -> None:
    """The curve path's curves are running sums of positive slopes: the identity before
    training, and never decreasing whatever the weights (a tone curve that folds back would
    merge tones a restoration then has to tell apart)."""
    from restorable.network.global_psi import SlopeCurveEstimate

    x = torch.from_numpy(_photo(40, 56)).permute(2, 0, 1)[None].float() / 255
    thumb = torch.nn.functional.interpolate(x, size=(32, 32), mode="area")
    est = SlopeCurveEstimate()
    assert torch.allclose(est(x, thumb), x, atol=1e-5)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in est.parameters():
            p.add_(torch.randn_like(p))
        knots, _ = est.curves(thumb)
    span = knots[..., -1:] - knots[..., :1]
    assert torch.all((knots[..., 1:] - knots[..., :-1]) * span.sign() >= -1e-6)


def test_the_curves_read_each_channels_levels_as_numpy_quantiles_do() -> None:
    """The black point, median and white point the knots see are the thumbnail's own."""
    from restorable.network.global_psi import LEVEL_QUANTILES, _levels_at

    x = torch.from_numpy(_photo(40, 56)).permute(2, 0, 1)[None].float() / 255
    thumb = torch.cat([x[..., :32, :32], 0.5 * x[..., :32, :32]])  # two photos, one darker
    got = _levels_at(thumb)
    assert got.shape == (2, 4, len(LEVEL_QUANTILES))
    for b in range(2):
        t = thumb[b].numpy()
        luma = 0.2126 * t[0] + 0.7152 * t[1] + 0.0722 * t[2]
        for c, chan in enumerate([t[0], t[1], t[2], luma]):
            want = np.quantile(chan.ravel(), LEVEL_QUANTILES)
            assert np.allclose(got[b, c].numpy(), want, atol=1e-5)
    assert torch.allclose(got[1], 0.5 * got[0], atol=1e-5)  # halving the photo halves its levels


def test_a_grid_model_switches_to_curves_keeping_psi() -> None:
    """grid → curve on carrying on: the grid's tensors are dropped, ψ (its estimate channels
    included) and φ kept as they were."""
    old = _net("grid")
    new = build_net(NetConfig(blocks=2, width=8, psi_width=8, whole="curve"))
    grown, dropped = load_weights(new, old.state_dict())
    assert dropped and all(k.startswith(("whole.grid.", "whole.guide.")) for k in dropped)
    assert grown and all(k.startswith("whole.curve.") for k in grown)
    mine = new.state_dict()
    for key, value in old.state_dict().items():
        if not key.startswith(("whole.grid.", "whole.guide.")):
            assert torch.equal(mine[key], value), key
