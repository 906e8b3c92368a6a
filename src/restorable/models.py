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
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft as sfft
import torch
from safetensors.torch import load_file, save_file

from restorable.devices import check_device
from restorable.errors import RestorableError
from restorable.image import as_float_image, check_image, to_uint8
from restorable.names import check_model_name, is_model_name
from restorable.network.conditioning import check_setting, normalise
from restorable.network.factory import build_net
from restorable.network.model import MULTIPLE, RESTORE_REACH, NetConfig, QuasiInvertibleNet
from restorable.network.whole_photo import photo_box, photo_thumbnail
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
RESTORE_RECEPTIVE_FIELD = RESTORE_REACH  # 96, more for a model with ρ (network/refine.py)
# apply's tiles overlap by ψ's theoretical reach, RECEPTIVE_FIELD, unless the model's card
# says how much its trained ψ needs (``apply_overlap``, measured by benchmarks/bench_overlap.py:
# twice the overlap at which tiled and one-pass outputs were identical on validation photos).
# Most guided models correct the classic operator's output near each pixel: l0, llf and bwp
# were identical at 32 px (16 px moved up to 0.4% of the pixels by a level), so their cards
# say 64, and a 24-megapixel apply computes 1.13x the photo's pixels instead of 1.97x. Not
# all: cpd at 64 px still moved 10% of the pixels, and learned models use ψ's reach (192 px
# moved 0.35% of l0-learned's pixels, 2.3% of bwp-learned's). A card written by training has
# no such field: the full reach, until measured again. φ and H reach RESTORE_REACH only
# (restore runs the same layers), so where ψ needs far more, apply computes ψ on tiles with
# the wide overlap and φ and H on others with the narrow one.
MEMORY_BUDGET_MB = 1024  # per network pass; a 24-megapixel photo stays under 2 GB in all
# Peak bytes per input pixel of one network pass, (float32, bf16): measured 271 and 310 for
# apply, 172 and 215 for restore at 2048x1536 on CPU (bf16 autocast keeps cast copies),
# rounded up. auto_tile sizes the tiles with them; larger tiles waste less on the overlaps.
APPLY_BYTES_PER_PIXEL = (288, 320)
RESTORE_BYTES_PER_PIXEL = (192, 224)
# A guided model's guide (the classic operator) is computed in one pass up to this budget, else
# on large windows. L0 measured 69 bytes per pixel over its uint8 input (24 MP: 1.6 GB, the
# apply's peak): a 6000x4000 photo just fits one pass; larger ones take windows.
GUIDE_BUDGET_MB = 1650
GUIDE_BYTES_PER_PIXEL = 72
PRECISIONS = ("auto", "fp32", "bf16")


