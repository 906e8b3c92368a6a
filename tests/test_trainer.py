"""The trainer's parts, each on its own: a step, validation, a checkpoint and a resume, and a
data source that the trainer only asks for batches (so one with more per-crop inputs fits)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from restorable.training.train import CropSource, TrainConfig, Trainer


@pytest.fixture
def cfg(photos: Path, tmp_path: Path, monkeypatch) -> TrainConfig:
    monkeypatch.setenv("RESTORABLE_CACHE", str(tmp_path / "cache"))
    return TrainConfig.from_dict(
        tiny_config("l0", photos, tmp_path / "run", steps=3, warmup=1, val_every=1)
    )


def _weights(t: Trainer) -> dict[str, torch.Tensor]:
    return copy.deepcopy(t.net.state_dict())


def test_a_step_trains_and_counts(cfg: TrainConfig) -> None:
    t = Trainer(cfg, progress=False)
    before = _weights(t)
    figures = t.step()
    assert t.step_no == 1
    assert figures["loss"] > 0 and {"approx", "restore", "delta", "gnorm"} <= set(figures)
    after = t.net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_validation_changes_nothing(cfg: TrainConfig) -> None:
    t = Trainer(cfg, progress=False)
    t.step()
    before, rng = _weights(t), torch.get_rng_state()
    figures = t.validate()
    assert 5 < figures["val_approx_psnr"] < 100 and 5 < figures["val_restore_psnr"] <= 100
    assert all(torch.equal(before[k], v) for k, v in t.net.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state()) and t.net.training
    assert t.validate() == figures  # fixed crops


def test_checkpoint_and_resume_take_the_same_next_step(cfg: TrainConfig) -> None:
    a = Trainer(cfg, progress=False)
    a.step()
    path = a.checkpoint()
    assert path.exists() and not path.with_suffix(".tmp").exists()
    assert "best" not in torch.load(path, weights_only=False)  # kept nothing it never updated
    a.step()
    b = Trainer(cfg, progress=False)
    assert b.resume() and b.step_no == 1
    b.step()
    wa, wb = a.net.state_dict(), b.net.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_no_checkpoint_no_resume(cfg: TrainConfig) -> None:
    t = Trainer(cfg, progress=False)
    assert not t.resume() and t.step_no == 0


def test_run_writes_the_model_and_closes_its_log(cfg: TrainConfig) -> None:
    t = Trainer(cfg, progress=False)
    run = t.run()
    assert t.log.closed
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 3 and "val_restore_psnr" in lines[-1]
    card = json.loads((run / "l0.json").read_text())
    assert card["training"]["steps"] == 3 and card["training"]["final"]


def test_a_data_source_slots_in(cfg: TrainConfig) -> None:
    """The trainer takes its batches, validation crops and crop state from ``source`` alone:
    a source that adds per-crop inputs (e.g. a whole-photo thumbnail for ψ) is a subclass."""

    class Counting(CropSource):
        calls = 0

        def batch(self, size: int):
            Counting.calls += 1
            b = super().batch(size)
            assert b.x.shape == (size, 3, cfg.crop, cfg.crop) and b.extra == {}
            return b

        def state(self) -> dict:
            return {"crops": super().state(), "calls": Counting.calls}

        def set_state(self, state: dict) -> None:
            super().set_state(state["crops"])
            Counting.calls = state["calls"]

    source = Counting(cfg, "cpu")
    t = Trainer(cfg, progress=False, source=source)
    t.step()
    t.step()
    t.checkpoint()
    assert Counting.calls == 2
    Counting.calls = 0
    t2 = Trainer(cfg, progress=False, source=Counting(cfg, "cpu"))
    assert t2.resume() and Counting.calls == 2
