"""Where every training config comes from: one recipe, one argument set, for every command.

    device preset (PRESETS) ─► + --config FILE and the flags that tune training (batch, lr ...)
                            ─► + the variant's changes (VARIANT_CHANGES: what makes OP-jpeg,
                                 OP-learned, an ablation ... that model)
                            ─► + per-operator changes (OP_OVERRIDES)
                            ─► TrainConfig dict ─► the flags that change one model (--blocks ...)

``train --op OP [--variants V]``, ``train --all`` (:func:`plan_jobs` in everything.py),
``train --pairs`` (``OP-learned``'s recipe, from_pairs.py) and the GPU script
(scripts/gpu_train_all.sh, which runs ``train --all``) all call :func:`recipe`, so a recipe
cannot drift between them. Each flag of ``train`` says which of those commands honour it
(:data:`FLAGS`); :func:`check_flags` refuses the others with one line, because a flag that is
accepted and then ignored trains a model other than the one asked for.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from restorable.errors import RestorableError

VARIANTS = (
    "png",
    "jpeg",
    "share",
    "learned",
    "learned-wide",
    "ied",
    "stega",
    "ablation-no-psi",
    "ablation-k4",
    "ablation-no-restore-loss",
    "cond",
)

# The paper's loss, for OP-learned and what compares to it. λΔ is 0 in the paper; 0.01 here
# keeps Δ honest, and it is what every shipped OP-learned was trained with (their cards'
# training.loss.delta). configs/ablation-*.json and paper.json said 0: they now say 0.01, since
# an ablation must differ from the OP-learned it is measured against in the one thing it removes.
PAPER_LOSS = {"approx": 4.0, "restore": 1.0, "delta": 0.01}

# JPEG qualities that JPEG-aware training draws from. 70-95, the band phones and websites save
# at, is what the shipped OP-jpeg models' last round used (l0-jpeg's card: "v3 ... real JPEG
# q70-95"; train --all forked every OP-jpeg so) and what `train --jpeg`'s help always said;
# train.py's own default was 60-95, the v2 round's, and is now this one.
JPEG_QUALITIES = (70, 95)

# What a variant changes in the recipe (net keys into NetConfig, loss keys into LossWeights).
# Baselines (Table 1): same losses as ours; their widths follow psi_width (about our size).
# Ablations (Table 4): OP-learned with one thing removed, as configs/ablation-*.json describe.
VARIANT_CHANGES: dict[str, dict] = {
    "png": {"net": {"guided": True}},
    # OP-jpeg: restoration weighted 2.5x OP's, JPEG q 70-95 (the band phones and websites use):
    # carrying l0-jpeg on so for 25 CPU minutes took it from 35.5 to 37.5 dB after ImageMagick
    # q90 4:4:4 and from 33.6 to 35.2 after q85 4:2:0, for 1.5 dB of approximation (README)
    "jpeg": {"net": {"guided": True}, "jpeg": True, "restore_factor": 2.5},
    # OP-share (issue #28): OP-jpeg's recipe with the JPEG batches first downsized by 0.4-1
    # (network/sharing.py), restored against the original resized alike; forked from OP-jpeg
    "share": {"net": {"guided": True}, "jpeg": True, "share": True, "restore_factor": 2.5},
    "learned": {"net": {"guided": False}, "loss": PAPER_LOSS},
    # the learned design with a ψ twice as wide that trains on crops 1.5x as large (more context
    # for tone and smoothing operators): run beside "learned" for the same time, it says whether
    # capacity and context or step count limit the approximation (#11)
    "learned-wide": {"net": {"guided": False, "psi_width": 64}, "loss": PAPER_LOSS, "crop": 1.5},
    "ied": {"net": {"arch": "ied", "guided": False}, "loss": {**PAPER_LOSS, "delta": 0.0}},
    "stega": {"net": {"arch": "stega", "guided": True}, "loss": {**PAPER_LOSS, "delta": 0.0}},
    "ablation-no-psi": {"net": {"guided": False, "use_psi": False}, "loss": PAPER_LOSS},
    "ablation-k4": {"net": {"guided": False, "blocks": 4}, "loss": PAPER_LOSS},
    "ablation-no-restore-loss": {"net": {"guided": False}, "loss": {**PAPER_LOSS, "restore": 0.0}},
    # Table 3: the setting as ψ's input, guided by f(I; v); only ops in conditioning.RANGES
    "cond": {"net": {"guided": True}},
}

# A learned model's ψ reads the whole photo (network/whole_photo.py), chosen by the curves of
# benchmarks/psi_curves.py (results/psi_curves.json; approximation dB after 1.5-5 CPU minutes,
# local / FiLM / grid): FiLM for every operator (bwp 22.7 / 25.0, llf 23.0 / 24.3, exposure
# 31.9 / 37.3, cpd 14.1 / 15.9; l0 and wls unchanged), the bilateral grid as well for the tone
# operators (bwp 26.6, exposure 43.6), its estimate also trained on the target (LossWeights).
# bwp since 2026-12-04: the per-photo curves built from slopes (bwp alone 28.7 in 4 minutes;
# bwp-learned carried on so 26.15 / 39.08 -> 28.54 / 40.54 dB); exposure keeps the grid (43.6
# against the curves' 36.3 after 1.5 minutes).
WHOLE_PATHS: dict[str, str] = {"bwp": "curve", "exposure": "grid"}
WHOLE_DEFAULT = "film"  # every other operator (train --pairs: grid, from_pairs.py says why)
LEARNED = ("learned", "learned-wide")


def whole_path(op: str) -> str:
    """The whole-photo path a learned model of ``op`` is trained with."""
    return WHOLE_PATHS.get(op, WHOLE_DEFAULT)


# Training recipes by device. CPU: what the shipped CPU models used. CUDA: bigger batches and
# crops (a GPU step costs about the same up to far larger batches than a small model needs).
PRESETS: dict[str, dict] = {
    "cpu": {"batch": 8, "crop": 96, "lr": 1e-3, "loss": {"approx": 4.0, "restore": 1.0}},
    "cuda": {"batch": 16, "crop": 128, "lr": 1e-3, "loss": {"approx": 4.0, "restore": 1.0}},
}

# Per-operator changes to the recipe. retouch: few training photos hold faces, so its targets
# are the retouch smoothing under random soft masks (data.pairs.PAIR_RECIPES).
OP_OVERRIDES: dict[str, dict] = {"retouch": {"pair_recipe": "random-mask"}}


def model_name(op: str, variant: str) -> str:
    """The names users see: ``OP``, ``OP-jpeg``, ``OP-learned``, ``OP-ied``, ``OP-ablation-k4``."""
    return op if variant == "png" else f"{op}-{variant}"


def check_variant(variant: str) -> str:
    """``variant`` if it is one of :data:`VARIANTS`; a one-line error otherwise."""
    if variant not in VARIANTS:
        raise RestorableError(f"unknown variant {variant!r}; choose from {' '.join(VARIANTS)}")
    return variant


def merge(cfg: dict, changes: dict) -> dict:
    """``cfg`` updated by ``changes`` in place, the ``net``, ``loss`` and ``augment`` dicts key
    by key (a config naming ``net.blocks`` keeps the recipe's ``net.guided``)."""
    for key, value in changes.items():
        if key in ("net", "loss", "augment") and isinstance(value, dict):
            cfg[key] = {**(cfg.get(key) or {}), **value}
        else:
            cfg[key] = copy.deepcopy(value)
    return cfg


def recipe(
    op: str,
    variant: str | None = None,
    device: str = "cpu",
    base: dict | None = None,
    name: str | None = None,
) -> dict:
    """The TrainConfig dict of model ``name`` (default: :func:`model_name`) of ``op``: the
    device's preset, then ``base`` (a --config file and the tuning flags), then the ``variant``'s
    changes (None: none, the plain recipe ``train --op`` starts from) and the operator's."""
    from restorable.network.conditioning import RANGES, net_cond
    from restorable.network.whole_photo import ESTIMATING

    if variant is not None:
        check_variant(variant)
    cfg = merge(copy.deepcopy(PRESETS["cuda" if device == "cuda" else "cpu"]), base or {})
    cfg.update(copy.deepcopy(OP_OVERRIDES.get(op, {})))
    cfg["op"] = op
    if variant is None:
        if name:
            cfg.update(name=name, version=f"{name}-v1")
        return cfg
    changes = VARIANT_CHANGES[variant]
    cfg["net"] = {**(cfg.get("net") or {}), "arch": "quasi-invertible", **changes["net"]}
    if "loss" in changes:
        cfg["loss"] = {**(cfg.get("loss") or {}), **changes["loss"]}
    if "crop" in changes:  # a factor of the preset's crop, kept a multiple of 8
        cfg["crop"] = int(cfg["crop"] * changes["crop"]) // 8 * 8
    if variant == "cond":
        if op not in RANGES:
            raise RestorableError(f"cond: no setting range for {op!r}; ops: {' '.join(RANGES)}")
        cfg["net"]["cond"] = net_cond(op)
        cfg["param_values"] = list(RANGES[op]["values"])
    # the ablations are OP-learned with one thing removed, so they read the whole photo too,
    # except without ψ, whose part the path is
    if variant in LEARNED or (variant.startswith("ablation-") and cfg["net"].get("use_psi", True)):
        cfg["net"]["whole"] = whole_path(op)
        if cfg["net"]["whole"] in ESTIMATING:
            cfg["loss"] = {**cfg["loss"], "estimate": cfg["loss"].get("approx", 4.0)}
    if variant in ("jpeg", "share"):
        cfg["jpeg"] = True
        cfg["share"] = variant == "share"
        cfg["jpeg_qualities"] = list(JPEG_QUALITIES)
        loss = cfg.setdefault("loss", {})
        loss["restore"] = loss.get("restore", 1.0) * changes["restore_factor"]
    name = name or model_name(op, variant)
    cfg.update(name=name, version=f"{name}-v1")
    return cfg


# ── the argument set ─────────────────────────────────────────────────────────────────────────
# Each flag of `train`: the commands that honour it ("op": train --op, "all": train --all,
# "pairs": train --pairs) and, for the others, why not (one reason, or one per command).
# check_flags refuses a flag given to a command outside its set; tests/test_recipes.py gives
# every flag to every command.
OP, ALL, PAIRS = "op", "all", "pairs"
EVERY = (OP, ALL, PAIRS)
ONE_MODEL = (OP, PAIRS)
ARCH = "each variant sets its network (e.g. --variants ablation-k4); give it with --op"
LOSS = "each variant sets its loss weights (recipes.VARIANT_CHANGES); give it with --op"
NO_OP = "an edit learned from pairs has no operator to make the targets of changed photos"
FLAGS: dict[str, tuple[tuple[str, ...], str | dict[str, str]]] = {
    "op": ((OP,), {ALL: "it trains the operators of --ops", PAIRS: "it learns an edit (--name)"}),
    "photos": ((OP, ALL), "--pairs trains on its BEFORE/AFTER folders"),
    "steps": (EVERY, ""),
    "minutes": (EVERY, ""),
    "batch": (EVERY, ""),
    "crop": (EVERY, ""),
    "lr": (EVERY, ""),
    "ema": (EVERY, ""),
    "seed": (EVERY, ""),
    "threads": (ONE_MODEL, "--all trains each model on one thread; --workers sets how many"),
    "device": (EVERY, ""),
    "precision": (EVERY, ""),
    "scales": ((OP, ALL), NO_OP),
    "jitter": ((OP, ALL), NO_OP),
    "param": ((OP,), "--param sets one operator's parameter; give it with --op"),
    "config": (EVERY, ""),
    "jpeg": (ONE_MODEL, "--all: JPEG-aware models are a variant: --variants jpeg"),
    "blocks": (ONE_MODEL, ARCH),
    "refine": (ONE_MODEL, ARCH),
    "whole": (ONE_MODEL, ARCH),
    "estimate": (ONE_MODEL, ARCH),
    "refit_estimate": (ONE_MODEL, ARCH),
    "loss_weights": (ONE_MODEL, LOSS),
    "adversarial": (ONE_MODEL, LOSS),
    "no_psi": (ONE_MODEL, ARCH),
    "no_restore_loss": (ONE_MODEL, LOSS),
    "guided": ((OP,), {ALL: ARCH, PAIRS: "a model learned from pairs has no operator to guide"}),
    "cond": ((OP,), {ALL: "give --variants cond", PAIRS: "it needs an operator's setting range"}),
    "name": (ONE_MODEL, "--all names its models OP-VARIANT"),
    "run_dir": (ONE_MODEL, "--all keeps every run under --out"),
    "resume": (EVERY, ""),  # --all always carries on (--retrain starts afresh)
    "install": ((OP, ALL), "--pairs installs into your models folder by itself"),
    "variants": ((OP, ALL), "--pairs learns with OP-learned's recipe"),
    "ops": ((ALL,), "give one operator with --op"),
    "out": ((ALL,), "give --run-dir for one model"),
    "model_minutes": ((ALL,), "give --minutes for one model"),
    "workers": ((ALL,), "one model trains in one process (torchrun for several)"),
    "eval_photos": ((ALL,), "evaluate one model with `restorable eval`"),
    "init_from": (EVERY, ""),
    "retrain": ((ALL,), "one model starts afresh unless --resume"),
}
COMMAND_FLAGS = {"all", "pairs"}  # the flags that choose the command


def command_of(args: argparse.Namespace) -> str:
    """Which training command ``args`` ask for: "all", "pairs" or "op"."""
    if args.all and args.pairs:
        raise RestorableError("--all and --pairs are two commands: give one")
    return ALL if args.all else PAIRS if args.pairs else OP


def flag_name(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_flags(args: argparse.Namespace) -> str:
    """The command ``args`` ask for, after refusing (one line) any flag it cannot honour. Every
    flag of ``train`` defaults to None (False for a switch), so a flag is given when it is not."""
    command = command_of(args)
    for dest, (honoured, why) in FLAGS.items():
        given = getattr(args, dest, None) not in (None, False)
        if given and command not in honoured:
            why = why[command] if isinstance(why, dict) else why
            raise RestorableError(f"{flag_name(dest)} does not apply to train --{command}: {why}")
    if command == OP and args.variants and len(args.variants.split(",")) != 1:
        raise RestorableError("--variants with --op: give one variant (several need --all)")
    if command == OP and args.cond and args.variants:
        raise RestorableError("--cond is --variants cond: give one of them")
    return command


def read_config(path: str | None) -> dict:
    """A --config FILE as a dict ({} without one); a one-line error when it cannot be read."""
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise RestorableError(f"--config {path}: {e}") from None


TUNING = (
    "photos",
    "steps",
    "minutes",
    "batch",
    "crop",
    "lr",
    "ema",
    "seed",
    "precision",
    "threads",
)


AUGMENT = ("scales", "jitter")  # flags into TrainConfig.augment (data/augment.py)


def base_from_args(args: argparse.Namespace, keys=TUNING) -> dict:
    """What every command takes alike from ``args``: the --config file, then the tuning flags
    (``keys`` of them) and the augmentation flags (over the file's ``augment``, key by key)."""
    base = read_config(args.config)
    for key in keys:
        if getattr(args, key, None) is not None:
            base[key] = getattr(args, key)
    augment = {k: getattr(args, k) for k in AUGMENT if getattr(args, k, None) is not None}
    if augment:
        base["augment"] = {**(base.get("augment") or {}), **augment}
    return base


def carry_on_from(cfg, init: Path, name: str) -> None:
    """``--init-from WEIGHTS|FOLDER`` for one model: start from earlier weights, in the network
    they were trained in (their card's; ``--blocks``/``--refine`` then change it)."""
    from restorable.network.model import NetConfig

    weights = init / f"{name}.safetensors" if init.is_dir() else init
    card = weights.with_suffix(".json")
    if weights.suffix != ".safetensors" or not weights.is_file() or not card.is_file():
        raise RestorableError(
            f"--init-from {init}: no {weights.name} with its .json card there"
            if init.is_dir()
            else f"--init-from {init}: give a model's .safetensors (its .json card beside it)"
        )
    cfg.init_from = str(weights)
    cfg.net = NetConfig(**json.loads(card.read_text())["net"])


def one_model_config(args: argparse.Namespace, command: str):
    """The TrainConfig of ``train --op`` or ``train --pairs``: :func:`recipe`, then the flags
    that change this one model (in the order they always applied)."""
    from restorable.network.whole_photo import ESTIMATING
    from restorable.training.train import TrainConfig

    base = base_from_args(args)
    device = args.device or base.get("device") or "cpu"
    base["device"] = device
    if command == PAIRS:
        from restorable.training.from_pairs import pairs_config

        # --whole and --estimate choose the path and estimate as a --config does, so that
        # pairs_config neither adds the grade estimate nor starts from weights made for it
        chosen = {}
        if args.whole is not None:
            chosen["whole"] = "" if args.whole == "none" else args.whole
        if getattr(args, "estimate", None) is not None:
            chosen["estimate"] = "" if args.estimate == "none" else args.estimate
        if chosen:
            base = {**base, "net": {**(base.get("net") or {}), **chosen}}
        cfg = TrainConfig.from_dict(pairs_config(*args.pairs, args.name, device, base))
    else:
        if not args.op:
            raise RestorableError("say which operator to train (--op OP), or --all, or --pairs")
        base.pop("op", None)
        variant = "cond" if args.cond else args.variants or None
        cfg = TrainConfig.from_dict(recipe(args.op, variant, device, base))
    if args.param:
        cfg.params = dict(args.param)
    if args.jpeg:
        cfg.jpeg = True
    if args.init_from:
        carry_on_from(cfg, Path(args.init_from), args.name or cfg.name or cfg.op)
    if args.blocks:
        cfg.net.blocks = args.blocks
    if args.refine is not None:
        cfg.net.refine = args.refine
    if args.whole is not None:
        cfg.net.whole = "" if args.whole == "none" else args.whole
        if cfg.net.whole in ESTIMATING and not cfg.loss.estimate:
            cfg.loss.estimate = cfg.loss.approx
    if getattr(args, "estimate", None) is not None:
        cfg.net.estimate = "" if args.estimate == "none" else args.estimate
        if cfg.net.estimate:  # the estimate stands in for the operator: a learned model
            cfg.net.guided = False
    if args.refit_estimate:
        cfg.refit_estimate = True
    if args.no_psi:
        cfg.net.use_psi = False
    if args.guided:
        cfg.net.guided = True
    if args.loss_weights:
        cfg.loss.approx, cfg.loss.restore, cfg.loss.delta = args.loss_weights
    if args.no_restore_loss:
        cfg.loss.restore = 0.0
    if args.adversarial is not None:
        cfg.loss.adversarial = args.adversarial
    if args.run_dir:
        cfg.run_dir = args.run_dir
    if args.name and command == OP:
        cfg.name, cfg.version = args.name, f"{args.name}-v1"
    return cfg
