"""A restorable version of any edit, learned from before/after examples: ``train --pairs``.

    BEFORE/x.jpg ┐                                   ┌─► runs/NAME/ (checkpoints, log)
    AFTER/x.png  ┴─ matched by name ─► train f̂ ─────┴─► user folder: NAME.safetensors + NAME.json
                    every tenth pair held out             └─► load(NAME), apply --op NAME,
                                                              restore (the file's record), list

There is no operator to call, so the model is the paper's unguided design (``OP-learned``'s
recipe: ψ reads the photo alone) and learns the edit from the AFTER images. Its card's ``op`` is
NAME, which names no registered operator; its training record says where the pairs are and
which were held out, so ``eval --op NAME`` measures those against their AFTER images.
"""

from __future__ import annotations

from pathlib import Path

from restorable.errors import RestorableError

DEFAULT_MINUTES = 20.0


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
    # ψ reads the whole photo through the bilateral grid (network/whole_photo.py): a user's edit
    # is most often a grade that depends on the photo's own tones. On ImageMagick's
    # -auto-level -auto-gamma, 80 pairs, 10 CPU minutes each (benchmarks/learn_from_pairs.py):
    # approx. / restore 19.72 / 37.46 dB without the path, 29.84 / 37.03 with FiLM, 31.41 /
    # 38.63 with the grid (leaving the photo unchanged: 18.53)
    if "whole" not in ((base or {}).get("net") or {}):  # a --config may choose (--whole too)
        cfg["net"]["whole"] = "grid"
        cfg["loss"] = {**cfg["loss"], "estimate": cfg["loss"].get("approx", 4.0)}
    return cfg


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

    cfg = pairs_config(before, after, name, device)
    cfg["minutes"] = minutes
    cfg["run_dir"] = str(run_dir or Path("runs") / name)
    for key, value in (overrides or {}).items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    run = train(TrainConfig.from_dict(cfg), progress=progress)
    return install_user_model(run, name)
