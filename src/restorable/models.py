"""The one loader of restorable models, and the model users hold.

    m = restorable.load("l0")
    edited = m.apply(photo)        # uint8 HxWx3 that looks like L0 smoothing
    original = m.restore(edited)   # uint8 HxWx3, the photo back

A model on disk is ``<op>.safetensors`` (weights) plus ``<op>.json`` (architecture, operator,
parameters, version, training facts). The package's ``weights/`` folder holds the shipped ones;
models a user trained from before/after pairs live in the user's folder (:func:`user_models_dir`),
which ``load``, ``available_models`` and ``list`` search after the package (shipped names win).

A conditioned model (``l0-cond``) serves a range of its operator's main setting:
``m.apply(photo, lam=0.03)``; ``restore`` needs no setting (it never runs ψ, which reads it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from restorable.errors import RestorableError
from restorable.image import as_float_image, check_image, to_uint8
from restorable.network.conditioning import check_setting, normalise
from restorable.network.factory import build_net
from restorable.network.model import MULTIPLE, NetConfig, QuasiInvertibleNet
from restorable.tiling import auto_tile, pad_to_multiple, run_tiled

WEIGHTS_DIR = Path(__file__).with_name("weights")


def user_models_dir() -> Path:
    """Models a user trained (``train --pairs``): ``$RESTORABLE_HOME/models``, by default
    ``~/.local/share/restorable/models``."""
    base = os.environ.get("RESTORABLE_HOME") or Path.home() / ".local" / "share" / "restorable"
    return Path(base) / "models"


def model_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """Where models are looked for, in order: ``weights_dir`` alone if given, else the package's
    shipped weights and then the user's folder."""
    return [Path(weights_dir)] if weights_dir else [WEIGHTS_DIR, user_models_dir()]


# Pixels of context one output pixel depends on, per side, for apply (φ, ψ and H) and restore
# (H⁻¹ and φ⁻¹ only), measured by tests/test_network.py::test_receptive_field_is_bounded;
# tiles overlap by this much, so tiled results equal whole-image ones.
RECEPTIVE_FIELD = 288
RESTORE_RECEPTIVE_FIELD = 96
MEMORY_BUDGET_MB = 768  # per network pass; a 24-megapixel photo stays under 2 GB in all


@dataclass
class ModelCard:
    """The JSON beside a model's weights."""

    op: str
    version: str
    net: dict
    params: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    name: str = ""  # file stem; "" means the operator id. Variants: "l0-jpeg" (JPEG-aware)

    @property
    def stem(self) -> str:
        return self.name or self.op


