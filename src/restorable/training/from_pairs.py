"""A restorable version of any edit, learned from before/after examples: ``train --pairs``.

    BEFORE/x.jpg ┐                                   ┌─► runs/NAME/ (checkpoints, log)
    AFTER/x.png  ┴─ matched by name ─► train f̂ ─────┴─► user folder: NAME.safetensors + NAME.json
                    every tenth pair held out             └─► load(NAME), apply --op NAME,
                                                              restore (the file's record), list

There is no operator to call, so the model is the paper's unguided design (``OP-learned``'s
recipe) and learns the edit from the AFTER images. Its ψ reads a grade estimate computed from
the whole photo's statistics (``network/grade_psi.py``), fitted to the pairs first, and starts
from shipped weights whose ψ learned to carry such a guide through (``grade_prior.py``). Its
card's ``op`` is
NAME, which names no registered operator; its training record says where the pairs are and
which were held out, so ``eval --op NAME`` measures those against their AFTER images.
"""

from __future__ import annotations

import json
from pathlib import Path

from restorable.errors import RestorableError

DEFAULT_MINUTES = 20.0
ESTIMATE_MINUTES = 2.0  # the grade estimate's fit, before the training's minutes
# the weights a model learned from pairs starts from (training/grade_prior.py: trained once to
# carry any grade it is given through), and what must match for them to load
START = Path(__file__).resolve().parent.parent / "weights" / "priors" / "pairs-prior.safetensors"
CARRY_ON = {"lr": 3e-4, "warmup": 300, "ema": 0.999, "grad_clip_rel": 2.0}
SHAPE_KEYS = ("arch", "blocks", "width", "phi_depth", "h_depth", "psi_width", "use_psi")


def check_name(name: str | None) -> str:
    """``name`` if it can name a user's model: a plain file stem that is no operator id and no
    name a shipped (or ``train --all``) model has or could have; a one-line error otherwise."""
    from restorable.models import WEIGHTS_DIR, available_models
    from restorable.names import check_model_name
    from restorable.operators import operator_ids
    from restorable.training.recipes import VARIANTS, model_name

    if not name:
        raise RestorableError("name the model learned from pairs: --name NAME")
    check_model_name(name, "--name")
    taken = {model_name(op, v) for op in operator_ids() for v in VARIANTS}
    if name in operator_ids() or name in available_models(WEIGHTS_DIR) or name in taken:
        raise RestorableError(
            f"{name!r} is the name of an operator or a shipped model; choose another --name"
        )
    if name.startswith("style_"):
        raise RestorableError(f"{name!r}: names starting with 'style_' are for style models")
    return name


def pairs_config(
    before: str | Path,
    after: str | Path,
    name: str | None,
    device: str = "cpu",
    base: dict | None = None,
) -> dict:
    """A ``TrainConfig`` dict for learning the edit BEFORE → AFTER as model ``name``: the
    pairs and the name checked (one-line errors), ``OP-learned``'s recipe for ``device`` on top
    of ``base`` (a --config file and the tuning flags)."""
    from restorable.data.pairs import match_pairs
    from restorable.training.recipes import recipe

    name = check_name(name)
    match_pairs(before, after)  # unmatched, misaligned or too few: fail before any work
    cfg = recipe(name, "learned", device, {"minutes": DEFAULT_MINUTES, **(base or {})}, name)
    cfg.update(device=device, pairs=[str(before), str(after)])
    # ψ reads the grade estimate (network/grade_psi.py: the photo's own statistics turned into
    # levels, curves and a colour mix, fitted first) and the whole photo through FiLM, starting
    # from weights whose ψ already carries a guide through (training/grade_prior.py). On
    # ImageMagick's -auto-level -auto-gamma, 80 pairs, 10 CPU minutes each, approx. / restore
    # (benchmarks/learn_from_pairs.py; docs/training.md): the bilateral grid 31.41 / 38.63 dB,
    # the grade estimate from scratch 32.15 / 37.34, from the guided l0's weights 36.47 / 39.32,
    # from grade_prior's 39.40 / 38.98
    from restorable.network.whole_photo import ESTIMATING

    base = base or {}
    chosen = {k: v for k, v in (base.get("net") or {}).items() if k in ("whole", "estimate")}
    if chosen:  # a --config chose (the recipe's variant set its own whole path over it)
        cfg["net"].update(chosen)
    else:
        cfg["net"].update(whole="film", estimate="grade")
        if "init_from" not in base and _fits_start(cfg["net"]):
            cfg["init_from"] = str(START)
            # carried on as configs/carry-on.json carries a model on: the recipe's 1e-3 is
            # a rate for a network that starts from nothing
            cfg.update({k: base.get(k, v) for k, v in CARRY_ON.items()})
    if cfg["net"].get("whole") in ESTIMATING:  # the grid's own estimate is trained on f too
        cfg["loss"] = {**cfg["loss"], "estimate": cfg["loss"].get("approx", 4.0)}
    if cfg["net"].get("estimate"):
        cfg["estimate_minutes"] = base.get("estimate_minutes", ESTIMATE_MINUTES)
    return cfg


def _fits_start(net: dict) -> bool:
    """Whether the starting weights of ``train --pairs`` (:data:`START`) load into a network of
    this configuration (they do not into a --config's smaller one)."""
    from dataclasses import asdict

    from restorable.network.model import NetConfig

    if not START.exists():
        return False
    ours = asdict(NetConfig(**net))  # a recipe leaves most sizes at NetConfig's defaults
    start = asdict(NetConfig(**json.loads(START.with_suffix(".json").read_text())["net"]))
    return all(ours[k] == start[k] for k in SHAPE_KEYS)


def install_user_model(run: Path, name: str) -> Path:
    """Copy ``run``'s final model ``name`` into the user's models folder; returns that folder."""
    from restorable.models import install_model, user_models_dir

    return install_model(run, name, user_models_dir())


def learn_from_pairs(
    before: str | Path,
    after: str | Path,
    name: str,
    *,
    minutes: float | None = DEFAULT_MINUTES,
    device: str = "cpu",
    run_dir: str | Path | None = None,
    overrides: dict | None = None,
    progress: bool = True,
) -> Path:
    """Train the model of the edit BEFORE → AFTER and install it as ``name`` (the folder it
    went to). ``overrides``: TrainConfig keys (``steps``, ``batch``, ``crop``, ``net`` ...)."""
    from restorable.training.train import TrainConfig, train

    # the overrides are the base too, so that pairs_config sees a smaller network or a chosen
    # path (and starts from no weights that would not load into it)
    cfg = pairs_config(before, after, name, device, base=overrides)
    cfg["minutes"] = minutes
    cfg["run_dir"] = str(run_dir or Path("runs") / name)
    for key, value in (overrides or {}).items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    run = train(TrainConfig.from_dict(cfg), progress=progress)
    return install_user_model(run, name)
