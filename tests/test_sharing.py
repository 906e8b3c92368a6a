"""µ_share (network/sharing.py): a shared file's pixels forward, a resize's gradient backward,
the restoration's target resized alike; OP-share's recipe and its training step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorable.network import sharing
from restorable.network.sharing import (
    RESAMPLERS,
    ShareDraw,
    draw_share,
    pad_for_inverse,
    received_original,
    resize_float,
    resize_u8,
    share,
)
from restorable.network.storage import jpeg_roundtrip
from restorable.training import train as train_module
from restorable.training.everything import plan_jobs
from restorable.training.recipes import recipe
from restorable.training.train import TrainConfig, train


def _batch(seed: int = 0, n: int = 2, h: int = 40, w: int = 48) -> tuple[np.ndarray, torch.Tensor]:
    img = np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    return img, torch.from_numpy(img).permute(0, 3, 1, 2).float().div(255)


@pytest.mark.parametrize("method", list(RESAMPLERS))
def test_share_forward_is_the_real_resize_and_codec(method: str) -> None:
    img, x = _batch()
    draw = ShareDraw((20, 30), method, (85, 70), (2, 0))
    y = share(x, draw)
    assert y.shape == (2, 3, 20, 30)
    for i, (q, sub) in enumerate([(85, 2), (70, 0)]):
        small = np.asarray(Image.fromarray(img[i]).resize((30, 20), RESAMPLERS[method]))
        want = jpeg_roundtrip(small, q, sub)
        assert np.array_equal(np.rint(y[i].detach().permute(1, 2, 0).numpy() * 255), want)


def test_share_gradient_is_the_stand_in_resize() -> None:
    _, x = _batch()
    x.requires_grad_(True)
    share(x, ShareDraw((20, 24), "bicubic", (90, 90), (0, 0))).sum().backward()
    ref = x.detach().clone().requires_grad_(True)
    torch.nn.functional.interpolate(
        ref, size=(20, 24), mode="bicubic", align_corners=False, antialias=True
    ).sum().backward()
    assert torch.allclose(x.grad, ref.grad)
    assert float(x.grad.abs().sum()) > 0


def test_full_size_share_is_a_jpeg_re_encode() -> None:
    img, x = _batch(1)
    y = share(x, ShareDraw((40, 48), "lanczos", (80, 80), (2, 2)))
    assert np.array_equal(
        np.rint(y[0].permute(1, 2, 0).numpy() * 255), jpeg_roundtrip(img[0], 80, 2)
    )
    assert received_original(x, ShareDraw((40, 48), "area", (80, 80), (2, 2))) is x


def test_the_target_is_the_original_resized_in_float() -> None:
    _, x = _batch(2)
    x = x * 0.9 + 0.013  # not on the 8-bit grid: the target must not be rounded
    draw = ShareDraw((16, 20), "lanczos", (90, 90), (0, 0))
    got = received_original(x, draw)
    want = resize_float(x[1].permute(1, 2, 0).numpy(), (16, 20), "lanczos")
    assert got.shape == (2, 3, 16, 20)
    assert np.allclose(got[1].permute(1, 2, 0).numpy(), want, atol=1e-6)
    assert not np.allclose(want * 255, np.rint(want * 255), atol=1e-3)
    # and close to what the 8-bit resize of the same pixels gives (same filter)
    u8 = np.rint(x[1].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.abs(resize_u8(u8, (16, 20), "lanczos") / 255.0 - want).max() < 3 / 255


def test_draws_stay_in_range_and_keep_some_files_full_size() -> None:
    rng = np.random.default_rng(0)
    draws = [draw_share(rng, 4, 96, 80) for _ in range(400)]
    scales = [d.size[0] / 96 for d in draws]
    assert all(0.39 <= s <= 1.0 for s in scales)
    assert all(d.size[1] <= 80 and min(d.size) >= sharing.MIN_SIDE for d in draws)
    full = sum(d.size == (96, 80) for d in draws) / len(draws)
    assert 0.15 < full < 0.35
    assert {d.method for d in draws} == set(RESAMPLERS)
    assert all(70 <= q <= 95 for d in draws for q in d.qualities)
    assert all(len(d.qualities) == len(d.subsampling) == 4 for d in draws)
    again = [draw_share(np.random.default_rng(0), 4, 96, 80) for _ in range(1)]
    assert again[0] == draws[0]


def test_pad_for_inverse_reflects_to_whole_cells_and_says_the_size() -> None:
    y = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    padded, size = pad_for_inverse(y, 2)
    assert padded.shape == (2, 3, 6, 8) and size == (5, 7)
    assert torch.equal(padded[..., :5, :7], y)
    assert torch.equal(padded[..., 5, :7], y[..., 3, :])  # reflected, not zeros
    same, size = pad_for_inverse(padded, 2)
    assert same is padded and size == (6, 8)


def test_share_recipe_forks_the_jpeg_model() -> None:
    jpeg, shared = recipe("l0", "jpeg"), recipe("l0", "share")
    assert shared["name"] == "l0-share" and shared["share"] and shared["jpeg"]
    assert shared["loss"]["restore"] == jpeg["loss"]["restore"]
    assert not jpeg.get("share")
    cfg = TrainConfig.from_dict(shared)
    assert cfg.share and cfg.share_scales == (0.4, 1.0)
    jobs = {j.name: j for j in plan_jobs(["l0"], ["png", "jpeg", "share"], Path("/tmp/x"))}
    assert jobs["l0-share"].after == "l0-jpeg" and jobs["l0-jpeg"].after == "l0"


def test_a_share_step_restores_at_the_received_size(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    """Every other batch is shared (resized, then JPEG): its restoration is compared with the
    original resized alike, at the received size; the card says how the model was trained."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sharing, "FULL_SIZE_SHARE", 0.0)
    seen = []
    real = train_module.total_loss

    def spy(out, target, restored, original, delta, w):
        seen.append((tuple(out.shape), tuple(restored.shape), tuple(original.shape)))
        return real(out, target, restored, original, delta, w)

    monkeypatch.setattr(train_module, "total_loss", spy)
    cfg = TrainConfig.from_dict(
        {
            "op": "l0",
            "photos": str(photos),
            "steps": 4,
            "batch": 2,
            "crop": 32,
            "warmup": 2,
            "threads": 1,
            "val_every": 4,
            "ckpt_minutes": 100.0,
            "max_side": 120,
            "jpeg": True,
            "share": True,
            "share_scales": [0.5, 0.5],
            "net": {"blocks": 2, "width": 8, "psi_width": 8, "guided": True},
            "run_dir": str(tmp_path / "run"),
            "name": "l0-share",
        }
    )
    run = train(cfg, progress=False)
    assert seen[0] == ((2, 3, 32, 32), (2, 3, 32, 32), (2, 3, 32, 32))  # a PNG batch
    assert seen[1] == ((2, 3, 32, 32), (2, 3, 16, 16), (2, 3, 16, 16))  # a shared one
    card = json.loads((run / "l0-share.json").read_text())
    assert card["training"]["share"] is True and card["training"]["share_scales"] == [0.5, 0.5]
