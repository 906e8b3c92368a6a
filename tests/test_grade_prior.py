"""The starting weights of ``train --pairs`` (training/grade_prior.py): random grades of the
training photos, a ψ that reads the target itself, and pairs_config starting from them."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from restorable.files import read_image, write_image
from restorable.network.model import NetConfig
from restorable.training import from_pairs, grade_prior

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


def _sample(h: int = 40, w: int = 56) -> np.ndarray:
    return read_image(sorted(SAMPLES.glob("*.jpg"))[0])[:h, :w]


def test_a_random_grade_is_seeded_global_and_changes_the_photo() -> None:
    img = _sample()
    a = grade_prior.random_grade(img, np.random.default_rng(1))
    again = grade_prior.random_grade(img, np.random.default_rng(1))
    other = grade_prior.random_grade(img, np.random.default_rng(2))
    assert a.dtype == np.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a, again)
    assert (a != img).mean() > 0.5 and (a != other).mean() > 0.5
    # global: pixels of the same value come out the same (no neighbourhood is read)
    flat_in, flat_out = img.reshape(-1, 3), a.reshape(-1, 3)
    for i in range(0, len(flat_in), 97):
        same = (flat_in == flat_in[i]).all(1)
        assert (flat_out[same] == flat_out[i]).all()


def test_the_pairs_are_the_training_photos_under_their_own_grades(tmp_path, monkeypatch) -> None:
    """Made from the training split only (what photo_paths gives for "train"), each AFTER the
    BEFORE under the grade its name seeds; made once (a second call writes nothing)."""
    import restorable.data.pairs as pairs

    photos = sorted(SAMPLES.glob("*.jpg"))[:3]
    asked = []
    monkeypatch.setattr(pairs, "photo_paths", lambda folder, subset: asked.append(subset) or photos)
    before, after = grade_prior.make_pairs(tmp_path, max_side=48)
    assert asked == ["train"]
    for path in photos:
        b = read_image(before / f"{path.stem}.png")
        rng = np.random.default_rng([0, zlib.crc32(path.stem.encode())])
        np.testing.assert_array_equal(
            read_image(after / f"{path.stem}.png"), grade_prior.random_grade(b, rng)
        )
    stamp = (after / f"{photos[0].stem}.png").stat().st_mtime_ns
    grade_prior.make_pairs(tmp_path, max_side=48)
    assert (after / f"{photos[0].stem}.png").stat().st_mtime_ns == stamp


def _pairs(folder: Path, n: int = 4) -> tuple[Path, Path]:
    before, after = folder / "before", folder / "after"
    before.mkdir(parents=True)
    after.mkdir()
    for i in range(n):
        img = _sample()[i : i + 32, i : i + 40]
        write_image(before / f"{i}.png", img)
        write_image(after / f"{i}.png", grade_prior.random_grade(img, np.random.default_rng(i)))
    return before, after


def test_with_target_guide_psi_reads_the_target_and_the_estimate_stays_unfitted(
    tmp_path, monkeypatch
) -> None:
    from restorable.training.train import TrainConfig, Trainer

    monkeypatch.setenv("RESTORABLE_HOME", str(tmp_path / "home"))
    before, after = _pairs(tmp_path)
    cfg = from_pairs.pairs_config(before, after, "prior", base={"init_from": ""})
    tiny = {"steps": 2, "batch": 2, "crop": 32, "threads": 1, "max_side": 64}
    cfg.update(tiny, run_dir=str(tmp_path / "run"), target_guide=True)
    cfg["net"].update(blocks=2, width=8, psi_width=8)
    trainer = Trainer(TrainConfig.from_dict(cfg), progress=False)
    assert trainer.estimate_fit is None and not trainer.net.estimator.fitted()
    assert trainer.val.estimate is None
    assert trainer.val.guide(trainer.cfg.reads_target) is trainer.val.y
    assert trainer.source.batch(2).guide(trainer.cfg.reads_target) is not None


def test_pairs_start_from_the_prior_when_it_fits(tmp_path, monkeypatch) -> None:
    """The shipped starting weights are used where they load (the recipe's network), not for a
    --config's smaller network, and never over the user's own --init-from."""
    before, after = _pairs(tmp_path)
    prior = tmp_path / "priors" / "pairs.safetensors"
    prior.parent.mkdir()
    prior.write_bytes(b"")
    shipped = from_pairs.pairs_config(before, after, "mine")  # the package's own
    assert shipped["init_from"] == str(from_pairs.START) and from_pairs.START.exists()
    assert shipped["lr"] == from_pairs.CARRY_ON["lr"]
    cfg = from_pairs.pairs_config(before, after, "mine", base={"init_from": ""})
    card = {"net": asdict(NetConfig(**cfg["net"]))}
    prior.with_suffix(".json").write_text(json.dumps(card))
    monkeypatch.setattr(from_pairs, "START", prior)
    assert from_pairs.pairs_config(before, after, "mine")["init_from"] == str(prior)
    small = from_pairs.pairs_config(before, after, "mine", base={"net": {"blocks": 2}})
    assert not small.get("init_from")
    own = from_pairs.pairs_config(before, after, "mine", base={"init_from": "x.safetensors"})
    assert own["init_from"] == "x.safetensors"
    assert own["net"]["estimate"] == "grade" and own["estimate_minutes"] == pytest.approx(2.0)


def test_the_whole_and_estimate_flags_give_the_earlier_pairs_recipe(tmp_path) -> None:
    """``train --pairs ... --whole grid --estimate none``: the grid path alone, from nothing, at
    the recipe's rate (what --pairs did before the grade estimate)."""
    from restorable.cli import build_parser
    from restorable.training.recipes import one_model_config

    before, after = _pairs(tmp_path)
    argv = ["train", "--pairs", str(before), str(after), "--name", "mine"]
    default = one_model_config(build_parser().parse_args(argv), "pairs")
    assert default.net.estimate == "grade" and default.init_from == str(from_pairs.START)
    args = build_parser().parse_args([*argv, "--whole", "grid", "--estimate", "none"])
    cfg = one_model_config(args, "pairs")
    assert cfg.net.whole == "grid" and not cfg.net.estimate and not cfg.init_from
    assert cfg.lr != from_pairs.CARRY_ON["lr"] and cfg.loss.estimate > 0
