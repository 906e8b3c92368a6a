"""A model's history lives in its card (issue #30): every shipped card carries its record,
``restorable info`` prints it, and carrying a model on keeps the earlier runs' entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restorable.cli import main
from restorable.models import ModelCard, available_models
from restorable.training.history import carry_on

WEIGHTS = Path(__file__).parents[1] / "src" / "restorable" / "weights"


@pytest.mark.parametrize("name", available_models(WEIGHTS))
def test_every_shipped_card_loads_and_says_how_it_was_trained(name: str) -> None:
    raw = json.loads((WEIGHTS / f"{name}.json").read_text())
    card = ModelCard(**raw)  # as load() reads it: a stray key would fail here
    t = card.training
    assert t["steps"] > 0 and t["trained_minutes"] > 0
    history = t.get("history", [])
    assert isinstance(history, list) and all(isinstance(e, str) and e for e in history)
    if t.get("carried_on"):  # carried on: the earlier runs must be told somewhere
        assert history or t.get("init_from"), name


def test_info_prints_the_card_with_its_history(capsys) -> None:
    assert main(["info", "l0-jpeg"]) == 0
    out = capsys.readouterr().out
    card = json.loads((WEIGHTS / "l0-jpeg.json").read_text())
    assert out.startswith(f"l0-jpeg  ({card['version']}; operator l0, variant jpeg)")
    assert f"{card['training']['steps']} steps" in out
    for entry in card["training"]["history"]:
        assert f"  - {entry}" in out
    assert "its own earlier weights" in out  # init_from names the model itself


def test_info_json_is_the_card_and_unknown_names_are_one_line(capsys) -> None:
    assert main(["info", "bwp", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((WEIGHTS / "bwp.json").read_text())
    assert main(["info", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no model 'no-such-model'") and err.count("\n") == 1


def test_carrying_on_keeps_the_history_and_adds_the_run() -> None:
    prior = {"steps": 100, "trained_minutes": 9.0, "device": "cpu", "history": ["v1: 9 min"]}
    run = {"steps": 50, "trained_minutes": 5.0, "device": "cuda:0"}
    t = carry_on(run, prior)
    assert t["history"] == ["v1: 9 min", "carried on 50 steps, 5.0 min GPU"]
    assert t["steps"] == 150 and t["minutes_by_device"] == {"CPU": 9.0, "GPU": 5.0}
    assert "history" not in carry_on(run, None)  # a fresh model has no earlier runs


def test_info_says_when_psi_sees_the_whole_photo() -> None:
    from restorable.cli.info import describe_card

    card = json.loads((WEIGHTS / "bwp-learned.json").read_text())
    card["net"]["whole"] = "grid"
    assert "ψ sees the whole photo (grid)" in describe_card(card)[1]
    card["net"]["whole"] = ""
    assert "whole photo" not in describe_card(card)[1]