class RestorableModel:
    """A trained f̂ with ``apply`` and ``restore`` on whole photos of any size."""

    multiple = MULTIPLE
    receptive_field = RECEPTIVE_FIELD

    def __init__(self, net: QuasiInvertibleNet, card: ModelCard, device: str = "cpu"):
        self.net = net.eval().to(device)
        self.card = card
        self.device = device
        # the baselines (restorable.baselines) say how far their own networks reach
        self.receptive_field = getattr(net, "receptive_field", RECEPTIVE_FIELD)
        self.restore_receptive_field = getattr(
            net, "restore_receptive_field", RESTORE_RECEPTIVE_FIELD
        )

    @property
    def op(self) -> str:
        return self.card.op

    @property
    def version(self) -> str:
        return self.card.version

    def _to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].to(self.device)

    @staticmethod
    def _to_numpy(t: torch.Tensor) -> np.ndarray:
        return t[0].permute(1, 2, 0).float().cpu().numpy()

    @property
    def setting(self) -> dict | None:
        """A conditioned model's setting, ``{"param", "low", "high", "log"}``; None when the
        model serves one setting only (its card's ``params``)."""
        return getattr(self.net.cfg, "cond", None)

    def settings(self, **params) -> dict:
        """The conditioned setting ``apply(**params)`` uses, as ``{name: value}`` ({} for other
        models): the given value, checked against the trained range, else the card's, else the
        operator's default. One-line errors for a value out of range or a name it does not take.
        """
        cond = self.setting
        if cond is None:
            if params:
                from restorable.network.conditioning import RANGES
                from restorable.operators import get_operator, operator_ids

                asked = ", ".join(f"{k}={v}" for k, v in params.items())
                fixed = self.card.params
                if not fixed and self.op in operator_ids():
                    fixed = get_operator(self.op).defaults
                fixed_text = ", ".join(f"{k}={v}" for k, v in fixed.items())
                hint = (
                    f"; for a range, train {self.op}-cond (restorable train --op {self.op} --cond)"
                    if self.op in RANGES
                    else ""
                )
                if not fixed_text:
                    raise RestorableError(f"model {self.card.stem!r} takes no setting ({asked})")
                raise RestorableError(
                    f"model {self.card.stem!r} serves one setting ({fixed_text}), not {asked}{hint}"
                )
            return {}
        name = cond["param"]
        unknown = sorted(set(params) - {name})
        if unknown:
            raise RestorableError(
                f"model {self.card.stem!r} takes {name}=VALUE ({cond['low']:g} to "
                f"{cond['high']:g}), not {', '.join(unknown)}"
            )
        if name in params:
            value = params[name]
        elif name in self.card.params:
            value = self.card.params[name]
        else:
            from restorable.operators import get_operator

            value = get_operator(self.op).defaults[name]
        return {name: check_setting(cond, value, f"model {self.card.stem!r}")}

    def reference_guide(self, x: np.ndarray, **params) -> np.ndarray | None:
        """The classic operator's output, which a guided model's ψ reads (None otherwise); a
        conditioned model's at its setting (``params``, see :meth:`settings`)."""
        if not self.net.cfg.guided:
            return None
        from restorable.operators import reference

        return reference(self.op, **{**self.card.params, **self.settings(**params)})(x)

    @torch.no_grad()
    def apply_float(self, x: np.ndarray, guide: np.ndarray | None = None, **params) -> np.ndarray:
        """float32 HxWx3 -> f̂(x) float32 HxWx3 (unclipped, unrounded), any size; ``params``:
        a conditioned model's setting (the guide must be the operator's at the same setting)."""
        xp, (h, w) = pad_to_multiple(x, self.multiple)
        g = None if guide is None else self._to_tensor(pad_to_multiple(guide, self.multiple)[0])
        extra = {}
        if self.setting is not None:
            (value,) = self.settings(**params).values()
            extra["cond"] = normalise(self.setting, value)
        elif params:
            self.settings(**params)  # the one-line error
        out, _ = self.net(self._to_tensor(xp), g, **extra)
        return self._to_numpy(out)[:h, :w]

    @torch.no_grad()
    def restore_float(self, y: np.ndarray) -> np.ndarray:
        """float32 HxWx3 stored image -> restored float32 HxWx3 (Δ = 0), any size."""
        yp, (h, w) = pad_to_multiple(y, self.multiple)
        return self._to_numpy(self.net.inverse(self._to_tensor(yp)))[:h, :w]

    def _tile(self, x: np.ndarray, tile: int | str | None, overlap: int) -> int | None:
        if tile == "auto":
            return auto_tile(
                *x.shape[:2], MEMORY_BUDGET_MB, multiple=self.multiple, overlap=overlap
            )
        return tile

    def apply(self, img: np.ndarray, tile: int | str | None = "auto", **params) -> np.ndarray:
        """The edited photo as uint8 HxWx3; a conditioned model takes its setting by the
        operator's parameter name, ``apply(img, lam=0.03)`` (default: the operator's).

        ``tile`` (px, "auto" or None for one pass) bounds memory on large photos; tiles overlap
        by the receptive field, so the result is the same as one pass. A guided model computes
        its guide (the classic operator) tile by tile too, on the same overlapping windows:
        operators such as L0 are not strictly local, so there tiled and whole-image outputs
        agree closely rather than exactly.
        """
        params = self.settings(**params)  # checked once, before any work
        src = check_image(img)  # uint8 stays uint8 until each tile: bounded memory
        tile = self._tile(src, tile, self.receptive_field)
        if tile is None or max(src.shape[:2]) <= tile:
            x = as_float_image(src)
            return to_uint8(self.apply_float(x, self.reference_guide(x, **params), **params))

        def fn(t: np.ndarray) -> np.ndarray:
            x = as_float_image(t)
            return self.apply_float(x, self.reference_guide(x, **params), **params)

        return run_tiled(fn, src, tile, self.receptive_field, self.multiple, finalize=to_uint8)

    def restore(self, img: np.ndarray, tile: int | str | None = "auto") -> np.ndarray:
        """The original photo recovered from an edited uint8 (or float) image. A conditioned
        model needs no setting here: restore runs H⁻¹ and φ⁻¹ only, never ψ."""
        src = check_image(img)
        overlap = self.restore_receptive_field
        tile = self._tile(src, tile, overlap)
        if tile is None or max(src.shape[:2]) <= tile:
            return to_uint8(self.restore_float(as_float_image(src)))
        fn = lambda t: self.restore_float(as_float_image(t))  # noqa: E731
        return run_tiled(fn, src, tile, overlap, self.multiple, finalize=to_uint8)


