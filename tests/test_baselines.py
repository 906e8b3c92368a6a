"""The paper's baselines (IED, Operator + Stega) train, save, load, apply and restore through the
same code as our network; both halves of each learn from the joint loss; their receptive fields
are what tiling assumes; and a train-all plan holds them and the ablations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from restorable.baselines import InvertibleEncoderDecoder, OperatorStega
from restorable.files import read_image
from restorable.models import load
from restorable.network.factory import build_net
from restorable.network.model import NetConfig
from restorable.network.storage import quantize
from restorable.training.everything import Plan, _run_job, plan_jobs
from restorable.training.losses import LossWeights, total_loss
from restorable.training.train import TrainConfig, train

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
TINY = {
    "ied": NetConfig(arch="ied", psi_width=8),
    "stega": NetConfig(arch="stega", guided=True, psi_width=4),
}


def _images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.rand(2, 3, size, size)
    return x, (x * 2).clamp(0, 1)  # f = exposure x2: a target the identity start misses


def _loss(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out, delta = net(x, y)
    restored = net.inverse(quantize(out))
    return total_loss(out, y, restored, x, delta, LossWeights(delta=0.0))[0]


@pytest.mark.parametrize("arch", ["ied", "stega"])
def test_interface_shapes_and_identity_start(arch: str) -> None:
    net = build_net(TINY[arch])
    x, y = _images()
    out, delta = net(x, y)
    assert out.shape == x.shape and delta.shape == x.shape and not delta.any()
    start = y if arch == "stega" else x  # residual nets start as (cover | I, stored)
    assert (out - start).abs().max() < 0.05
    assert net.inverse(out).shape == x.shape


@pytest.mark.parametrize("arch", ["ied", "stega"])
def test_both_halves_learn_and_a_step_lowers_the_loss(arch: str) -> None:
    net = build_net(TINY[arch])
    x, y = _images()
    loss = _loss(net, x, y)
    loss.backward()
    halves = ("forward_net", "backward_net") if arch == "ied" else ("hide", "reveal")
    for half in halves:
        grads = [p.grad for p in getattr(net, half).parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    opt.step()
    with torch.no_grad():
        assert _loss(net, x, y).item() < loss.item()


def test_restoration_is_not_exact_only_ours_is() -> None:
    """A trained-for-nothing baseline restores roughly; ours with Δ restores to float precision."""
    x, y = _images()
    ours = build_net(NetConfig(blocks=2, width=8, psi_width=8))
    out, delta = ours(x)
    assert torch.allclose(ours.inverse(out, delta), x, atol=1e-5)
    stega = build_net(TINY["stega"])
    assert (stega.inverse(stega(x, y)[0]) - x).abs().max() > 0.1  # reveals the cover, not I


def test_sizes_compare_with_ours_and_configs_are_checked() -> None:
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    ours = count(build_net(NetConfig()))
    assert 0.8 * ours < count(build_net(NetConfig(arch="ied"))) < 1.05 * ours
    assert 0.8 * ours < count(build_net(NetConfig(arch="stega", guided=True))) < 1.05 * ours
    with pytest.raises(ValueError, match="guided"):
        InvertibleEncoderDecoder(NetConfig(arch="ied", guided=True))
    with pytest.raises(ValueError, match="guided"):
        OperatorStega(NetConfig(arch="stega"))
    with pytest.raises(ValueError, match="guide"):
        build_net(TINY["stega"])(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="unknown arch"):
        build_net(NetConfig(arch="nosuch"))


@pytest.mark.parametrize("arch", ["ied", "stega"])
def test_receptive_fields_are_what_tiling_assumes(arch: str) -> None:
    torch.manual_seed(0)
    net = build_net(TINY[arch]).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))  # no zero-initialised layer hides a path
    size = 2 * net.receptive_field + 64
    x = torch.rand(1, 3, size, size)
    x2, c = x.clone(), size // 2
    x2[..., c, c] += 0.5
    with torch.no_grad():
        for fn, limit in (
            (lambda t: net(t, t)[0], net.receptive_field),
            (net.inverse, net.restore_receptive_field),
        ):
            diff = (fn(x2) - fn(x)).abs().sum(dim=(0, 1))
            ys, xs = torch.nonzero(diff > 0, as_tuple=True)
            reach = max((ys - c).abs().max().item(), (xs - c).abs().max().item())
            assert limit // 2 < reach <= limit


@pytest.mark.parametrize("arch", ["ied", "stega"])
def test_train_save_load_apply_restore(arch: str, photos: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    name = f"exposure-{arch}"
    cfg = TrainConfig.from_dict(
        {
            "op": "exposure",
            "name": name,
            "photos": str(photos),
            "steps": 2,
            "batch": 2,
            "crop": 32,
            "warmup": 1,
            "threads": 1,
            "val_every": 2,
            "max_side": 120,
            "net": TINY[arch].to_dict(),
            "run_dir": str(tmp_path / "run"),
        }
    )
    run = train(cfg, progress=False)
    card = json.loads((run / f"{name}.json").read_text())
    assert card["net"]["arch"] == arch and card["training"]["steps"] == 2
    model = load(name, run)
    assert type(model.net) is type(build_net(TINY[arch]))
    img = read_image(SAMPLES / "scikit-image__chelsea.jpg")[:50, :70]  # not a multiple of 8
    edited = model.apply(img)
    restored = model.restore(edited)
    assert edited.shape == restored.shape == img.shape and restored.dtype == np.uint8
    # barely trained, so near its start: IED's E2 undoes E1 (both near the identity) roughly;
    # Stega's reveal net still returns the container, which looks like the edit, not the photo
    near = img if arch == "ied" else edited
    assert 0 < np.abs(restored.astype(int) - near).mean() < 8
    # tiles overlap by the net's own receptive field: tiled equals one pass
    astronaut = read_image(SAMPLES / "scikit-image__astronaut.jpg")[:64]
    wide = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)  # 64 x 1024: several tiles
    tile = 2 * model.receptive_field + 64
    whole, tiled = model.apply(wide, tile=None), model.apply(wide, tile=tile)
    assert np.abs(whole.astype(int) - tiled).max() <= 1
    back = model.restore(whole, tile=2 * model.restore_receptive_field + 64)
    assert np.abs(model.restore(whole, tile=None).astype(int) - back).max() <= 1


def test_train_all_plans_baselines_and_ablations(tmp_path: Path) -> None:
    variants = ["learned", "ied", "stega", "ablation-no-psi", "ablation-k4"]
    variants.append("ablation-no-restore-loss")
    jobs = {j.name: j.config for j in plan_jobs(["l0"], variants, tmp_path)}
    assert jobs["l0-ied"]["net"]["arch"] == "ied" and not jobs["l0-ied"]["net"]["guided"]
    assert jobs["l0-stega"]["net"]["arch"] == "stega" and jobs["l0-stega"]["net"]["guided"]
    assert jobs["l0-learned"]["net"]["arch"] == "quasi-invertible"
    assert jobs["l0-ablation-no-psi"]["net"]["use_psi"] is False
    assert jobs["l0-ablation-k4"]["net"]["blocks"] == 4
    assert jobs["l0-ablation-no-restore-loss"]["loss"]["restore"] == 0.0
    # an ablation is OP-learned with one change: everything else equal
    full = jobs["l0-learned"]
    for name, cfg in jobs.items():
        if "ablation" in name:
            same = {k: v for k, v in cfg.items() if k not in ("name", "version", "run_dir")}
            base = {k: v for k, v in full.items() if k not in ("name", "version", "run_dir")}
            assert same["loss"] == base["loss"] or name.endswith("restore-loss")
            assert {k: v for k, v in same.items() if k not in ("net", "loss")} == {
                k: v for k, v in base.items() if k not in ("net", "loss")
            }


@pytest.mark.parametrize("arch", ["ied", "stega"])
def test_train_all_job_ships_and_evaluates_a_baseline(
    arch: str, photos: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    base = {"steps": 2, "batch": 2, "crop": 32, "warmup": 1, "val_every": 2, "max_side": 120}
    base["net"] = {"psi_width": 4}
    (job,) = plan_jobs(["exposure"], [arch], tmp_path, base=base, photos=str(photos))
    summary = _run_job(job, Plan([job], tmp_path, "cpu", eval_photos=1, eval_jpeg=[90]))
    assert "error" not in summary, summary.get("trace")
    result = json.loads((tmp_path / "results" / f"exposure-{arch}.json").read_text())
    assert result["name"] == f"exposure-{arch}" and set(result["mean"]) == {"png", "jpeg90"}
    assert load(f"exposure-{arch}", tmp_path / "weights").net.cfg.arch == arch
