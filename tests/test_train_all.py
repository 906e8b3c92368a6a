"""``restorable train --all`` end to end in miniature: pairs for every operator asked for, the
models trained side by side in worker processes (forks after their parents), shipped as fp16,
evaluated, and a rerun that carries on instead of starting again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from restorable.cli import main
from restorable.errors import RestorableError
from restorable.files import read_image, write_image
from restorable.models import load
from restorable.network.model import NetConfig
from restorable.training.everything import Job, adopt_architectures, allot_minutes, plan_jobs

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
TINY = {
    "steps": 3,
    "batch": 2,
    "crop": 32,
    "warmup": 1,
    "val_every": 2,
    "max_side": 120,
    "net": {"blocks": 2, "width": 8, "psi_width": 8},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One miniature train-everything run: 2 operators × (png, jpeg, learned) on 2 workers."""
    tmp = tmp_path_factory.mktemp("all")
    photos = tmp / "photos"
    photos.mkdir()
    for i, p in enumerate(sorted(SAMPLES.glob("*.jpg"))):
        write_image(photos / f"p{i}.png", read_image(p)[:96, :120])
    (tmp / "cfg.json").write_text(json.dumps(TINY))
    mp = pytest.MonkeyPatch()
    mp.setenv("RESTORABLE_CACHE", str(tmp / "cache"))
    argv = ["train", "--all", "--ops", "exposure,retouch", "--variants", "png,jpeg,learned"]
    argv += ["--photos", str(photos), "--config", str(tmp / "cfg.json"), "--out", str(tmp / "out")]
    argv += ["--eval-photos", "1", "--workers", "2", "--minutes", "3"]
    assert main(argv) == 0
    yield tmp
    mp.undo()


NAMES = [f"{op}{v}" for op in ("exposure", "retouch") for v in ("", "-jpeg", "-learned")]


def test_every_model_is_trained_shipped_and_evaluated(run: Path) -> None:
    out = run / "out"
    summary = {s["name"]: s for s in json.loads((out / "summary.json").read_text())}
    assert set(summary) == set(NAMES)
    for name in NAMES:
        assert "error" not in summary[name], summary[name]
        assert summary[name]["steps"] == 3
        result = json.loads((out / "results" / f"{name}.json").read_text())
        assert result["photos"] == 1 and set(result["mean"]) == {
            "png",
            "jpeg90",
            "jpeg80",
            "jpeg70",
        }
        with safe_open(str(out / "weights" / f"{name}.safetensors"), "pt") as f:
            assert all(str(f.get_tensor(k).dtype) == "torch.float16" for k in f.keys())


def test_exposure_is_judged_on_its_clipped_highlights(run: Path) -> None:
    result = json.loads((run / "out" / "results" / "exposure.json").read_text())
    png = result["mean"]["png"]
    assert 0 < png["clipped_fraction"] < 1  # brightening x2 clips part of a sample photo
    assert 10 < png["clipped_restore_psnr"] < 100


def test_variants_are_what_their_names_say(run: Path) -> None:
    cards = {n: json.loads((run / "out" / "weights" / f"{n}.json").read_text()) for n in NAMES}
    assert cards["exposure"]["net"]["guided"] and not cards["exposure-learned"]["net"]["guided"]
    assert cards["exposure-jpeg"]["training"]["jpeg"]
    assert cards["exposure-jpeg"]["training"]["init_from"] == "exposure"  # forked after its parent
    png_loss, jpeg_loss = (cards[n]["training"]["loss"] for n in ("exposure", "exposure-jpeg"))
    assert jpeg_loss["restore"] == 2.5 * png_loss["restore"]  # the JPEG recipe leans to restoring
    assert cards["retouch"]["training"]["pair_recipe"] == "random-mask"
    assert cards["exposure"]["training"]["pair_recipe"] is None


def test_shipped_weights_round_trip(run: Path) -> None:
    model = load("retouch-learned", run / "out" / "weights")
    img = read_image(SAMPLES / "scikit-image__astronaut.jpg")[:64, :80]
    edited = model.apply(img)
    assert edited.shape == img.shape and edited.dtype == np.uint8
    # barely trained, so near the identity; the inverse must still bring the photo back closely
    assert np.abs(model.restore(edited).astype(int) - img).mean() < 8


def test_rerun_skips_finished_models(run: Path, capsys) -> None:
    out = run / "out"
    before = {p.name: p.stat().st_mtime_ns for p in (out / "weights").iterdir()}
    argv = ["train", "--all", "--ops", "exposure", "--variants", "png,jpeg"]
    argv += ["--photos", str(run / "photos"), "--out", str(out), "--config", str(run / "cfg.json")]
    assert main(argv) == 0
    assert "0 models trained" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in (out / "weights").iterdir()} == before


