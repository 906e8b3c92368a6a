"""Training is seeded and resumable, learns, and writes a model that ``load`` reads back; apply
and restore work on uint8 and float photos; eval gives honest figures on held-out photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

from restorable.files import read_image, write_image
from restorable.models import load
from restorable.training.history import describe
from restorable.training.train import (
    TRAIN_AUTOCAST,
    GradClip,
    TrainConfig,
    autocast_passes,
    train,
)

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
CONFIGS = Path(__file__).parents[1] / "configs"


def _cfg(photos: Path, tmp: Path, steps: int, name: str) -> TrainConfig:
    return TrainConfig.from_dict(
        # checkpoint after every step
        tiny_config("l0", photos, tmp / name, steps=steps, warmup=2, ckpt_minutes=0.0)
    )


def test_resume_continues_exactly(photos: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    straight = train(_cfg(photos, tmp_path, 4, "a"), progress=False)
    cfg = _cfg(photos, tmp_path, 2, "b")
    train(cfg, progress=False)
    cfg.steps = 4
    resumed = train(cfg, resume=True, progress=False)
    a, b = load_file(str(straight / "l0.safetensors")), load_file(str(resumed / "l0.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    card = json.loads((resumed / "l0.json").read_text())
    assert card["training"]["steps"] == 4 and card["op"] == "l0"


def test_training_reduces_approximation_error(photos: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    scores = []
    for steps in (1, 80):
        cfg = _cfg(photos, tmp_path, steps, f"c{steps}")
        cfg.lr, cfg.ckpt_minutes = 3e-3, 100.0
        run = train(cfg, progress=False)
        scores.append(json.loads((run / "l0.json").read_text())["metrics"]["val_approx_psnr"])
    assert scores[1] > scores[0] + 0.3


def test_bf16_training_learns_and_the_card_says_so(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    """bf16 autocast (forward and inverse) still trains the model; the image path stays float32
    and the validation figures are float32, so they are comparable with a float32 run's."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    scores = []
    for steps in (1, 80):
        cfg = _cfg(photos, tmp_path, steps, f"bf{steps}")
        cfg.lr, cfg.ckpt_minutes, cfg.precision = 3e-3, 100.0, "bf16"
        card = json.loads((train(cfg, progress=False) / "l0.json").read_text())
        assert card["training"]["precision"] == "bf16"
        scores.append(card["metrics"]["val_approx_psnr"])
    assert scores[1] > scores[0] + 0.3


def test_precision_names_the_passes_in_bf16(photos: Path, tmp_path: Path) -> None:
    cfg = _cfg(photos, tmp_path, 1, "p")
    cfg.precision = "fp32"
    assert autocast_passes(cfg) == (False, False)
    cfg.precision = "bf16"
    assert autocast_passes(cfg) == (True, True)
    cfg.precision, cfg.device = "auto", "cpu"
    assert autocast_passes(cfg) in {TRAIN_AUTOCAST["cpu"], (False, False)}
    cfg.precision = "half"
    with pytest.raises(ValueError, match="precision"):
        autocast_passes(cfg)