def save_model(net: QuasiInvertibleNet, card: ModelCard, folder: Path, half: bool = False) -> Path:
    """Write ``<op>.safetensors`` and ``<op>.json`` into ``folder`` (temp + rename).

    ``half`` stores fp16 weights (half the size; shipped models, measured by ``eval`` as
    stored). The network still computes in fp32, so apply and restore use the very same
    weights and the inverse stays exact.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    state = {k: v.detach().to(dtype).cpu().contiguous() for k, v in net.state_dict().items()}
    path = folder / f"{card.stem}.safetensors"
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"op": card.op, "version": card.version})
    tmp.replace(path)
    meta = folder / f"{card.stem}.json"
    meta.with_suffix(".tmp").write_text(json.dumps(card.__dict__, indent=1) + "\n")
    meta.with_suffix(".tmp").replace(meta)
    return path


def _models_in(folder: Path) -> list[str]:
    return sorted(
        p.stem
        for p in Path(folder).glob("*.json")
        if p.with_suffix(".safetensors").exists() and not p.stem.startswith("style_")
    )


def _find(name: str, weights_dir: str | Path | None = None) -> Path | None:
    """The folder holding model ``name``: the first of :func:`model_dirs` that has it."""
    for folder in model_dirs(weights_dir):
        if (folder / f"{name}.json").exists() and (folder / f"{name}.safetensors").exists():
            return folder
    return None


def available_models(folder: str | Path | None = None) -> list[str]:
    """Model names in ``folder``; by default the shipped ones and then the user's own."""
    names: list[str] = []
    for d in model_dirs(folder):
        names += [n for n in _models_in(d) if n not in names]
    return names if folder is None else sorted(names)


def models_by_op(folder: str | Path | None = None) -> dict[str, list[str]]:
    """Model names grouped by the operator they learned (``l0``: l0, l0-jpeg, ...); a model
    learned from pairs is its own group. ``folder`` as for :func:`available_models`."""
    groups: dict[str, list[str]] = {}
    for name in available_models(folder):
        card = _find(name, folder) / f"{name}.json"
        op = json.loads(card.read_text()).get("op", name)
        groups.setdefault(op, []).append(name)
    return groups


def load(op: str, weights_dir: str | Path | None = None, device: str = "cpu") -> RestorableModel:
    """The restorable model ``op`` (an operator id, a variant name such as ``l0-jpeg``, or the
    name of a model learned from pairs): from ``weights_dir``, else shipped, else the user's."""
    folder = _find(op, weights_dir)
    if folder is None:
        where = " or ".join(str(d) for d in model_dirs(weights_dir))
        have = " ".join(available_models(weights_dir)) or "none"
        raise RestorableError(f"no restorable model for {op!r} in {where} (models there: {have})")
    card_path, weights = folder / f"{op}.json", folder / f"{op}.safetensors"
    card = ModelCard(**json.loads(card_path.read_text()))
    net = build_net(NetConfig(**card.net))  # ours, or a baseline when card.net["arch"] says so
    net.load_state_dict(load_file(str(weights)))
    return RestorableModel(net, card, device)


def model_for(
    op: str, jpeg: bool, weights_dir: str | Path | None = None, conditioned: bool = False
) -> str:
    """The model name to use for ``op``: its conditioned variant when a setting is asked for,
    else its JPEG-aware variant when writing JPEG, if there."""
    if conditioned and _find(f"{op}-cond", weights_dir):
        return f"{op}-cond"
    if jpeg and _find(f"{op}-jpeg", weights_dir):
        return f"{op}-jpeg"
    return op