def test_rerun_with_a_bigger_budget_carries_models_on(run: Path, tmp_path: Path) -> None:
    """A finished model given more minutes continues from its checkpoint, not from scratch."""
    out = tmp_path / "out"
    import shutil

    shutil.copytree(run / "out", out)
    (tmp_path / "cfg.json").write_text(json.dumps({**TINY, "steps": 5}))
    argv = ["train", "--all", "--ops", "exposure", "--variants", "png", "--model-minutes", "5"]
    argv += [
        "--photos",
        str(run / "photos"),
        "--out",
        str(out),
        "--config",
        str(tmp_path / "cfg.json"),
    ]
    argv += ["--eval-photos", "1", "--workers", "1"]
    assert main(argv) == 0
    card = json.loads((out / "weights" / "exposure.json").read_text())
    assert card["training"]["steps"] == 5  # 3 before, 2 more
    log = (out / "runs" / "exposure" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [3, 5]


def test_plan_orders_forks_after_parents_and_splits_time(tmp_path: Path) -> None:
    jobs = plan_jobs(["l0", "llf"], ["png", "jpeg", "learned"], tmp_path)
    names = [j.name for j in jobs]
    assert names == ["l0", "llf", "l0-jpeg", "llf-jpeg", "l0-learned", "llf-learned"]
    assert [j.after for j in jobs if j.variant == "jpeg"] == ["l0", "llf"]
    allot_minutes(jobs, workers=4, minutes=9.0)
    # 4 fresh models on 4 workers: one round; 2 forks: half a round -> 9 / 1.5 = 6 minutes
    assert {j.name: j.minutes for j in jobs}["l0"] == pytest.approx(6.0)
    assert {j.name: j.minutes for j in jobs}["l0-jpeg"] == pytest.approx(3.0)
    assert isinstance(jobs[0], Job)


def test_a_variant_can_name_its_own_operators(tmp_path: Path) -> None:
    """``ied:l0+llf`` trains the baseline on those two only, beside every op's learned model."""
    jobs = plan_jobs(["l0", "rtv"], ["learned", "learned-wide:l0", "ied:l0+llf", "jpeg"], tmp_path)
    assert [j.name for j in jobs] == [
        "l0-learned", "rtv-learned", "l0-learned-wide", "l0-ied", "llf-ied", "l0-jpeg", "rtv-jpeg",
    ]  # fmt: skip
    wide = {j.name: j.config for j in jobs}["l0-learned-wide"]
    base = {j.name: j.config for j in jobs}["l0-learned"]
    assert wide["net"]["psi_width"] == 2 * NetConfig().psi_width and not wide["net"]["guided"]
    assert wide["crop"] == base["crop"] * 3 // 2 and wide["crop"] % 8 == 0
    assert all(j.after is None for j in jobs)  # no png parent in this run: jpeg trains afresh
    with pytest.raises(RestorableError, match="unknown operator"):
        plan_jobs(["l0"], ["ied:l0+nosuch"], tmp_path)


def test_carrying_on_keeps_the_earlier_architecture(tmp_path: Path) -> None:
    """--init-from: a job whose card is there takes its net and loss weights; the others keep
    the recipe's."""
    jobs = plan_jobs(["l0", "rtv"], ["learned"], tmp_path)
    recipe_loss = dict(jobs[1].config["loss"])
    earlier = {**jobs[0].config["net"], "psi_width": 64}
    loss = {"approx": 3.0, "restore": 1.0, "delta": 1.0, "adversarial": 0.0}
    card = {"net": earlier, "training": {"loss": loss}}
    (tmp_path / "l0-learned.json").write_text(json.dumps(card))
    adopt_architectures(jobs, tmp_path)
    assert jobs[0].config["net"]["psi_width"] == 64 and jobs[0].config["loss"] == loss
    assert jobs[1].config["net"].get("psi_width", NetConfig().psi_width) == NetConfig().psi_width
    assert jobs[1].config["loss"] == recipe_loss


def test_carrying_an_old_learned_model_on_grows_the_whole_photo_path(tmp_path: Path) -> None:
    """A learned model from before ψ read the whole photo keeps its net, plus the recipe's path
    (the curves for bwp, with their estimate loss; it starts as the identity)."""
    jobs = plan_jobs(["bwp"], ["learned"], tmp_path)
    assert jobs[0].config["net"]["whole"] == "curve"
    old = {k: v for k, v in jobs[0].config["net"].items() if k != "whole"}
    card = {"net": {**old, "psi_width": 48}, "training": {"loss": {"approx": 4.0}}}
    (tmp_path / "bwp-learned.json").write_text(json.dumps(card))
    adopt_architectures(jobs, tmp_path)
    net, loss = jobs[0].config["net"], jobs[0].config["loss"]
    assert net["psi_width"] == 48 and net["whole"] == "curve" and loss["estimate"] > 0


def test_bad_requests_are_one_line_errors(tmp_path: Path, capsys) -> None:
    with pytest.raises(RestorableError, match="unknown variant"):
        plan_jobs(["l0"], ["png", "gif"], tmp_path)
    assert main(["train", "--all", "--ops", "nosuch", "--out", str(tmp_path)]) == 2
    assert "unknown operator" in capsys.readouterr().err
    assert main(["train"]) == 2


def test_gpu_command_runs_in_miniature_and_packs_what_comes_back(run: Path, tmp_path: Path) -> None:
    """scripts/gpu_train_all.sh is what a lent GPU runs first time, unattended: on the CPU, in
    miniature, it must train, evaluate and pack the weights into the archive parts that travel
    back (at most 8 files of 16 MiB)."""
    import os
    import subprocess
    import sys
    import tarfile

    repo = Path(__file__).parents[1]
    out, work = tmp_path / "out", tmp_path / "work"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DEVICE": "cpu",
        "OPS": "exposure",
        "VARIANTS": "learned",
        "EXTRA": "",
        "CONFIG": str(run / "cfg.json"),
        "PHOTOS": str(run / "photos"),
        "EVAL_PHOTOS": "1",
        "MINUTES": "1",
        "OUT": str(out),
        "WORK": str(work),
        "RESTORABLE_CACHE": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        ["bash", str(repo / "scripts" / "gpu_train_all.sh")], env=env, capture_output=True,
        text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "train.log").read_text().rstrip().endswith("exit 0")
    parts = sorted(out.glob("models.tgz.*"))
    assert 1 <= len(parts) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in parts)
    packed = tmp_path / "models.tgz"
    packed.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(packed) as tar:
        names = set(tar.getnames())
    assert {"weights/exposure-learned.safetensors", "results/exposure-learned.json"} <= names
    assert "summary.json" in names
