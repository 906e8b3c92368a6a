"""One recipe source for every way of training (training/recipes.py): every flag of ``train`` is
given to ``train --op``, ``train --all`` and ``train --pairs``, and either changes the config the
command builds or is refused with one line; the three commands build the same recipe."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

from restorable.cli import build_parser, main
from restorable.files import write_image
from restorable.training import from_pairs, recipes
from restorable.training.everything import plan_jobs
from restorable.training.recipes import FLAGS, check_flags, one_model_config, recipe

SRC = Path(__file__).parents[1] / "src"


@pytest.fixture
def world(tmp_path: Path, monkeypatch) -> dict:
    """Files the flags name: a config, earlier weights with their card, before/after pairs."""
    monkeypatch.setenv("RESTORABLE_HOME", str(tmp_path / "home"))
    (tmp_path / "cfg.json").write_text(json.dumps({"warmup": 7}))
    card = {"net": {"blocks": 3, "width": 8, "psi_width": 8, "guided": False}}
    (tmp_path / "w.json").write_text(json.dumps(card))
    (tmp_path / "w.safetensors").write_bytes(b"")
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        write_image(before / f"p{i}.png", img)
        write_image(after / f"p{i}.png", 255 - img)
    return {"tmp": tmp_path, "pairs": [str(before), str(after)]}


def flag_values(tmp: Path) -> dict[str, list[str]]:
    """A value for every flag of ``train``, and what it must do to a one-model config."""
    return {
        "op": ["l0"],
        "photos": [str(tmp)],
        "steps": ["3"],
        "minutes": ["1.5"],
        "batch": ["2"],
        "crop": ["40"],
        "lr": ["0.01"],
        "ema": ["0.5"],
        "seed": ["3"],
        "threads": ["1"],
        "device": ["cpu"],
        "precision": ["fp32"],
        "scales": ["0.5", "0.75"],
        "jitter": ["2"],
        "param": ["lam=0.02"],
        "config": [str(tmp / "cfg.json")],
        "jpeg": [],
        "blocks": ["2"],
        "refine": ["8"],
        "whole": ["grid"],
        "estimate": ["pyramid"],
        "refit_estimate": [],
        "loss_weights": ["1", "2", "3"],
        "adversarial": ["0.1"],
        "no_psi": [],
        "no_restore_loss": [],
        "guided": [],
        "cond": [],
        "name": ["mine"],
        "run_dir": [str(tmp / "run")],
        "resume": [],
        "install": [],
        "variants": ["learned"],
        "ops": ["l0"],
        "out": [str(tmp / "out")],
        "model_minutes": ["1"],
        "workers": ["1"],
        "eval_photos": ["1"],
        "init_from": [str(tmp / "w.safetensors")],
        "retrain": [],
    }


# what an honoured flag does to the TrainConfig of train --op / --pairs (flags consumed by
# cmd_train itself, --resume and --install, are checked by the commands' own tests)
EFFECT = {
    "photos": lambda c, tmp: c.photos == str(tmp),
    "steps": lambda c, tmp: c.steps == 3,
    "minutes": lambda c, tmp: c.minutes == 1.5,
    "batch": lambda c, tmp: c.batch == 2,
    "crop": lambda c, tmp: c.crop == 40,
    "lr": lambda c, tmp: c.lr == 0.01,
    "ema": lambda c, tmp: c.ema == 0.5,
    "seed": lambda c, tmp: c.seed == 3,
    "threads": lambda c, tmp: c.threads == 1,
    "device": lambda c, tmp: c.device == "cpu",
    "precision": lambda c, tmp: c.precision == "fp32",
    "scales": lambda c, tmp: c.augment.scales == (0.5, 0.75) and c.augment.jitter == 0,
    "jitter": lambda c, tmp: c.augment.jitter == 2 and c.augment.stops == 0.7,
    "param": lambda c, tmp: c.params == {"lam": 0.02},
    "config": lambda c, tmp: c.warmup == 7,
    "jpeg": lambda c, tmp: c.jpeg and tuple(c.jpeg_qualities) == recipes.JPEG_QUALITIES,
    "blocks": lambda c, tmp: c.net.blocks == 2,
    "refine": lambda c, tmp: c.net.refine == 8,
    "whole": lambda c, tmp: c.net.whole == "grid" and c.loss.estimate > 0,
    "estimate": lambda c, tmp: c.net.estimate == "pyramid" and not c.net.guided,
    "refit_estimate": lambda c, tmp: c.refit_estimate,
    "loss_weights": lambda c, tmp: (c.loss.approx, c.loss.restore, c.loss.delta) == (1, 2, 3),
    "adversarial": lambda c, tmp: c.loss.adversarial == 0.1,
    "no_psi": lambda c, tmp: not c.net.use_psi,
    "no_restore_loss": lambda c, tmp: c.loss.restore == 0,
    "guided": lambda c, tmp: c.net.guided,
    "cond": lambda c, tmp: c.net.cond and c.name == "l0-cond" and c.net.guided,
    "name": lambda c, tmp: c.name == "mine",
    "run_dir": lambda c, tmp: c.run_dir == str(tmp / "run"),
    "variants": lambda c, tmp: c.name == "l0-learned" and c.loss.delta == 0.01,
    "init_from": lambda c, tmp: c.init_from == str(tmp / "w.safetensors") and c.net.blocks == 3,
    "resume": None,
    "install": None,
}

# what an honoured flag does to what train --all hands train_all (base: the recipe's base)
ALL_EFFECT = {
    "photos": lambda kw, tmp: kw["photos"] == str(tmp),
    "steps": lambda kw, tmp: kw["base"]["steps"] == 3,
    "minutes": lambda kw, tmp: kw["minutes"] == 1.5 and "minutes" not in kw["base"],
    "batch": lambda kw, tmp: kw["base"]["batch"] == 2,
    "crop": lambda kw, tmp: kw["base"]["crop"] == 40,
    "lr": lambda kw, tmp: kw["base"]["lr"] == 0.01,
    "ema": lambda kw, tmp: kw["base"]["ema"] == 0.5,
    "seed": lambda kw, tmp: kw["base"]["seed"] == 3,
    "device": lambda kw, tmp: kw["device"] == "cpu",
    "precision": lambda kw, tmp: kw["base"]["precision"] == "fp32",
    "scales": lambda kw, tmp: kw["base"]["augment"] == {"scales": [0.5, 0.75]},
    "jitter": lambda kw, tmp: kw["base"]["augment"] == {"jitter": 2},
    "config": lambda kw, tmp: kw["base"]["warmup"] == 7,
    "variants": lambda kw, tmp: kw["variants"] == ["learned"],
    "ops": lambda kw, tmp: kw["ops"] == ["l0"],
    "out": lambda kw, tmp: kw["out"] == str(tmp / "out"),
    "model_minutes": lambda kw, tmp: kw["model_minutes"] == 1,
    "workers": lambda kw, tmp: kw["workers"] == 1,
    "eval_photos": lambda kw, tmp: kw["eval_photos"] == 1,
    "init_from": lambda kw, tmp: kw["init_from"] == str(tmp / "w.safetensors"),
    "retrain": lambda kw, tmp: kw["retrain"] is True,
    "resume": lambda kw, tmp: True,  # --all always carries on from its checkpoints
    "install": lambda kw, tmp: kw["installed"],
}

COMMANDS = {"op": ["--op", "l0"], "all": ["--all"], "pairs": []}


def _argv(command: str, flag: str, world: dict) -> list[str]:
    values = flag_values(world["tmp"])
    argv = ["train", *COMMANDS[command]]
    if command == "pairs":
        argv += ["--pairs", *world["pairs"], "--name", "mine"]
    already = (command == "op" and flag == "op") or (command == "pairs" and flag == "name")
    if not already:
        argv += [recipes.flag_name(flag), *values[flag]]
    return argv


def test_every_flag_of_train_is_in_the_table() -> None:
    """A new flag must say which commands honour it, or check_flags could not refuse it."""
    parser = build_parser()
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
        "train"
    ]
    dests = {a.dest for a in train._actions if a.dest != "help"}
    assert dests - recipes.COMMAND_FLAGS == set(FLAGS)
    assert set(flag_values(Path("."))) == set(FLAGS)


@pytest.mark.parametrize("command", ["op", "all", "pairs"])
@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_each_flag_is_honoured_or_refused_in_one_line(
    command: str, flag: str, world: dict, monkeypatch, capsys
) -> None:
    tmp = world["tmp"]
    argv = _argv(command, flag, world)
    honoured = command in FLAGS[flag][0]
    if not honoured:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(f"error: {recipes.flag_name(flag)} "), err
        return
    args = build_parser().parse_args(argv)
    assert check_flags(args) == command
    if command == "all":
        import restorable.training.everything as everything

        seen: dict = {"installed": False}

        def fake_train_all(ops, variants, out, **kw):
            seen.update(ops=ops, variants=variants, out=out, **kw)
            return []

        monkeypatch.setattr(everything, "train_all", fake_train_all)
        monkeypatch.setattr(everything, "install", lambda out: seen.update(installed=True) or [])
        assert main(argv) == 0
        assert ALL_EFFECT[flag](seen, tmp), (flag, seen)
        return
    cfg = one_model_config(args, command)
    if EFFECT.get(flag) is not None:
        assert EFFECT[flag](cfg, tmp), (flag, cfg)


def test_refusals_name_a_way_to_do_it(capsys) -> None:
    assert main(["train", "--all", "--blocks", "4"]) == 2
    assert "--variants ablation-k4" in capsys.readouterr().err
    assert main(["train", "--all", "--jpeg"]) == 2
    assert "--variants jpeg" in capsys.readouterr().err
    assert main(["train", "--op", "l0", "--variants", "png,jpeg"]) == 2
    assert "one variant" in capsys.readouterr().err
    assert main(["train", "--op", "wls", "--cond"]) == 2
    assert "no setting range" in capsys.readouterr().err


def test_the_commands_build_one_recipe(world: dict, tmp_path: Path) -> None:
    """train --op OP --variants V builds the very config train --all plans for OP-V, and
    train --pairs is OP-learned's recipe; the configs in configs/ agree with the recipes."""
    for variant in recipes.VARIANTS:
        op = "l0"
        (job,) = plan_jobs([op], [variant], tmp_path) or [None]
        args = build_parser().parse_args(["train", "--op", op, "--variants", variant])
        one = one_model_config(args, "op").to_dict()
        from restorable.training.train import TrainConfig

        planned = TrainConfig.from_dict(job.config).to_dict()
        for key in ("run_dir", "threads", "photos"):  # where and how --all runs its workers
            planned.pop(key), one.pop(key)
        assert one == planned, variant
    args = build_parser().parse_args(["train", "--pairs", *world["pairs"], "--name", "mine"])
    pairs = one_model_config(args, "pairs").to_dict()
    learned = recipe("mine", "learned")
    assert pairs["net"]["guided"] is False and pairs["loss"]["delta"] == learned["loss"]["delta"]
    assert (pairs["batch"], pairs["crop"]) == (learned["batch"], learned["crop"])
    # carried on from the shipped starting weights (from_pairs.START) at a carry-on's rate
    assert pairs["init_from"] and pairs["lr"] == from_pairs.CARRY_ON["lr"]
    configs = Path(__file__).parents[1] / "configs"
    for ablation in configs.glob("ablation-*.json"):
        loss = json.loads(ablation.read_text())["loss"]
        assert loss == {**recipes.PAPER_LOSS, **{k: loss[k] for k in ("restore",)}}, ablation
    jpeg = json.loads((configs / "jpeg.json").read_text())
    assert tuple(jpeg["jpeg_qualities"]) == recipes.JPEG_QUALITIES


def test_shipped_models_were_trained_with_the_recipes() -> None:
    """The recipe values unified here are the ones the shipped models' cards record."""
    weights = SRC / "restorable" / "weights"
    for card in weights.glob("*-learned.json"):
        assert json.loads(card.read_text())["training"]["loss"]["delta"] == 0.01, card
    history = json.loads((weights / "l0-jpeg.json").read_text())["training"]["history"]
    low, high = recipes.JPEG_QUALITIES
    assert f"q{low}-{high}" in history[-1]


def test_no_machine_specific_path_in_the_source() -> None:
    """An absolute path of one machine (a home, /work, /tmp, /Users ...) in the package or the
    scripts works nowhere else; the project's folders are found relative to the package."""
    pattern = re.compile(r"""["'](/(?:work|home|Users|tmp|mnt|root|data)/[^"']*)["']""")
    roots = [SRC, Path(__file__).parents[1] / "scripts", Path(__file__).parents[1] / "benchmarks"]
    found = [
        f"{p}: {m.group(1)}"
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.suffix in (".py", ".sh")
        for m in pattern.finditer(p.read_text())
    ]
    assert not found, found