def test_saved_model_applies_and_restores(photos: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    run = train(_cfg(photos, tmp_path, 2, "d"), progress=False)
    model = load("l0", run)
    img = read_image(SAMPLES / "scikit-image__chelsea.jpg")[:77, :93]  # odd size
    out = model.apply(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(model.apply(img.astype(np.float32) / 255), out)
    back = model.restore(out)
    assert back.dtype == np.uint8 and back.shape == img.shape
    # barely trained: near identity, so the restored photo is close to the original
    assert np.abs(back.astype(int) - img).mean() < 8


def test_eval_reports_per_photo_and_mean(photos: Path, tmp_path: Path, monkeypatch) -> None:
    from restorable.evaluation.evaluate import run_eval

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    run = train(_cfg(photos, tmp_path, 2, "e"), progress=False)
    out = tmp_path / "eval.json"
    result = run_eval("l0", str(photos), [90], str(out), weights_dir=str(run))
    assert result["photos"] == 1  # every tenth photo of a user folder is held out
    saved = json.loads(out.read_text())
    for fmt in ("png", "jpeg90"):
        m = saved["mean"][fmt]
        assert 10 < m["approx_psnr"] < 60 and 10 < m["restore_psnr"] < 100
        assert 0 < m["restore_ssim"] <= 1
    assert saved["mean"]["jpeg90"]["restore_psnr"] <= saved["mean"]["png"]["restore_psnr"] + 1


def test_distributed_training_with_torchrun(photos: Path, tmp_path: Path) -> None:
    """Two CPU processes under torchrun (gloo) train one model with DistributedDataParallel."""
    import os
    import subprocess
    import sys

    cfg = _cfg(photos, tmp_path, 3, "ddp").to_dict()
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "RESTORABLE_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free port for the rendezvous, not the fixed 29500 another test may hold
        "--nproc_per_node",
        "2",
        "-m",
        "restorable.cli",
        "train",
        "--op",
        "l0",
        "--config",
        str(tmp_path / "cfg.json"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    # the first lines name the failing rank's error, the last the launcher's summary
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-1500:]
    card = json.loads((tmp_path / "ddp" / "l0.json").read_text())
    assert card["training"]["steps"] == 3


def test_ema_saves_the_average_of_the_weights_and_resumes(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    """With ``ema`` the saved model is the running average of the steps' weights (the first
    step's copied, then w ← d·w + (1 − d)·w_step), the raw weights stay in the checkpoint, and
    a resumed run continues exactly as a straight one."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    d = 0.75
    raw = []
    for steps in (1, 2):  # the raw weights after each step (training is seeded)
        run = train(_cfg(photos, tmp_path, steps, f"raw{steps}"), progress=False)
        raw.append(torch.load(run / "checkpoint.pt", weights_only=False)["net"])
    cfg = _cfg(photos, tmp_path, 2, "ema")
    cfg.ema = d
    run = train(cfg, progress=False)
    saved = load_file(str(run / "l0.safetensors"))
    kept_raw = torch.load(run / "checkpoint.pt", weights_only=False)["net"]
    assert all(torch.equal(kept_raw[k], raw[1][k]) for k in raw[1])
    moved = 0
    for k, w in saved.items():
        torch.testing.assert_close(w, d * raw[0][k] + (1 - d) * raw[1][k], rtol=1e-5, atol=1e-7)
        moved += not torch.equal(w, raw[1][k])
    assert moved > 0  # the saved weights are not the last step's
    assert json.loads((run / "l0.json").read_text())["training"]["ema"] == d
    cfg = _cfg(photos, tmp_path, 1, "ema-resumed")
    cfg.ema = d
    train(cfg, progress=False)
    cfg.steps = 2
    resumed = load_file(str(train(cfg, resume=True, progress=False) / "l0.safetensors"))
    for k in saved:
        assert torch.equal(saved[k], resumed[k]), k


def test_adversarial_term_trains_a_discriminator_and_resumes(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    """Type III: with λadv > 0 a patch discriminator trains beside f̂, is checkpointed, and a
    resumed run continues exactly as a straight one."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    straight = _cfg(photos, tmp_path, 4, "adv-a")
    straight.loss.adversarial = 0.1
    a = train(straight, progress=False)
    cfg = _cfg(photos, tmp_path, 2, "adv-b")
    cfg.loss.adversarial = 0.1
    train(cfg, progress=False)
    cfg.steps = 4
    b = train(cfg, resume=True, progress=False)
    state = torch.load(b / "checkpoint.pt", weights_only=False)
    assert "disc" in state and "disc_opt" in state
    logged = [json.loads(line) for line in (a / "log.jsonl").read_text().splitlines()]
    assert all("disc" in r and "adversarial" in r for r in logged)
    wa, wb = load_file(str(a / "l0.safetensors")), load_file(str(b / "l0.safetensors"))
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_user_folder_holds_eval_photos_out_of_training(photos: Path, tmp_path: Path) -> None:
    from restorable.data.pairs import photo_paths
    from restorable.errors import RestorableError

    train_set, val_set = photo_paths(str(photos), "train"), photo_paths(str(photos), "val")
    assert val_set and train_set and not set(train_set) & set(val_set)
    assert sorted(train_set + val_set) == sorted(photo_paths(str(photos), "all"))
    lone = tmp_path / "lone"
    lone.mkdir()
    write_image(lone / "a.png", read_image(SAMPLES / "scikit-image__chelsea.jpg")[:40, :40])
    with pytest.raises(RestorableError, match="at least 2"):
        photo_paths(str(lone), "train")


def test_eval_measures_texture_for_type_iii(sample_crops, monkeypatch, tmp_path: Path) -> None:
    """Type III models are also judged by texture statistics against the operator's output:
    the shipped cpd model lies far closer to cpd's strokes than the photo does."""
    from restorable.evaluation.evaluate import evaluate_model

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    folder = sample_crops(96, 128, 2)
    for i in range(2, 20):  # a user folder holds every tenth photo out: make two of them
        (folder / f"q{i}.png").write_bytes((folder / f"p{i % 2}.png").read_bytes())
    result = evaluate_model(load("cpd"), str(folder), progress=False)
    png = result["mean"]["png"]
    assert 0 <= png["texture_distance"] < png["texture_distance_identity"] / 10
    assert (
        "texture_distance"
        not in evaluate_model(load("l0"), str(folder), progress=False)["mean"]["png"]
    )


def test_carrying_a_model_on_adds_to_its_record_per_device(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    """Weights carried on from the same model add their steps and minutes (per device) to its
    card; weights from another model (a fork, a related operator) only say where it began."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    first = train(_cfg(photos, tmp_path, 2, "e"), progress=False)
    earlier = json.loads((first / "l0.json").read_text())
    earlier["training"].update(  # as if trained on a lent GPU
        device="cuda:0", trained_minutes=3.8, minutes_by_device={"GPU": 3.8}
    )
    (first / "l0.json").write_text(json.dumps(earlier))
    cfg = _cfg(photos, tmp_path, 3, "f")
    cfg.init_from = str(first / "l0.safetensors")
    t = json.loads((train(cfg, progress=False) / "l0.json").read_text())["training"]
    assert t["steps"] == 5 and t["run_steps"] == 3
    assert list(t["minutes_by_device"]) == ["GPU", "CPU"]
    assert t["minutes_by_device"]["GPU"] == 3.8
    assert t["trained_minutes"] == round(3.8 + t["run_minutes"], 1)
    assert describe(t).startswith("5 steps, 3.8 min GPU + ") and describe(t).endswith(" min CPU")
    # the finished model lands beside the weights it started from (train --all --init-from OUT):
    # resuming must add to the record it started on top of, not to its own
    (first / "l0.json").write_text((cfg_run := Path(cfg.run_dir) / "l0.json").read_text())
    cfg.steps = 4
    t = json.loads((train(cfg, resume=True, progress=False) / "l0.json").read_text())["training"]
    assert t["steps"] == 6 and t["run_steps"] == 4 and t["minutes_by_device"]["GPU"] == 3.8
    assert cfg_run.exists()

    cfg = _cfg(photos, tmp_path, 3, "g")
    cfg.init_from, cfg.name = str(first / "l0.safetensors"), "l0-jpeg"  # a fork: a new model
    t = json.loads((train(cfg, progress=False) / "l0-jpeg.json").read_text())["training"]
    assert t["steps"] == 3 and "carried_on" not in t and t["init_from"] == "l0"
    assert list(t["minutes_by_device"]) == ["CPU"]


@pytest.mark.parametrize("config", ["carry-on.json", "gpu-carry-on.json"])
def test_carrying_on_starts_gently(config: str, photos: Path, tmp_path: Path, monkeypatch) -> None:
    """The carry-on configs warm up: Adam's first step moves every weight by the full rate
    whatever its gradient, which knocked a trained bwp from 43.7 to 27.1 dB in one step."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    trained = train(_cfg(photos, tmp_path, 3, "trained"), progress=False) / "l0.safetensors"
    cfg = _cfg(photos, tmp_path, 1, "carried")
    for key, value in json.loads((CONFIGS / config).read_text()).items():
        setattr(cfg, key, value)
    cfg.init_from = str(trained)
    run = train(cfg, progress=False)
    before = load_file(str(trained))
    after = torch.load(run / "checkpoint.pt", weights_only=False)["net"]  # the raw weights
    moved = max(float((after[k] - before[k]).abs().max()) for k in before)
    assert 0 < moved < cfg.lr / 30


def test_relative_clipping_cuts_an_outlier_step_to_a_multiple_of_the_running_norm() -> None:
    w = torch.nn.Parameter(torch.zeros(4))
    clip = GradClip(fixed=5.0, rel=2.0, settle=10)
    for _ in range(30):
        w.grad = torch.full((4,), 0.05)  # norm 0.1, well under the fixed 5
        assert clip([w]) == pytest.approx(0.1)
        assert float(w.grad.norm()) == pytest.approx(0.1)  # ordinary steps pass untouched
    w.grad = torch.full((4,), 2.0)  # norm 4: an outlier, under the fixed bound
    assert clip([w]) == pytest.approx(4.0)  # reported as it was
    assert float(w.grad.norm()) == pytest.approx(0.2, rel=1e-3)  # applied as 2x the mean
    fixed = GradClip(fixed=5.0)
    for _ in range(30):
        w.grad = torch.full((4,), 0.05)
        fixed([w])
    w.grad = torch.full((4,), 2.0)
    fixed([w])
    assert float(w.grad.norm()) == pytest.approx(4.0)  # rel 0: the fixed bound only


def test_a_trained_model_grows_a_refiner_and_ships_it(photos: Path, tmp_path: Path, monkeypatch):
    """Carrying a model on with ρ (NetConfig.refine): training starts from its weights, ρ
    trains, and the saved model loads, restores through ρ and tiles its restore to the same
    result (ρ widens the overlap tiling needs)."""
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    trained = train(_cfg(photos, tmp_path, 2, "plain"), progress=False) / "l0.safetensors"
    cfg = _cfg(photos, tmp_path, 3, "refined")
    cfg.net.refine = 8
    cfg.init_from = str(trained)
    run = train(cfg, progress=False)
    weights = load_file(str(run / "l0.safetensors"))
    assert float(weights["refiner.out.weight"].abs().max()) > 0  # ρ left its identity start
    model = load("l0", run)
    assert model.restore_receptive_field > 96
    img = read_image(photos / sorted(p.name for p in photos.iterdir())[0])[:96, :96]
    img = np.tile(img, (3, 4, 1))  # 288x384: larger than a tile
    stored = model.apply(img)
    with torch.no_grad():  # a ρ that matters, as a long-trained one does
        for p in model.net.refiner.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    whole = model.restore(stored, tile=None)
    tile = 2 * model.restore_receptive_field + 16
    assert tile < 288 and np.array_equal(model.restore(stored, tile=tile), whole)


def test_cli_carries_a_model_on_and_grows_its_refiner(photos: Path, tmp_path: Path, monkeypatch):
    """``train --op OP --init-from WEIGHTS --refine W``: the net is the card's (2 blocks here,
    not the default 8) plus ρ; a folder without the model is a one-line error."""
    from restorable.cli import main

    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    trained = train(_cfg(photos, tmp_path, 1, "plain"), progress=False)
    argv = ["train", "--op", "l0", "--steps", "1", "--batch", "2", "--crop", "32", "--threads"]
    argv += ["1", "--photos", str(photos), "--run-dir", str(tmp_path / "grown"), "--refine", "8"]
    assert main([*argv, "--init-from", str(trained / "l0.safetensors")]) == 0
    card = json.loads((tmp_path / "grown" / "l0.json").read_text())
    assert card["net"]["blocks"] == 2 and card["net"]["refine"] == 8
    assert card["training"]["init_from"] == "l0"
    assert main([*argv, "--init-from", str(tmp_path / "cache")]) == 2
