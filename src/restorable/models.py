"""The one loader of restorable models, and the model users hold.

    m = restorable.load("l0")
    edited = m.apply(photo)        # uint8 HxWx3 that looks like L0 smoothing
    original = m.restore(edited)   # uint8 HxWx3, the photo back

A model on disk is ``<op>.safetensors`` (weights) plus ``<op>.json`` (architecture, operator,
parameters, version, training facts). The package's ``weights/`` folder holds the shipped ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from restorable.errors import RestorableError
from restorable.image import as_float_image, check_image, to_uint8
from restorable.network.factory import build_net
from restorable.network.model import MULTIPLE, NetConfig, QuasiInvertibleNet
from restorable.tiling import auto_tile, pad_to_multiple, run_tiled

WEIGHTS_DIR = Path(__file__).with_name("weights")

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

    def reference_guide(self, x: np.ndarray) -> np.ndarray | None:
        """The classic operator's output, which a guided model's ψ reads (None otherwise)."""
        if not self.net.cfg.guided:
            return None
        from restorable.operators import reference

        return reference(self.op, **self.card.params)(x)

    @torch.no_grad()
    def apply_float(self, x: np.ndarray, guide: np.ndarray | None = None) -> np.ndarray:
        """float32 HxWx3 -> f̂(x) float32 HxWx3 (unclipped, unrounded), any size."""
        xp, (h, w) = pad_to_multiple(x, self.multiple)
        g = None if guide is None else self._to_tensor(pad_to_multiple(guide, self.multiple)[0])
        out, _ = self.net(self._to_tensor(xp), g)
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

    def apply(self, img: np.ndarray, tile: int | str | None = "auto") -> np.ndarray:
        """The edited photo as uint8 HxWx3.

        ``tile`` (px, "auto" or None for one pass) bounds memory on large photos; tiles overlap
        by the receptive field, so the result is the same as one pass. A guided model computes
        its guide (the classic operator) tile by tile too, on the same overlapping windows:
        operators such as L0 are not strictly local, so there tiled and whole-image outputs
        agree closely rather than exactly.
        """
        src = check_image(img)  # uint8 stays uint8 until each tile: bounded memory
        tile = self._tile(src, tile, self.receptive_field)
        if tile is None or max(src.shape[:2]) <= tile:
            x = as_float_image(src)
            return to_uint8(self.apply_float(x, self.reference_guide(x)))

        def fn(t: np.ndarray) -> np.ndarray:
            x = as_float_image(t)
            return self.apply_float(x, self.reference_guide(x))

        return run_tiled(fn, src, tile, self.receptive_field, self.multiple, finalize=to_uint8)

    def restore(self, img: np.ndarray, tile: int | str | None = "auto") -> np.ndarray:
        """The original photo recovered from an edited uint8 (or float) image."""
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


def available_models(folder: Path = WEIGHTS_DIR) -> list[str]:
    """Operators with a model in ``folder``."""
    return sorted(
        p.stem
        for p in Path(folder).glob("*.json")
        if p.with_suffix(".safetensors").exists() and not p.stem.startswith("style_")
    )


def models_by_op(folder: Path = WEIGHTS_DIR) -> dict[str, list[str]]:
    """Model names in ``folder`` grouped by the operator they learned (``l0``: l0, l0-jpeg, ...)."""
    groups: dict[str, list[str]] = {}
    for name in available_models(folder):
        op = json.loads((Path(folder) / f"{name}.json").read_text()).get("op", name)
        groups.setdefault(op, []).append(name)
    return groups


def load(op: str, weights_dir: str | Path | None = None, device: str = "cpu") -> RestorableModel:
    """The restorable model ``op`` (an operator id, or a variant name such as ``l0-jpeg``),
    shipped or from ``weights_dir``."""
    folder = Path(weights_dir) if weights_dir else WEIGHTS_DIR
    card_path, weights = folder / f"{op}.json", folder / f"{op}.safetensors"
    if not card_path.exists() or not weights.exists():
        have = " ".join(available_models(folder)) or "none"
        raise RestorableError(f"no restorable model for {op!r} in {folder} (models there: {have})")
    card = ModelCard(**json.loads(card_path.read_text()))
    net = build_net(NetConfig(**card.net))  # ours, or a baseline when card.net["arch"] says so
    net.load_state_dict(load_file(str(weights)))
    return RestorableModel(net, card, device)


def model_for(op: str, jpeg: bool, weights_dir: str | Path | None = None) -> str:
    """The model name to use for ``op``: its JPEG-aware variant when writing JPEG, if there."""
    folder = Path(weights_dir) if weights_dir else WEIGHTS_DIR
    if jpeg and (folder / f"{op}-jpeg.json").exists():
        return f"{op}-jpeg"
    return op
