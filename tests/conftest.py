"""Shared test settings."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# One thread: the suite's networks are tiny, and CI's two cores may be shared; oversubscribed
# torch thread pools make small convolutions tens of times slower.
torch.set_num_threads(1)

# The user's own models (train --pairs) must not leak into the suite, nor the suite's into them:
# an empty models folder for this run (subprocesses inherit it).
os.environ["RESTORABLE_HOME"] = tempfile.mkdtemp(prefix="restorable-home-")


# --- shared fixtures: tiny photo folders and barely trained models from the bundled samples ---

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


def write_crops(folder: Path, h: int, w: int, count: int | None = None) -> Path:
    """The bundled samples' top-left h×w crops as PNGs in ``folder``: a tiny user folder."""
    from restorable.files import read_image, write_image

    folder.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(sorted(SAMPLES.glob("*.jpg"))[:count]):
        write_image(folder / f"p{i}.png", read_image(p)[:h, :w])
    return folder


@pytest.fixture(scope="session")
def sample_crops(tmp_path_factory) -> Callable[..., Path]:
    """``sample_crops(h, w, count=None)``: a new folder of sample crops (``write_crops``)."""
    return lambda h, w, count=None: write_crops(tmp_path_factory.mktemp("photos"), h, w, count)


@pytest.fixture(scope="module")
def photos(sample_crops) -> Path:
    """Five 96×120 crops of the bundled samples."""
    return sample_crops(96, 120)


def tiny_config(op: str, photos: Path, run_dir: Path, **config) -> dict:
    """The TrainConfig dict of a barely trained model: 2 steps of batch 2 on 32-px crops of
    ≤ 120-px photos, a 2-block network 8 wide, one thread; ``config`` adds to or overrides it
    (``net`` entries are merged)."""
    net = {"blocks": 2, "width": 8, "psi_width": 8, **config.pop("net", {})}
    base = {"steps": 2, "batch": 2, "crop": 32, "max_side": 120, "threads": 1, "val_every": 2}
    return {"op": op, "photos": str(photos), "run_dir": str(run_dir), **base, "net": net, **config}


@pytest.fixture(scope="session")
def tiny_l0(tmp_path_factory) -> Callable[..., Path]:
    """``tiny_l0(**config)``: the run folder RUN of an L0 model trained 2 steps on three 64×64
    crops (in RUN/../photos), enough to exercise every path through files and settings;
    ``config`` adds to or overrides the TrainConfig (``net`` entries are merged)."""
    from restorable.training.train import TrainConfig, train

    def make(**config) -> Path:
        tmp = tmp_path_factory.mktemp("model")
        net = {"blocks": 2, "width": 8, "psi_width": 8, **config.pop("net", {})}
        cfg = {
            "op": "l0",
            "photos": str(write_crops(tmp / "photos", 64, 64, 3)),
            "steps": 2,
            "batch": 2,
            "crop": 32,
            "threads": 1,
            "max_side": 64,
            "net": net,
            "run_dir": str(tmp / "run"),
            **config,
        }
        mp = pytest.MonkeyPatch()
        mp.setenv("RESTORABLE_CACHE", str(tmp / "cache"))
        try:
            return train(TrainConfig.from_dict(cfg), progress=False)
        finally:
            mp.undo()

    return make

