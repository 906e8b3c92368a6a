"""The model users hold: tiled apply/restore equal one pass on the real network; save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restorable.errors import RestorableError
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


def test_psi_and_the_couplings_on_tiles_of_their_own_equal_one_tiled_pass(monkeypatch) -> None:
    # a learned model's apply: ψ on tiles with the wide overlap, φ and H on tiles with
    # RESTORE_REACH; the same result as tiles that run the whole network
    model = _model()
    assert model._split_psi()
    img = (_photo(301, 1243) * 255).astype(np.uint8)
    split = model.apply(img, tile=2 * RECEPTIVE_FIELD + 200)
    monkeypatch.setattr(model, "_split_psi", lambda: False)
    assert np.array_equal(split, model.apply(img, tile=2 * RECEPTIVE_FIELD + 200))


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


SAMPLE = Path(__file__).parents[1] / "src" / "restorable" / "samples" / "scikit-image__coffee.jpg"


def _sample(h: int = 200, w: int = 264) -> np.ndarray:
    from restorable.data.pairs import resize_max_side
    from restorable.files import read_image

    return np.ascontiguousarray(resize_max_side(read_image(SAMPLE), 320)[:h, :w])


def test_fast_layout_float32_equals_the_eager_network() -> None:
    # precision="fp32" runs channels-last: the same arithmetic as the NCHW network, and the
    # inverse with Δ stays exact
    model = _model(guided=True)
    fast = RestorableModel(model.net, model.card, precision="fp32")
    x = _photo(64, 96)
    g = 1 - x
    ours = fast.apply_float(x, g)
    net = fast.net.to(memory_format=torch.contiguous_format)
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        out, delta = net(to_t(x), to_t(g))
    np.testing.assert_allclose(ours, out[0].permute(1, 2, 0).numpy(), atol=1e-5)
    cl = torch.channels_last
    net.to(memory_format=cl)
    with torch.no_grad():
        out, delta = net(to_t(x).contiguous(memory_format=cl), to_t(g).contiguous(memory_format=cl))
        back = net.inverse(out, delta)
    np.testing.assert_allclose(back[0].permute(1, 2, 0).numpy(), x, atol=1e-4)


def test_bf16_apply_within_a_level_and_restore_as_good_on_the_shipped_model() -> None:
    from restorable.evaluation.metrics import psnr

    img = _sample()
    ref, fast = load("l0", precision="fp32"), load("l0", precision="bf16")
    assert ref.apply_dtype == ref.restore_dtype == torch.float32
    assert fast.apply_dtype == fast.restore_dtype == torch.bfloat16
    guide = ref.guide(img)
    a, b = ref.apply(img, tile=None), fast.apply(img, tile=None)
    levels = np.abs(a.astype(int) - b)
    assert levels.max() <= 3 and (levels <= 1).mean() > 0.999 and (levels == 0).mean() > 0.7
    assert np.array_equal(guide, fast.guide(img))  # the classic operator is the same
    p_ref = psnr(img, ref.restore(a, tile=None))
    p_fast = psnr(img, fast.restore(b, tile=None))
    assert abs(p_fast - p_ref) < 0.1, (p_ref, p_fast)  # 45 photos: mean -0.001 dB


def test_auto_precision_is_bf16_only_where_native(monkeypatch) -> None:
    from restorable import models

    model = _model()
    monkeypatch.setattr(models, "bf16_native", lambda device="cpu": False)
    auto = RestorableModel(model.net, model.card)
    assert auto.apply_dtype == auto.restore_dtype == torch.float32
    monkeypatch.setattr(models, "bf16_native", lambda device="cpu": True)
    auto = RestorableModel(model.net, model.card)  # restore stays float32 (README, Speed)
    assert auto.apply_dtype == torch.bfloat16 and auto.restore_dtype == torch.float32
    fp32 = RestorableModel(model.net, model.card, precision="fp32")
    assert fp32.apply_dtype == fp32.restore_dtype == torch.float32


def test_bad_precision_or_missing_gpu_is_a_one_line_error() -> None:
    import pytest

    from restorable.errors import RestorableError

    with pytest.raises(RestorableError, match="precision"):
        load("l0", precision="fp8")
    with pytest.raises(RestorableError, match="device"):
        load("l0", device="tpu!")
    if not torch.cuda.is_available():
        with pytest.raises(RestorableError, match="no CUDA GPU"):
            load("l0", device="cuda")


def test_guide_is_computed_once_per_photo_and_tiles_share_it(monkeypatch) -> None:
    from restorable import models

    model = _model(guided=True)  # exposure: pointwise, so windowed guides are exact too
    img = (_photo(200, 1100) * 255).astype(np.uint8)
    calls = []
    real = model.reference_guide
    monkeypatch.setattr(model, "reference_guide", lambda x, **p: calls.append(x.shape) or real(x))
    whole = model.apply(img, tile=None)
    tiled = model.apply(img, tile=2 * RECEPTIVE_FIELD + 200)
    assert calls == [img.shape, img.shape]  # once per apply, whatever the network's tiles
    assert np.abs(whole.astype(int) - tiled).max() <= 1
    assert (whole != tiled).mean() < 1e-4
    # a photo too big for the operator in one pass: its guide on large overlapping windows
    monkeypatch.setattr(models, "GUIDE_BUDGET_MB", 0.05)
    calls.clear()
    windows = model.apply(img, tile=2 * RECEPTIVE_FIELD + 200)
    assert len(calls) > 1
    assert np.abs(windows.astype(int) - tiled).max() <= 1


def test_tiled_apply_equals_one_pass_on_the_shipped_l0_model() -> None:
    # L0 is not local (a windowed guide moved 62% of the pixels of a 2400x1600 photo, some by
    # 40 levels): the guide is computed once for the photo, so only the network is tiled. Its
    # trained ψ reaches far less than its layers could: tiles overlapping by what its card
    # says, small ones (many seams), still equal one pass
    from restorable.data.pairs import resize_max_side
    from restorable.files import read_image

    img = resize_max_side(read_image(SAMPLE), 800)
    model = load("l0")
    overlap = model.card.apply_overlap
    assert 0 < overlap == model.apply_overlap < RECEPTIVE_FIELD
    whole = model.apply(img, tile=None)
    tiled = model.apply(img, tile=2 * overlap + 128)
    assert np.abs(whole.astype(int) - tiled).max() <= 1
    assert (whole != tiled).mean() < 1e-4
    # the measured overlap matters: none at all shows seams
    model.apply_overlap = 0
    seams = model.apply(img, tile=2 * overlap + 128)
    assert (whole != seams).mean() > 1e-3
    r_tiled = model.restore(whole, tile=2 * RESTORE_RECEPTIVE_FIELD + 64)
    assert np.abs(model.restore(whole, tile=None).astype(int) - r_tiled).max() <= 1


def test_the_variant_is_read_from_the_card_not_the_name() -> None:
    """OP, OP-jpeg, OP-learned and OP-cond say what they are in their cards; a user's model
    from pairs may be called anything, "x-jpeg" included."""
    from restorable.models import available_models, read_card_of

    shipped = set(available_models())
    expect = {"l0": "guided", "l0-jpeg": "jpeg", "l0-learned": "learned", "l0-cond": "cond"}
    for name, variant in expect.items():
        if name in shipped:
            assert read_card_of(name).variant == variant
    pairs = ModelCard(op="x-jpeg", version="x-jpeg-v1", net={}, training={"pairs": {"count": 4}})
    assert pairs.variant == "pairs"
    assert ModelCard(op="bwp", version="v", net={"arch": "ied"}).variant == "ied"


def test_op_is_a_deprecated_alias_of_model(tmp_path) -> None:
    import warnings

    import restorable
    from restorable.models import available_models

    if "l0" not in available_models():
        pytest.skip("needs the shipped l0 model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert restorable.load(op="l0").card.stem == "l0"
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    with pytest.raises(RestorableError, match="once"):
        restorable.load("l0", op="l0")