def bf16_native(device: str = "cpu") -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA GPU that says so, or a CPU with
    AVX-512 BF16 or AMX (Linux's CPU flags). Elsewhere oneDNN emulates bf16, no faster than
    float32, so "auto" precision stays float32 there."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


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
    apply_overlap: int = 0  # px of context apply's tiles need, measured; 0: ψ's full reach

    @property
    def stem(self) -> str:
        return self.name or self.op

    @property
    def variant(self) -> str:
        """What kind of model this is, read from what the card says it is (never from its
        name, which a user chooses): "guided" (``OP``: ψ reads the classic operator's output),
        "jpeg" (trained through JPEG), "cond" (a range of one setting), "learned" (the paper's
        design: no operator at apply time), "pairs" (learned from a user's before/after
        examples), or a baseline's architecture ("ied", "stega")."""
        arch = self.net.get("arch") or "quasi-invertible"
        if arch != "quasi-invertible":
            return str(arch)
        if self.net.get("cond"):
            return "cond"
        if self.training.get("pairs"):
            return "pairs"
        if self.training.get("jpeg"):
            return "jpeg"
        return "guided" if self.net.get("guided") else "learned"


class RestorableModel:
    """A trained f̂ with ``apply`` and ``restore`` on whole photos of any size."""

    multiple = MULTIPLE
    receptive_field = RECEPTIVE_FIELD

    def __init__(
        self,
        net: QuasiInvertibleNet,
        card: ModelCard,
        device: str = "cpu",
        precision: str = "auto",
    ):
        if precision not in PRECISIONS:
            raise RestorableError(f"precision {precision!r}: choose from {' '.join(PRECISIONS)}")
        try:
            kind = torch.device(device).type
        except RuntimeError:
            raise RestorableError(f"device {device!r}: use cpu, cuda or cuda:N") from None
        if kind == "cuda" and not torch.cuda.is_available():
            raise RestorableError(
                f"device {device!r}: no CUDA GPU is visible to torch {torch.__version__}"
            )
        check_device(device)  # cuda:N past the last GPU: one line, not torch's traceback
        # channels-last: oneDNN's (and cuDNN's) fast convolution layout, same results
        self.net = net.eval().to(device, memory_format=torch.channels_last)
        self.card = card
        self.device = device
        self.precision = precision
        # apply in bf16 where the device has it: the couplings' sub-networks and ψ compute in
        # bf16, the image itself stays float32 (Haar, 1x1 mixes, the couplings' sums); restore
        # in float32. Measured on the 5 samples and 40 validation photos: restoration within
        # 0.02 dB of float32 on l0, llf, rain and scream (bf16 restore too: -0.05 to -0.06 dB
        # on rain and scream, so "auto" restores in float32); apply moves 2-17% of the values
        # by one level, none by more than 2. The baselines keep float32 (not measured).
        ours = getattr(net.cfg, "arch", "quasi-invertible") == "quasi-invertible"
        auto = precision == "auto" and ours and bf16_native(device)
        bf16, fp32 = torch.bfloat16, torch.float32
        self.apply_dtype = bf16 if precision == "bf16" or auto else fp32
        self.restore_dtype = bf16 if precision == "bf16" else fp32
        # the baselines (restorable.baselines) and a model with ρ say how far they reach
        self.receptive_field = getattr(net, "receptive_field", RECEPTIVE_FIELD)
        measured = card.apply_overlap if ours else 0
        self.apply_overlap = min(measured or self.receptive_field, self.receptive_field)
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
        # HxWxC numpy is already channels-last: the permuted view needs no copy (the batch axis
        # goes first, so its stride is the largest and later ops keep the layout)
        t = torch.from_numpy(np.ascontiguousarray(x))[None].permute(0, 3, 1, 2)
        return t.to(self.device).contiguous(memory_format=torch.channels_last)

    def _autocast(self, dtype: torch.dtype):
        kind = torch.device(self.device).type
        return torch.autocast(kind, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)

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
        conditioned model's at its setting (``params``, see :meth:`settings`). A learned model
        with an estimate (``NetConfig.estimate``) returns that instead: no operator runs."""
        estimator = getattr(self.net, "estimator", None)
        if estimator is not None:
            return estimator.photo(x).astype(np.float32) / 255
        if not self.net.cfg.guided:
            return None
        from restorable.operators import reference

        return reference(self.op, **{**self.card.params, **self.settings(**params)})(x)

    @torch.no_grad()
    def apply_float(
        self,
        x: np.ndarray,
        guide: np.ndarray | None = None,
        whole: tuple[torch.Tensor, torch.Tensor] | None = None,
        psi: np.ndarray | None = None,
        psi_only: bool = False,
        **params,
    ) -> np.ndarray:
        """float32 HxWx3 -> f̂(x) float32 HxWx3 (unclipped, unrounded), any size; ``params``:
        a conditioned model's setting (the guide must be the operator's at the same setting).
        ``whole``: for a model that reads the whole photo, its thumbnail and where ``x`` lies
        in it (:meth:`whole_photo`); without it ``x`` is the whole photo. ``psi``: ψ's output
        for ``x`` as :meth:`psi_float` gives it (H and W multiples of 8); then ψ is not run
        and the guide, setting and whole photo are not read. ``psi_only``: return that output
        instead (:meth:`psi_float`)."""
        if psi is not None:
            with self._autocast(self.apply_dtype):
                out, _ = self.net.fuse_psi(self._to_tensor(x), self._psi_tensor(psi))
            return self._to_numpy(out)
        xp, (h, w) = pad_to_multiple(x, self.multiple)
        g = None if guide is None else self._to_tensor(pad_to_multiple(guide, self.multiple)[0])
        extra = {}
        if self.setting is not None:
            (value,) = self.settings(**params).values()
            extra["cond"] = normalise(self.setting, value)
        elif params:
            self.settings(**params)  # the one-line error
        if getattr(self.net.cfg, "whole", ""):
            thumb, box = whole if whole is not None else self.whole_photo(x)
            extra.update(thumb=thumb.to(self.device), box=box.to(self.device))
        with self._autocast(self.apply_dtype):
            if psi_only:
                return self._psi_array(self.net.psi_map(self._to_tensor(xp), g, **extra))
            out, _ = self.net(self._to_tensor(xp), g, **extra)
        return self._to_numpy(out)[:h, :w]

    def psi_float(
        self,
        x: np.ndarray,
        guide: np.ndarray | None = None,
        whole: tuple[torch.Tensor, torch.Tensor] | None = None,
        **params,
    ) -> np.ndarray:
        """ψ's output for float32 HxWx3 ``x`` (H and W multiples of 8), arguments as
        :meth:`apply_float`: its 12 half-resolution channels as 3 full-resolution ones (pixel
        shuffle, a permutation), so it tiles like an image; float32, or bf16's bits as int16
        when ψ computes in bf16 (half the memory, and the same values)."""
        if x.shape[0] % self.multiple or x.shape[1] % self.multiple:
            raise ValueError(f"psi_float needs sides that are multiples of {self.multiple}")
        return self.apply_float(x, guide, whole, psi_only=True, **params)

    @staticmethod
    def _psi_array(i_psi: torch.Tensor) -> np.ndarray:
        t = torch.nn.functional.pixel_shuffle(i_psi, 2)[0].permute(1, 2, 0).cpu()
        if t.dtype == torch.bfloat16:
            return t.contiguous().view(torch.int16).numpy()
        return t.float().contiguous().numpy()

    def _psi_tensor(self, psi: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(psi))
        t = t.view(torch.bfloat16) if t.dtype == torch.int16 else t
        t = torch.nn.functional.pixel_unshuffle(t.permute(2, 0, 1)[None], 2)
        return t.to(self.device).contiguous(memory_format=torch.channels_last)

    @staticmethod
    def whole_photo(img: np.ndarray, top: int = 0, left: int = 0):
        """What a whole-photo ψ reads besides its window: the photo's thumbnail and the box of
        the window at (top, left) (``network/whole_photo.py``)."""
        return photo_thumbnail(img), photo_box(top, left, *img.shape[:2])

    @torch.no_grad()
    def restore_float(self, y: np.ndarray) -> np.ndarray:
        """float32 HxWx3 stored image -> restored float32 HxWx3 (Δ = 0), any size."""
        yp, (h, w) = pad_to_multiple(y, self.multiple)
        with self._autocast(self.restore_dtype):
            out = self.net.inverse(self._to_tensor(yp))
        return self._to_numpy(out)[:h, :w]

    def _budget_mb(self) -> float:
        """Memory for one network pass: MEMORY_BUDGET_MB of RAM, or on a GPU half of what is
        free on it (its own memory holds only the tile's tensors)."""
        if torch.device(self.device).type == "cuda":
            free, _ = torch.cuda.mem_get_info(torch.device(self.device))
            return free / 2**20 / 2
        return MEMORY_BUDGET_MB

    def _tile(
        self,
        x: np.ndarray,
        tile: int | str | None,
        overlap: int,
        restore: bool = False,
        reserve_mb: float = 0.0,
    ) -> int | None:
        if tile == "auto":
            bf16 = (self.restore_dtype if restore else self.apply_dtype) == torch.bfloat16
            per_px = (RESTORE_BYTES_PER_PIXEL if restore else APPLY_BYTES_PER_PIXEL)[bf16]
            budget = max(self._budget_mb() - reserve_mb, self._budget_mb() / 2)
            return auto_tile(
                *x.shape[:2],
                budget,
                multiple=self.multiple,
                overlap=overlap,
                bytes_per_pixel=per_px,
            )
        return tile

    def guide(self, img: np.ndarray, **params) -> np.ndarray | None:
        """The guide f(I) of a guided model as uint8 HxWx3 (None for other models), computed
        once for the whole photo: in one pass where the classic operator fits GUIDE_BUDGET_MB,
        else on large windows overlapping by the receptive field (operators such as L0 are not
        strictly local: there the result differs slightly from one pass). uint8, as the model
        saw its guides in training (the cached pairs), and 3 bytes a pixel. A learned model's
        estimate (``NetConfig.estimate``) is the same kind of guide, computed by the model; one
        that must see the whole photo at any size and bounds its own memory (``one_pass``: the
        grade estimate, whose statistics are the whole photo's) runs in one pass."""
        if not self.net.cfg.reads_guide:
            return None
        src = check_image(img)
        estimator = getattr(self.net, "estimator", None)
        if estimator is not None:  # its uint8 as it is, not through reference_guide's floats
            one = estimator.photo
            if getattr(estimator, "one_pass", False):
                return one(src)
        else:
            one = lambda t: to_uint8(self.reference_guide(t, **params))  # noqa: E731
        h, w = src.shape[:2]
        side = auto_tile(
            h,
            w,
            GUIDE_BUDGET_MB,
            multiple=self.multiple,
            overlap=self.receptive_field,
            bytes_per_pixel=GUIDE_BYTES_PER_PIXEL,
        )
        with sfft.set_workers(torch.get_num_threads()):  # L0's FFTs on as many cores as torch
            if max(h, w) <= side:
                return one(src)
            return run_tiled(one, src, side, self.receptive_field, self.multiple)

    def apply(self, img: np.ndarray, tile: int | str | None = "auto", **params) -> np.ndarray:
        """The edited photo as uint8 HxWx3; a conditioned model takes its setting by the
        operator's parameter name, ``apply(img, lam=0.03)`` (default: the operator's).

        ``tile`` (px, "auto" or None for one pass) bounds the network's memory on large photos;
        tiles overlap by the context the model needs (``apply_overlap``: ψ's reach, or what
        the card says was measured), so the result is one pass's within rounding. A guided
        model computes its guide (the classic operator) once for the photo first (:meth:`guide`)
        and hands each tile its crop of it.
        """
        params = self.settings(**params)  # checked once, before any work
        src = check_image(img)  # uint8 stays uint8 until each tile: bounded memory
        guide = self.guide(src, **params)
        if guide is not None:  # one array, so each tile's window holds its guide too
            g = guide if src.dtype == np.uint8 else guide.astype(np.float32) / 255
            src = np.concatenate([src, g.astype(src.dtype, copy=False)], axis=2)
            del guide, g

        # a whole-photo ψ: the thumbnail once for the photo, each tile told where it lies
        thumb = self.whole_photo(src)[0] if getattr(self.net.cfg, "whole", "") else None
        h, w = src.shape[:2]

        def fn(t: np.ndarray, at: tuple[int, int] = (0, 0)) -> np.ndarray:
            g = None if t.shape[2] == 3 else as_float_image(t[..., 3:])
            whole = None if thumb is None else (thumb, photo_box(*at, h, w))
            return self.apply_float(as_float_image(t[..., :3]), g, whole, **params)

        overlap, asked = self.apply_overlap, tile
        tile = self._tile(src, tile, overlap)
        if tile is None or max(src.shape[:2]) <= tile:
            return to_uint8(fn(src))
        if not self._split_psi():
            return run_tiled(fn, src, tile, overlap, self.multiple, finalize=to_uint8, origin=True)
        # ψ's map is kept whole between the two passes: that much less memory for each tile
        map_mb = h * w * (6 if self.apply_dtype == torch.bfloat16 else 12) / 2**20
        tile = self._tile(src, asked, overlap, reserve_mb=map_mb)

        # ψ on tiles with the wide overlap, then φ and H on tiles with the narrow one, each
        # reading its crop of ψ's map (padded first, so both passes share its coordinates)
        padded = pad_to_multiple(src, self.multiple)[0]

        def psi_fn(t: np.ndarray, at: tuple[int, int]) -> np.ndarray:
            g = None if t.shape[2] == 3 else as_float_image(t[..., 3:])
            whole = None if thumb is None else (thumb, photo_box(*at, h, w))
            return self.psi_float(as_float_image(t[..., :3]), g, whole, **params)

        psi = run_tiled(psi_fn, padded, tile, overlap, self.multiple, origin=True)

        def fuse_fn(t: np.ndarray, at: tuple[int, int]) -> np.ndarray:
            (top, left), (th, tw) = at, t.shape[:2]
            crop = psi[top : top + th, left : left + tw]
            return self.apply_float(as_float_image(t[..., :3]), psi=crop)

        reach = RESTORE_REACH
        out = run_tiled(fuse_fn, padded, tile, reach, self.multiple, finalize=to_uint8, origin=True)
        return out[:h, :w]

    def _split_psi(self) -> bool:
        """Whether a tiled apply runs ψ and then φ and H on tiles of their own: when ψ needs
        far more context than φ and H (RESTORE_REACH), as a learned model's does."""
        ours = isinstance(self.net, QuasiInvertibleNet)
        return ours and self.net.psi is not None and self.apply_overlap > 2 * RESTORE_REACH

    def restore(self, img: np.ndarray, tile: int | str | None = "auto") -> np.ndarray:
        """The original photo recovered from an edited uint8 (or float) image. A conditioned
        model needs no setting here: restore runs H⁻¹ and φ⁻¹ only, never ψ."""
        src = check_image(img)
        overlap = self.restore_receptive_field
        tile = self._tile(src, tile, overlap, restore=True)
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
    metadata = {"op": card.op, "version": card.version}
    return write_weights(folder, card.stem, net, card.__dict__, half, metadata)


def write_weights(
    folder: Path,
    stem: str,
    net: torch.nn.Module,
    card: dict,
    half: bool = False,
    metadata: dict | None = None,
    indent: int = 1,
) -> Path:
    """``stem.safetensors`` (the weights of ``net``, fp16 if ``half``) and its JSON ``card``
    into ``folder``, each through a temporary file and a rename, the weights first (a card is
    never seen without its weights). Every model the project trains is written so: the
    restorable models (:func:`save_model`) and the style networks (``training/style.py``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    # a module may ask to stay fp32 (``keep_fp32``): the learned estimates, a few weights that
    # ψ's training read exactly (the histogram estimate's quantiles in fp16 moved its output by
    # up to 3 grey levels, for 12 kB saved)
    exact = {
        f"{name}.{key}" if name else key
        for name, module in net.named_modules()
        if getattr(module, "keep_fp32", False)
        for key in module.state_dict()
    }
    state = {
        k: v.detach().to("cpu", torch.float32 if k in exact else dtype).contiguous()
        for k, v in net.state_dict().items()
    }
    path = folder / f"{stem}.safetensors"
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(path)
    meta = folder / f"{stem}.json"
    meta.with_suffix(".tmp").write_text(json.dumps(card, indent=indent) + "\n")
    meta.with_suffix(".tmp").replace(meta)
    return path


def install_model(src: Path, stem: str, dest: Path) -> Path:
    """Copy model ``stem`` (weights, then card) from folder ``src`` into ``dest``; returns dest.

    Each file goes to a hidden temporary name beside its target and is renamed over it, the
    weights first: a reader never sees a half-written file, nor a card without its weights.
    The one installer of ``train --install``, ``train --all --install`` and ``train --pairs``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for ext in (".safetensors", ".json"):
        tmp = dest / f".{stem}{ext}.tmp"
        shutil.copyfile(Path(src) / f"{stem}{ext}", tmp)
        tmp.replace(dest / f"{stem}{ext}")
    return dest


def _models_in(folder: Path) -> list[str]:
    return sorted(
        p.stem
        for p in Path(folder).glob("*.json")
        if is_model_name(p.stem)
        and p.with_suffix(".safetensors").exists()
        and not p.stem.startswith("style_")
    )


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is a file that, links resolved, lies directly in ``folder``."""
    try:
        return path.is_file() and path.resolve().parent == folder.resolve()
    except OSError:  # a loop of links, a name the file system refuses
        return False


def _find(name: str, weights_dir: str | Path | None = None) -> Path | None:
    """The folder holding model ``name``: the first of :func:`model_dirs` that has it. ``name``
    must be a model name (a name, not a path: :mod:`restorable.names`), and both its files must
    lie in that folder."""
    check_model_name(name)
    for folder in model_dirs(weights_dir):
        files = (folder / f"{name}.json", folder / f"{name}.safetensors")
        if all(_inside(f, folder) for f in files):
            return folder
    return None


def has_model(name: str, weights_dir: str | Path | None = None) -> bool:
    """Whether a model called ``name`` is installed (False for a name that is not valid)."""
    return is_model_name(name) and _find(name, weights_dir) is not None


def available_models(folder: str | Path | None = None) -> list[str]:
    """Model names in ``folder``; by default the shipped ones and then the user's own."""
    names: list[str] = []
    for d in model_dirs(folder):
        names += [n for n in _models_in(d) if n not in names]
    return names if folder is None else sorted(names)


def read_card(name: str, folder: str | Path | None = None) -> dict:
    """Model ``name``'s card (JSON) without loading its weights; {} if there is no such model."""
    found = _find(name, folder)
    return json.loads((found / f"{name}.json").read_text()) if found else {}


def read_card_of(name: str, folder: str | Path | None = None) -> ModelCard:
    """Model ``name``'s card as a :class:`ModelCard` (its ``variant`` among others), without
    loading its weights; a one-line RestorableError if there is no such model."""
    card = read_card(name, folder)
    if not card:
        raise RestorableError(f"no restorable model {name!r}")
    return ModelCard(**card)


def models_by_op(folder: str | Path | None = None) -> dict[str, list[str]]:
    """Model names grouped by the operator they learned (``l0``: l0, l0-jpeg, ...); a model
    learned from pairs is its own group. ``folder`` as for :func:`available_models`."""
    groups: dict[str, list[str]] = {}
    for name in available_models(folder):
        groups.setdefault(read_card(name, folder).get("op", name), []).append(name)
    return groups


def load(
    model: str | None = None,
    weights_dir: str | Path | None = None,
    device: str = "cpu",
    precision: str = "auto",
    *,
    op: str | None = None,
) -> RestorableModel:
    """The restorable model named ``model`` (``l0``, ``l0-jpeg``, ``l0-learned``, or the name
    of a model learned from pairs): from ``weights_dir``, else shipped, else the user's.
    ``op=`` is the parameter's name before 0.2, kept as a deprecated alias.

    ``device``: "cpu" or "cuda". ``precision``: "auto" (apply in bf16 where the device computes
    it natively: a CPU with AVX-512 BF16 or AMX, a recent GPU; restore in float32), "fp32"
    (the reference) or "bf16" (both).
    """
    op = model_argument(model, op)
    folder = _find(check_model_name(op), weights_dir)
    if folder is None:
        where = " or ".join(str(d) for d in model_dirs(weights_dir))
        have = " ".join(available_models(weights_dir)) or "none"
        raise RestorableError(f"no restorable model for {op!r} in {where} (models there: {have})")
    card_path, weights = folder / f"{op}.json", folder / f"{op}.safetensors"
    # a models folder is the user's (and what is copied into it from elsewhere): its card and
    # weights are untrusted files, so whatever they get wrong is one line, not a traceback
    try:
        card = ModelCard(**json.loads(card_path.read_text()))
        net = build_net(NetConfig(**card.net))  # ours, or a baseline as card.net["arch"] says
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise RestorableError(f"{card_path}: not a model card this version reads ({e})") from e
    try:
        net.load_state_dict(load_file(str(weights)))
    except Exception as e:  # safetensors' own errors, or tensors that do not fit the card
        what = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise RestorableError(f"{weights}: weights that do not fit its card ({what})") from e
    return RestorableModel(net, card, device, precision)


def model_argument(model: str | None, op: str | None) -> str:
    """``model``, or the deprecated ``op=`` keyword's value (with a DeprecationWarning)."""
    if op is not None:
        import warnings

        if model is not None:
            raise RestorableError("give the model once: model=NAME (op= is its old name)")
        warnings.warn("op= is now model=", DeprecationWarning, stacklevel=3)
        return op
    if model is None:
        raise RestorableError("name the model to load, e.g. load('l0')")
    return model


def model_for(
    op: str, jpeg: bool, weights_dir: str | Path | None = None, conditioned: bool = False
) -> str:
    """The model name to use for ``op``: its conditioned variant when a setting is asked for,
    else its JPEG-aware variant when writing JPEG, if there."""
    check_model_name(op, "--op")
    if conditioned and _find(f"{op}-cond", weights_dir):
        return f"{op}-cond"
    if jpeg and _find(f"{op}-jpeg", weights_dir):
        return f"{op}-jpeg"
    return op
