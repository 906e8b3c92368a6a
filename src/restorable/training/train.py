"""Training a restorable model for one operator.

    cached pairs ─► crops (I, f(I)) ─► f̂ ─► (f̂(I), Δ) ─► µ (round / JPEG, straight-through)
                                                          └─► inverse with Δ = 0 ─► Î
    loss = λa‖f̂(I) − f(I)‖² + λr‖Î − I‖² + λΔ‖Δ‖²

A conditioned model (``net.cond``) trains on one pair set per value of its setting
(``param_values``), drawing the value per crop and feeding it to ψ; a model of a user's own edit
(``pairs``: BEFORE and AFTER folders) trains on those pairs instead of an operator's.

Seeded, logged (JSON lines), checkpointed every few minutes and resumable (``resume=True``).
On CUDA it uses bf16 autocast for the non-invertible ψ and TF32; under ``torchrun`` with several
processes it trains with DistributedDataParallel (each rank its own crop stream).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from restorable.data.augment import Augment
from restorable.data.pairs import (
    PairCrops,
    at_least,
    compute_augmented_pairs,
    compute_pairs,
    load_pairs,
    match_pairs,
    photo_paths,
    read_pairs,
    split_pairs,
)
from restorable.errors import RestorableError
from restorable.models import ModelCard, save_model
from restorable.network.conditioning import normalise, spread
from restorable.network.factory import build_net, load_weights
from restorable.network.model import NetConfig
from restorable.network.sharing import draw_share, pad_for_inverse, received_original, share
from restorable.network.storage import jpeg, quantize
from restorable.network.whole_photo import ESTIMATING, oriented, photo_box, photo_thumbnail
from restorable.training.history import carry_on, prior_training
from restorable.training.loop import Loop, atomic_save
from restorable.training.losses import LossWeights, total_loss
from restorable.training.recipes import JPEG_QUALITIES


@dataclass
class TrainConfig:
    op: str
    params: dict = field(default_factory=dict)  # operator parameters (paper defaults if empty)
    photos: str | None = None  # a folder of the user's photos; None: the project's split
    steps: int = 20000
    minutes: float | None = None  # wall-clock budget: stop then, cosine schedule over the time
    batch: int = 8
    crop: int = 128
    lr: float = 1e-3
    warmup: int = 200
    grad_clip: float = 5.0
    # also clip at this many times the running mean of the gradient norm (0: off). A fixed
    # bound fits no two models (median norms 0.01-1.3 across ours); this one cuts only the
    # outliers, the steps that knocked bwp back (see GradClip)
    grad_clip_rel: float = 0.0
    # decay of an exponential moving average of the weights, which is what gets validated and
    # saved (0: off, the last step's weights). At a steady learning rate a model's restoration
    # swings by ±0.5 dB from one check to the next (bwp, runs-s9); the average sits inside the
    # swing rather than wherever the last step left it. (Not yet A/B-measured on its own: the
    # bwp runs that used it changed the warm-up and clipping too.)
    ema: float = 0.0
    max_side: int = 640  # training photos are downscaled to this longer side
    # rescaled and exposure/colour-jittered copies of the training photos, each with its own
    # f(I) (data/augment.py); none by default (validation and eval always read the plain split)
    augment: Augment = field(default_factory=Augment)
    loss: LossWeights = field(default_factory=LossWeights)
    net: NetConfig = field(default_factory=NetConfig)
    jpeg: bool = False  # compression-aware training (JPEG on half of the batches)
    jpeg_qualities: tuple[int, int] = JPEG_QUALITIES  # 70-95: why in recipes.py
    # chroma subsampling drawn per image (Pillow: 0 = 4:4:4, 2 = 4:2:0): files get re-encoded
    # by phones and websites at 4:2:0, so the JPEG-aware models train on both
    jpeg_subsampling: tuple[int, ...] = (0, 2)
    # share-robust training (OP-share, network/sharing.py): the JPEG batches are also downsized
    # by a factor drawn from share_scales first, and restored against the original resized alike
    share: bool = False
    share_scales: tuple[float, float] = (0.4, 1.0)
    seed: int = 0
    device: str = "cpu"
    # "auto": bf16 autocast where the device computes it natively (TRAIN_AUTOCAST), "fp32", or
    # "bf16" (forward and inverse). The image path stays float32 either way (invertible.py).
    precision: str = "auto"
    threads: int | None = None
    val_every: int = 250
    ckpt_minutes: float = 3.0
    run_dir: str = "runs/{op}"
    version: str = "{op}-v1"
    name: str = ""  # model file stem (default: the operator id), e.g. "l0-jpeg"
    init_from: str | None = None  # weights (.safetensors) to start from, e.g. OP's for OP-jpeg
    pair_recipe: str = ""  # training targets other than f(I) (data.pairs.PAIR_RECIPES)
    # a conditioned model (net.cond): the setting values it trains on (default: 5 across the range)
    param_values: list[float] = field(default_factory=list)
    # a user's edit learned from examples: [BEFORE, AFTER] folders (op is then the model's name)
    pairs: list[str] | None = None
    # minutes to fit a learned estimate (net.estimate) before training, when it is not carried
    # on already fitted (training/estimate_fit.py)
    estimate_minutes: float = 3.0
    # fit the estimate again although the weights carried on (--init-from) bring a fitted one:
    # after the estimate's fit has changed (bwp-learned v6: tone targets per photo size)
    refit_estimate: bool = False
    # whole pairs at these longer sides too (the first estimate_photos training photos at least
    # that large), for an estimate whose targets depend on the photo's size (the histogram's
    # size anchors): bwp measures its texture at the photo's own scale, and the training
    # photos stop at max_side while validation and users' photos do not
    estimate_sides: list[int] = field(default_factory=list)
    estimate_photos: int = 16
    # Levenberg-Marquardt steps per size anchor on the pixels of the whole pairs, after the
    # fit or on an estimate carried on fitted (HistogramEstimate.refine); 0: none. A resumed
    # run keeps the estimate its checkpoint holds.
    estimate_refine: int = 0
    # ψ reads the target itself as its guide, the estimate left unfitted: the starting weights
    # of train --pairs, which learn to carry any guide through (training/grade_prior.py)
    target_guide: bool = False

    @property
    def reads_target(self) -> bool:
        """Whether ψ's guide in training is the target (a guided model, or target_guide)."""
        return self.net.guided or self.target_guide

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["loss"] = LossWeights(**d.get("loss", {}))
        d["net"] = NetConfig(**d.get("net", {}))
        augment = d.get("augment") or {}
        d["augment"] = augment if isinstance(augment, Augment) else Augment(**augment)
        for key in ("jpeg_qualities", "jpeg_subsampling", "share_scales"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        """A one-line error for a budget or size that cannot train (``--minutes -5`` once trained
        nothing and still wrote a model)."""
        for key, low in (("steps", 1), ("batch", 1), ("crop", 8), ("threads", 1)):
            value = getattr(self, key)
            if value is not None and value < low:
                raise RestorableError(f"{key} {value}: give at least {low}")
        if self.minutes is not None and self.minutes <= 0:
            raise RestorableError(f"minutes {self.minutes:g}: give a budget above 0")
        if not self.lr > 0:
            raise RestorableError(f"lr {self.lr:g}: give a learning rate above 0")
        if self.grad_clip_rel < 0:
            raise RestorableError(f"grad_clip_rel {self.grad_clip_rel:g}: give 0 (off) or more")
        if self.net.refine < 0:
            raise RestorableError(f"refine {self.net.refine}: give a width, or 0 for no ρ")
        if not 0 <= self.ema < 1:
            raise RestorableError(f"ema {self.ema:g}: give a decay in [0, 1), 0 for none")
        self.augment.check()
        if self.augment and self.pairs:
            raise RestorableError(
                "augment: a model learned from pairs has no operator to make the targets of "
                "changed photos"
            )


def _to_tensor(batch: np.ndarray, device: str) -> torch.Tensor:
    # channels-last: the layout oneDNN's and cuDNN's convolutions run fastest in (a training
    # step of llf on one CPU thread: 320 -> 265 ms); the values are the same
    t = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div_(255)
    return t.contiguous(memory_format=torch.channels_last)


# Which passes of a training step run under bf16 autocast, (forward, inverse), for precision
# "auto" per device kind. CUDA: the forward only (what the GPU runs were trained with). CPU with
# native bf16 (AVX-512 BF16 / AMX): both. The real loop on llf (batch 8 × 96², one thread of this
# AVX-512 BF16 EPYC, benchmarks/bench_training.py): 288 ms a step in float32, 195 in bf16. A/B
# from the same start (runs-s6, 2026-11-26; validation is float32 either way): rtv carried on
# 600 steps from its shipped weights, 38.58 / 40.06 dB float32 and 38.57 / 40.09 bf16; l0 from
# scratch, 1500 steps, 35.19 / 42.22 and 35.14 / 41.99 (its restore swings ±0.7 dB from one
# check to the next).
TRAIN_AUTOCAST = {"cuda": (True, False), "cpu": (True, True)}

SPIKE = 5.0  # a step's loss this many times the running mean is logged as a spike


class GradClip:
    """Gradient-norm clipping at ``fixed``, and at ``rel`` times the running mean of the norms
    seen so far (after ``settle`` steps; ``rel`` 0: fixed only).

    Why relative: bwp's training was knocked back by single steps (its loss 15-34× the run's
    for thousands of steps after, runs-s10), with gradient norms 3-6× the median; clipping at
    0.3 (about twice its median) stopped it, but other models' median norms run from 0.01 to
    1.3, so no one fixed bound serves a run that trains them all.
    """

    def __init__(self, fixed: float, rel: float = 0.0, settle: int = 50, decay: float = 0.99):
        self.fixed, self.rel, self.settle, self.decay = fixed, rel, settle, decay
        self.mean: float | None = None
        self.seen = 0

    def __call__(self, params) -> float:
        """Clip the gradients of ``params`` in place; returns their norm before clipping."""
        params = [p for p in params if p.grad is not None]
        bound = self.fixed
        if self.rel and self.mean is not None and self.seen >= self.settle:
            bound = min(bound, self.rel * self.mean)
        norm = float(torch.nn.utils.clip_grad_norm_(params, bound))
        if math.isfinite(norm):
            self.seen += 1
            old = norm if self.mean is None else self.mean
            self.mean = self.decay * old + (1 - self.decay) * norm
        return norm

    def state(self) -> dict:
        return {"mean": self.mean, "seen": self.seen}

    def set_state(self, state: dict) -> None:
        self.mean, self.seen = state["mean"], state["seen"]


def precision_label(fwd_bf16: bool, inv_bf16: bool) -> str:
    """What a card records: "fp32", "bf16", or "bf16 forward, fp32 inverse"."""
    name = {True: "bf16", False: "fp32"}
    if fwd_bf16 == inv_bf16:
        return name[fwd_bf16]
    return f"{name[fwd_bf16]} forward, {name[inv_bf16]} inverse"


def autocast_passes(cfg: TrainConfig) -> tuple[bool, bool]:
    """(forward, inverse): whether each pass of a training step computes in bf16."""
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision {cfg.precision!r}: choose auto, fp32 or bf16")
    if cfg.precision != "auto":
        return (cfg.precision == "bf16",) * 2
    from restorable.models import bf16_native

    kind = "cuda" if cfg.device.startswith("cuda") else "cpu"
    return TRAIN_AUTOCAST[kind] if bf16_native(kind) else (False, False)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of 8-bit images held as floats in [0,1] (a batch counts as one image): the
    evaluation's :func:`~restorable.evaluation.metrics.psnr` of their 8-bit values, capped at
    100 dB so that a log line stays JSON when a restoration is exact."""
    from restorable.evaluation.metrics import psnr

    def eight_bit(t: torch.Tensor) -> np.ndarray:
        t = torch.round(t.detach().float().clamp(0, 1) * 255).to(torch.uint8)
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[-1], t.shape[1]).cpu().numpy()

    return min(psnr(eight_bit(a), eight_bit(b)), 100.0)


def setting_values(cfg: TrainConfig) -> list[float]:
    """The values of a conditioned model's setting that training draws from ([] if none)."""
    if not cfg.net.cond:
        return []
    return [float(v) for v in cfg.param_values] or spread(cfg.net.cond)


def val_setting(cfg: TrainConfig) -> float | None:
    """The setting progress figures use: the operator's default (or ``params``), in range."""
    cond = cfg.net.cond
    if not cond:
        return None
    from restorable.operators import get_operator

    value = cfg.params.get(cond["param"], get_operator(cfg.op).defaults.get(cond["param"]))
    if value is None or not cond["low"] <= value <= cond["high"]:
        values = setting_values(cfg)
        value = values[len(values) // 2]
    return float(value)


def _params_per_setting(cfg: TrainConfig, subset: str) -> list[dict]:
    """The operator parameters of each pair set: one, or for a conditioned model one per
    setting value in training and the :func:`val_setting`'s in validation."""
    if not cfg.net.cond:
        return [cfg.params]
    values = setting_values(cfg) if subset == "train" else [val_setting(cfg)]
    return [{**cfg.params, cfg.net.cond["param"]: v} for v in values]


def _shared_inputs(sets: list[list[tuple[np.ndarray, np.ndarray]]]) -> list[tuple]:
    """(I, target of set 0, target of set 1, ...) per photo: the inputs of every set are the
    same, so one is kept."""
    return [(ps[0][0], *(p[1] for p in ps)) for ps in zip(*sets, strict=True)]


def training_pairs(
    cfg: TrainConfig, subset: str, limit: int | None = None, progress: bool = False
) -> list[tuple]:
    """(I, target, ...) uint8 arrays of ``subset`` (train / val; the first ``limit``): a user's
    pairs, the operator's (cached), or for a conditioned model one target per setting value in
    training, (I, f(I; v0), f(I; v1), ...), and the :func:`val_setting`'s in validation. The
    plain photos only: :func:`augmented_pairs` adds training's copies."""
    if cfg.pairs:
        return read_pairs(split_pairs(match_pairs(*cfg.pairs), subset)[:limit], cfg.max_side)
    paths = photo_paths(cfg.photos, subset)[:limit]
    sets = [
        load_pairs(
            compute_pairs(
                cfg.op, paths, params, cfg.max_side, recipe=cfg.pair_recipe, progress=progress
            )
        )
        for params in _params_per_setting(cfg, subset)
    ]
    return _shared_inputs(sets)


def augmented_pairs(cfg: TrainConfig, progress: bool = False) -> tuple[list[tuple], list[int]]:
    """The augmented copies (``cfg.augment``: rescaled, jittered; f computed on each copy) of
    the training photos, as :func:`training_pairs` gives pairs, and for each the index of its
    photo in ``training_pairs(cfg, "train")``. Training only: validation, the progress figures
    and ``eval`` read the plain split, so they stay comparable with unaugmented runs."""
    if not cfg.augment or cfg.pairs:
        return [], []
    paths = photo_paths(cfg.photos, "train")
    sets, photos = [], []
    for params in _params_per_setting(cfg, "train"):
        found = compute_augmented_pairs(
            cfg.op, paths, cfg.augment, params, cfg.max_side, recipe=cfg.pair_recipe,
            progress=progress,
        )  # fmt: skip
        photos = [i for i, _ in found]  # the same copies for every setting
        sets.append(load_pairs([f for _, f in found]))
    return _shared_inputs(sets), photos


def sized_pairs(cfg: TrainConfig, progress: bool = False) -> list[tuple]:
    """(I, f(I)) whole pairs at each of ``cfg.estimate_sides`` (longer side, px) for the
    estimate's fit: up to ``cfg.estimate_photos`` training photos at least that large, each
    downscaled to it, f computed there (cached like the plain pairs). None for a model
    learned from pairs (no operator) or without sides."""
    if not cfg.estimate_sides or cfg.pairs:
        return []
    paths = photo_paths(cfg.photos, "train")
    out = []
    for side in cfg.estimate_sides:
        big = at_least(paths, side)[: cfg.estimate_photos]
        files = compute_pairs(
            cfg.op, big, cfg.params, side, recipe=cfg.pair_recipe, progress=progress
        )
        out += load_pairs(files)
    return out


def _val_crops(cfg: TrainConfig, n: int = 8, size: int = 256):
    """Fixed centre crops of the first ``n`` validation photos (or held-out pairs), for progress
    figures; a conditioned model's at :func:`val_setting`. Also each crop's (thumbnail, box) of
    its whole photo, for a whole-photo ψ."""
    pairs = training_pairs(cfg, "val", limit=n)
    s = min([size] + [min(x.shape[:2]) // 8 * 8 for x, _ in pairs])
    xs, ys, whole = [], [], []
    for x, y in pairs:
        t, l = (x.shape[0] - s) // 2, (x.shape[1] - s) // 2
        xs.append(x[t : t + s, l : l + s])
        ys.append(y[t : t + s, l : l + s])
        whole.append((photo_thumbnail(x), photo_box(t, l, *x.shape[:2])))
    return np.stack(xs), np.stack(ys), whole


def _pairs_record(cfg: TrainConfig) -> dict:
    """Where a pairs model's examples are, and which pairs it never trained on (eval uses them)."""
    matched = match_pairs(*cfg.pairs)
    return {
        "before": str(Path(cfg.pairs[0]).resolve()),
        "after": str(Path(cfg.pairs[1]).resolve()),
        "count": len(matched),
        "held_out": [b.stem for b, _ in split_pairs(matched, "val")],
    }


@dataclass
class Batch:
    """One step's crops as the network takes them: inputs ``x``, targets ``y`` (NCHW floats in
    [0, 1]) and ``extra``, keyword inputs per crop that the network's forward reads besides the
    photo (a conditioned model's ``cond``; a data source may add others)."""

    x: torch.Tensor
    y: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    # what ψ reads as its guide when that is not the target: a learned estimate's crops
    estimate: torch.Tensor | None = None

    def guide(self, guided: bool) -> torch.Tensor | None:
        """ψ's guide: the learned estimate's crops; else, for a guided model, the target f(I)
        (the operator's output, which apply computes); else none."""
        return self.estimate if self.estimate is not None else (self.y if guided else None)


class CropSource:
    """Where training and validation batches come from: random aligned crops of the pairs
    (:class:`PairCrops`) and, for a conditioned model, each crop's setting.

    The :class:`Trainer` asks only for :meth:`batch`, :meth:`validation`, :meth:`state` and
    :meth:`set_state`, so a source that yields further per-crop inputs (e.g. a thumbnail of the
    whole photo for ψ) is a subclass that adds them to ``Batch.extra``.
    """

    def __init__(self, cfg: TrainConfig, device: str, rank: int = 0, progress: bool = False):
        self.cfg, self.device = cfg, device
        plain = training_pairs(cfg, "train", progress=progress)
        copies, of_photo = augmented_pairs(cfg, progress)
        # each copy is drawn within its photo's share (PairCrops: per photo, then by area)
        photos = list(range(len(plain))) + of_photo if copies else None
        self.crops = PairCrops(plain + copies, cfg.crop, seed=cfg.seed + 1000 * rank, photos=photos)
        self.settings = torch.tensor([normalise(cfg.net.cond, v) for v in setting_values(cfg)])
        # a whole-photo ψ reads each crop's photo as a thumbnail: one per photo, made once
        self.thumbs = [photo_thumbnail(p[0]) for p in self.crops.pairs] if cfg.net.whole else None
        self.estimator = None  # a learned estimate of f (use_estimator), whose crops ψ reads
        self.estimates: list[np.ndarray] = []

    def use_estimator(self, estimator, progress: bool = False) -> None:
        """Cache the (fitted, frozen) estimator's output on every whole training photo, uint8
        as apply hands it to ψ; each batch then carries its crops, turned as the crops are."""
        self.estimator = estimator
        self.estimates = [
            estimator.photo(p[0])
            for p in tqdm(self.crops.pairs, desc="estimates", disable=not progress, leave=False)
        ]

    def batch(self, size: int) -> Batch:
        xb, yb, kb, where = self.crops.placed_batch(size)
        x, y = _to_tensor(xb, self.device), _to_tensor(yb, self.device)
        estimate = None
        if self.estimates:
            c, crops = self.crops.crop, []
            for i, top, left, k, flip in where:
                e = np.rot90(self.estimates[i][top : top + c, left : left + c], k)
                crops.append(e[:, ::-1] if flip else e)
            estimate = _to_tensor(np.stack(crops), self.device)
        # a conditioned model reads each crop's setting (normalised); others take no extra input
        cond = self.cfg.net.cond
        extra = {"cond": self.settings[torch.from_numpy(kb)].to(self.device)} if cond else {}
        if self.thumbs is not None:  # a whole-photo ψ: each crop's photo, turned as the crop is
            thumbs, boxes = [], []
            for i, top, left, k, flip in where:
                h, w = self.crops.pairs[i][0].shape[:2]
                t, box = oriented(self.thumbs[i], (top, left, h, w), self.crops.crop, k, flip)
                thumbs.append(t)
                boxes.append(box)
            extra["thumb"] = torch.cat(thumbs).to(self.device)
            extra["box"] = torch.tensor(boxes, dtype=torch.float32, device=self.device)
        return Batch(x, y, extra, estimate)

    def validation(self) -> Batch:
        """The fixed progress crops (:func:`_val_crops`), at :func:`val_setting` if conditioned,
        with their photos' thumbnails for a whole-photo ψ."""
        vx, vy, whole = _val_crops(self.cfg)
        estimate = None
        if self.estimator is not None:  # the estimate of each whole photo, cropped alike
            s = vx.shape[1]
            crops = []
            for x, _ in training_pairs(self.cfg, "val", limit=len(vx)):
                t, left = (x.shape[0] - s) // 2, (x.shape[1] - s) // 2
                crops.append(self.estimator.photo(x)[t : t + s, left : left + s])
            estimate = _to_tensor(np.stack(crops), self.device)
        vx, vy = _to_tensor(vx, self.device), _to_tensor(vy, self.device)
        setting = val_setting(self.cfg)
        extra = {} if setting is None else {"cond": normalise(self.cfg.net.cond, setting)}
        if self.thumbs is not None:
            extra["thumb"] = torch.cat([t for t, _ in whole]).to(self.device)
            extra["box"] = torch.cat([b for _, b in whole]).to(self.device)
        return Batch(vx, vy, extra, estimate)

    def state(self) -> dict:
        return self.crops.state()

    def set_state(self, state: dict) -> None:
        self.crops.set_state(state)


@torch.no_grad()
def validate(net, cfg: TrainConfig, val: Batch) -> dict[str, float]:
    """Approximation and restoration PSNR of ``net`` on the validation batch, restored from the
    8-bit output with Δ = 0 as ``restore`` runs."""
    net.eval()
    out, _ = net(val.x, val.guide(cfg.reads_target), **val.extra)
    stored = quantize(out)
    restored = net.inverse(stored)
    net.train()
    return {"val_approx_psnr": _psnr(stored, val.y), "val_restore_psnr": _psnr(restored, val.x)}


def net_estimator(net):
    """The learned estimate of f a network runs on the whole photo (None for most)."""
    return getattr(net, "estimator", None)


def _setup_device(cfg: TrainConfig) -> tuple[str, int, bool]:
    """(device, rank, distributed): joins the process group under ``torchrun``, sets threads,
    TF32 and the seed."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        dist.init_process_group("nccl" if cfg.device == "cuda" else "gloo")
        rank = dist.get_rank()
        if cfg.device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    device = f"cuda:{torch.cuda.current_device()}" if cfg.device == "cuda" else "cpu"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(cfg.seed)
    return device, rank, distributed


class Trainer(Loop):
    """One model's training in parts: :meth:`step` (one optimisation step), :meth:`validate`,
    :meth:`checkpoint` (everything a run needs to carry on, written atomically), :meth:`resume`
    (read it back) and :meth:`write_model` (the weights and card, by ``models.save_model``);
    :meth:`run` runs them in the loop all trainers share (``loop.Loop``). :func:`train` is
    ``Trainer(cfg).run()``.

    Deterministic: the seed fixes the weights, the crops (``source``), the JPEG draws (``rng``)
    and torch's generator; the checkpoint holds the state of each, so a resumed run takes the
    very steps a straight one takes.
    """

    def __init__(self, cfg: TrainConfig, progress: bool = True, source=None, resume=False):
        cfg.check()
        if cfg.pairs and cfg.net.guided:
            raise RestorableError(
                "a model learned from pairs has no operator to guide it: guided=False"
            )
        self.cfg, self.progress = cfg, progress
        self.device, self.rank, self.distributed = _setup_device(cfg)
        self.lead, self.ckpt_seconds = self.rank == 0, cfg.ckpt_minutes * 60
        self.run_dir = Path(cfg.run_dir.format(op=cfg.op))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.source = source or CropSource(cfg, self.device, self.rank, progress)

        net = build_net(cfg.net)  # ours, or a baseline (NetConfig.arch)
        self.prior = prior_training(cfg.init_from, cfg.name or cfg.op)  # carrying this model on?
        if cfg.init_from:
            from safetensors.torch import load_file

            grown, dropped = load_weights(net, load_file(cfg.init_from))
            if (grown or dropped) and self.rank == 0:
                what = "grows ρ (as the identity)" if grown else "drops ρ (this model has none)"
                print(f"starting from {Path(cfg.init_from).name}: {what}")
        self.resumed_fit: dict | None = None  # the fit a resumed run's checkpoint recorded
        self.estimate_from_checkpoint = False  # so resume() need not cache the estimates again
        if resume and net_estimator(net) is not None:
            self._checkpoint_estimate(net)
        self.estimate_fit = self._fit_estimate(net) if net_estimator(net) is not None else None
        self.val = self.source.validation()
        self.net = net.to(self.device, memory_format=torch.channels_last)
        self.fwd_bf16, self.inv_bf16 = autocast_passes(cfg)
        self.kind = "cuda" if self.device.startswith("cuda") else "cpu"
        ddp = torch.nn.parallel.DistributedDataParallel
        self.model = ddp(self.net) if self.distributed else self.net
        # the averaged weights (torch's own EMA; the inverse of an average is exact as of any)
        self.ema = (
            AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
            if cfg.ema
            else None
        )
        self.kept = self.net if self.ema is None else self.ema.module  # validated and saved
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=1e-5)
        self.disc = self.disc_opt = None
        if cfg.loss.adversarial > 0:  # Type III: a patch discriminator on f̂(I) vs f(I)
            from restorable.training.adversarial import PatchDiscriminator

            self.disc = PatchDiscriminator().to(self.device)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.clip = GradClip(cfg.grad_clip, cfg.grad_clip_rel)
        self.step_no, self.previous_s = 0, 0.0
        self.started = time.time()
        self.rng = np.random.default_rng(cfg.seed + 7)  # the JPEG qualities and chroma
        self.loss_avg: float | None = None  # running mean of the loss, to log sudden spikes
        self.spikes: list[list] = []  # [step, loss / running mean, gradient norm] since the log

    def _checkpoint_estimate(self, net) -> None:
        """A resumed run's estimate as its checkpoint holds it (fitted), so that it is not
        fitted again (minutes) before :meth:`resume` reads the rest."""
        if not self.ckpt_path.exists():
            return
        state = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        prefix = "estimator."
        est = {k[len(prefix) :]: v for k, v in state["net"].items() if k.startswith(prefix)}
        net_estimator(net).load_state_dict(est)
        self.resumed_fit = state.get("estimate_fit")
        self.estimate_from_checkpoint = True
        self.checkpoint_read = state  # resume() reads the rest of it, not the file again

    def _fit_estimate(self, net) -> dict | None:
        """Fit the learned estimate first unless it came fitted (carried on), refine it
        (``estimate_refine``), freeze it, and hand it to the crops' source; returns what the
        fit and the refinement did (None if it came fitted and was not refined)."""
        from restorable.training.estimate_fit import fit_estimate

        est = net_estimator(net)
        record = self.resumed_fit
        refit = self.cfg.refit_estimate and not self.estimate_from_checkpoint
        if self.cfg.target_guide:  # ψ reads the targets: the estimate stays as it is, unused
            for p in est.parameters():
                p.requires_grad_(False)
            return None
        refine = self.cfg.estimate_refine > 0 and not self.estimate_from_checkpoint
        refine = refine and hasattr(est, "refine")
        whole = None
        if ((refit or not est.fitted()) and hasattr(est, "fit")) or refine:
            whole = self.source.crops.pairs + sized_pairs(self.cfg, self.progress and self.lead)
        if refit or not est.fitted():
            if hasattr(est, "fit"):  # fitted on the whole pairs by its own means
                record = est.fit(
                    whole, progress=self.progress and self.lead, minutes=self.cfg.estimate_minutes
                )
            else:
                record = fit_estimate(
                    est,
                    self.source.crops.pairs,
                    self.cfg.estimate_minutes,
                    seed=self.cfg.seed,
                    progress=self.progress and self.lead,
                )
            if self.lead:
                print(f"estimate fitted: {record}")
        if refine:
            done = est.refine(whole, self.cfg.estimate_refine, progress=self.progress and self.lead)
            record = {**(record or {}), "refined": done}
            if self.lead:
                print(f"estimate refined: {done}")
        for p in est.parameters():
            p.requires_grad_(False)
        est.eval()
        if hasattr(self.source, "use_estimator"):
            self.source.use_estimator(est, self.progress and self.lead)
        return record

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def trained_s(self) -> float:
        """Seconds trained, over every run this one carries on."""
        return self.previous_s + time.time() - self.started

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine to 2 % of the rate over the steps or, with a budget in
        minutes, over the time (whichever is further along)."""
        cfg = self.cfg
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        if cfg.minutes:
            p = max(p, self.trained_s() / (cfg.minutes * 60))
        return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    def resume(self) -> bool:
        """Carry on from the run folder's checkpoint, if there is one (False: none)."""
        state = self.read_checkpoint()
        if state is None:
            return False
        if self.disc is not None and "disc" in state:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_opt"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        if "clip" in state:
            self.clip.set_state(state["clip"])
        self.source.set_state(state["crops_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step_no = state["step"]
        self.previous_s = state.get("trained_s", 0.0)
        self.started = time.time()
        # the record this run started on top of, as it was then (the card beside init_from
        # may since have been overwritten by this very run's finished weights)
        self.prior = state.get("prior", self.prior)
        self.rng = np.random.default_rng(self.cfg.seed + 7 + self.step_no)
        est = net_estimator(self.net)
        if est is not None and not self.estimate_from_checkpoint:  # the checkpoint's estimate
            # (fitted), not the one fitted at start: a Trainer built without resume=True
            self.source.use_estimator(est, self.progress and self.lead)
            self.val = self.source.validation()
        return True

    def checkpoint(self) -> Path:
        """Write everything :meth:`resume` reads (temp file + rename); returns its path."""
        optional = {}
        if self.disc is not None:
            optional.update(disc=self.disc.state_dict(), disc_opt=self.disc_opt.state_dict())
        if self.ema is not None:
            optional["ema"] = self.ema.state_dict()
        state = {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            **optional,
            "clip": self.clip.state(),
            "crops_rng": self.source.state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step_no,
            "trained_s": self.trained_s(),
            "prior": self.prior,
            "estimate_fit": self.estimate_fit,
        }
        return atomic_save(state, self.ckpt_path)

    def validate(self) -> dict[str, float]:
        """Progress figures of the kept weights (the average with ``ema``) on fixed crops."""
        return validate(self.kept, self.cfg, self.val)

    def training_record(self, final: bool) -> dict:
        """The card's ``training``: the recipe, where the data came from, steps and minutes
        (added to the record of the weights it carried on, ``history.carry_on``)."""
        cfg = self.cfg
        record = {
            "steps": self.step_no,
            "batch": cfg.batch,
            "crop": cfg.crop,
            "jpeg": cfg.jpeg,
            **({"share": True, "share_scales": list(cfg.share_scales)} if cfg.share else {}),
            "loss": asdict(cfg.loss),
            **({"ema": cfg.ema} if self.ema is not None else {}),
            "device": self.device,
            "precision": precision_label(self.fwd_bf16, self.inv_bf16),
            "photos": cfg.photos
            or ("BEFORE/AFTER pairs" if cfg.pairs else "shared/photos (split.json train)"),
            "init_from": Path(cfg.init_from).stem if cfg.init_from else None,
            "pair_recipe": cfg.pair_recipe or None,
            **({"augment": asdict(cfg.augment)} if cfg.augment else {}),
            **({"param_values": setting_values(cfg)} if cfg.net.cond else {}),
            **({"pairs": _pairs_record(cfg)} if cfg.pairs else {}),
            **({"estimate_fit": self.estimate_fit} if self.estimate_fit else {}),
            "final": final,
            "trained_minutes": round(self.trained_s() / 60, 1),
        }
        return carry_on(record, self.prior)

    def write_model(self, final: bool = False) -> Path:
        """The kept weights and their card into the run folder (``models.save_model``)."""
        cfg = self.cfg
        card = ModelCard(
            op=cfg.op,
            version=cfg.version.format(op=cfg.op),
            net=cfg.net.to_dict(),
            params=cfg.params,
            training=self.training_record(final),
            metrics=self.validate(),
            name=cfg.name,
        )
        return save_model(self.kept, card, self.run_dir)

    def save(self, final: bool = False) -> None:
        """Checkpoint, then the model as it stands (what a run leaves every few minutes)."""
        self.checkpoint()
        self.write_model(final)

    def step(self) -> dict:
        """One optimisation step on a fresh batch; returns the log record's figures."""
        cfg, kind, step = self.cfg, self.kind, self.step_no
        lr = self.lr_at(step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        b = self.source.batch(cfg.batch)
        with torch.autocast(kind, torch.bfloat16, enabled=self.fwd_bf16):
            out, delta = self.model(b.x, b.guide(cfg.reads_target), **b.extra)
        out, delta = out.float(), delta.float()
        original = b.x
        if cfg.share and step % 2 == 1:  # a share (resize, then real JPEG) every other batch
            draw = draw_share(
                self.rng,
                len(b.x),
                *out.shape[-2:],
                cfg.jpeg_qualities,
                cfg.jpeg_subsampling,
                cfg.share_scales,
            )
            stored, original = share(out, draw), received_original(b.x, draw)
        elif cfg.jpeg and step % 2 == 1:  # real JPEG on every other batch
            q = self.rng.integers(cfg.jpeg_qualities[0], cfg.jpeg_qualities[1] + 1, size=len(b.x))
            sub = self.rng.choice(cfg.jpeg_subsampling, size=len(b.x))
            stored = jpeg(out, q, sub)
        else:
            stored = quantize(out)
        restored = None
        if cfg.loss.restore > 0:
            padded, (h, w) = pad_for_inverse(stored, 2)
            with torch.autocast(kind, torch.bfloat16, enabled=self.inv_bf16):
                restored = self.net.inverse(padded).float()[..., :h, :w]
        loss, parts = total_loss(out, b.y, restored, original, delta, cfg.loss)
        if cfg.loss.estimate > 0 and cfg.net.whole in ESTIMATING:
            estimate = self.net.last_estimate  # the grid's estimate of f(I) in this forward
            parts["estimate"] = torch.mean((estimate.float() - b.y) ** 2)
            loss = loss + cfg.loss.estimate * parts["estimate"]
            parts["estimate"] = float(parts["estimate"].detach())
        if self.disc is not None:
            loss = loss + self._adversarial(b.y, out, parts)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = self.clip(self.net.parameters())
        if not math.isfinite(gnorm):
            raise RuntimeError(f"non-finite gradient at step {step}; lower --lr and --resume")
        self.opt.step()
        value = float(loss.detach())
        if self.loss_avg is not None and value > SPIKE * self.loss_avg:
            # a step whose loss jumps far above the run's: a knock that can take thousands of
            # steps to recover from (bwp, runs-s10); the next log line lists each one
            self.spikes.append([step + 1, round(value / self.loss_avg, 1), round(gnorm, 3)])
        self.loss_avg = value if self.loss_avg is None else 0.98 * self.loss_avg + 0.02 * value
        if self.ema is not None:
            self.ema.update_parameters(self.net)
        self.step_no += 1
        return {"loss": value, "gnorm": gnorm, **parts}

    def _adversarial(self, target: torch.Tensor, out: torch.Tensor, parts: dict):
        """Train the discriminator a step; the generator's weighted term (Type III)."""
        from restorable.training.adversarial import discriminator_loss, generator_loss

        d_loss = discriminator_loss(self.disc, target, out)
        self.disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.disc_opt.step()
        g_loss = generator_loss(self.disc, out)
        parts.update(adversarial=float(g_loss.detach()), disc=float(d_loss.detach()))
        return self.cfg.loss.adversarial * g_loss

    def finished(self) -> bool:
        cfg = self.cfg
        return self.step_no >= cfg.steps or bool(
            cfg.minutes and self.trained_s() > cfg.minutes * 60
        )

    def log_record(self, figures: dict) -> dict | None:
        """The log line after this step (every 50th and the last; with validation figures every
        ``val_every``), or None."""
        cfg, step = self.cfg, self.step_no
        if not (step % 50 == 0 or step == cfg.steps):
            return None
        rec = {"step": step, "loss": figures["loss"], "gnorm": figures["gnorm"]}
        rec.update(lr=self.lr_at(step), **figures, elapsed_s=0.0)
        rec["elapsed_s"] = round(self.trained_s(), 1)
        if self.spikes:
            rec["spikes"], self.spikes = self.spikes, []
        if step % cfg.val_every == 0 or step == cfg.steps:
            rec.update(self.validate())
        return rec

    def after_step(self, figures: dict) -> None:
        """Advance the bar; write the log line, if this step has one."""
        self.bar.update(1)
        rec = self.log_record(figures) if self.lead else None
        if rec is None:
            return
        if "val_approx_psnr" in rec:
            approx, restore = rec["val_approx_psnr"], rec["val_restore_psnr"]
            self.bar.set_postfix(approx=f"{approx:.2f}", restore=f"{restore:.2f}")
        self.log.write(json.dumps(rec) + "\n")
        self.log.flush()

    def run(self, resume: bool = False) -> Path:
        """The loop (``loop.Loop``): steps, a log line every 50, a checkpoint and the model every
        ``ckpt_minutes`` and at the end; returns the run folder."""
        cfg = self.cfg
        if resume:
            self.resume()
        (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
        self.started = time.time()
        off = not self.progress or not self.lead
        self.bar = tqdm(total=cfg.steps, initial=self.step_no, disable=off, desc=cfg.op)
        self.net.train()
        try:
            with open(self.run_dir / "log.jsonl", "a") as self.log:
                self.loop()
        finally:
            self.bar.close()
            if self.distributed:
                dist.destroy_process_group()
        return self.run_dir


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train, checkpointing to ``run_dir``; returns the folder holding the final model."""
    return Trainer(cfg, progress, resume=resume).run(resume)
