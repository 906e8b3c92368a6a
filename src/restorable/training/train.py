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

from restorable.data.pairs import (
    PairCrops,
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
from restorable.network.storage import jpeg, quantize
from restorable.training.history import carry_on, prior_training
from restorable.training.losses import LossWeights, total_loss


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
    loss: LossWeights = field(default_factory=LossWeights)
    net: NetConfig = field(default_factory=NetConfig)
    jpeg: bool = False  # compression-aware training (JPEG on half of the batches)
    jpeg_qualities: tuple[int, int] = (60, 95)
    # chroma subsampling drawn per image (Pillow: 0 = 4:4:4, 2 = 4:2:0): files get re-encoded
    # by phones and websites at 4:2:0, so the JPEG-aware models train on both
    jpeg_subsampling: tuple[int, ...] = (0, 2)
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

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["loss"] = LossWeights(**d.get("loss", {}))
        d["net"] = NetConfig(**d.get("net", {}))
        for key in ("jpeg_qualities", "jpeg_subsampling"):
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
    """PSNR of 8-bit images held as floats in [0,1]."""
    mse = torch.mean((torch.round(a.clamp(0, 1) * 255) - torch.round(b.clamp(0, 1) * 255)) ** 2)
    return float(10 * torch.log10(255**2 / mse.clamp_min(1e-10)))


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


def training_pairs(
    cfg: TrainConfig, subset: str, limit: int | None = None, progress: bool = False
) -> list[tuple]:
    """(I, target, ...) uint8 arrays of ``subset`` (train / val; the first ``limit``): a user's
    pairs, the operator's (cached), or for a conditioned model one target per setting value in
    training, (I, f(I; v0), f(I; v1), ...), and the :func:`val_setting`'s in validation."""
    if cfg.pairs:
        return read_pairs(split_pairs(match_pairs(*cfg.pairs), subset)[:limit], cfg.max_side)
    paths = photo_paths(cfg.photos, subset)[:limit]
    values = setting_values(cfg) if subset == "train" else [val_setting(cfg)]
    if not cfg.net.cond:
        values = [None]
    sets = []
    for v in values:
        params = cfg.params if v is None else {**cfg.params, cfg.net.cond["param"]: v}
        files = compute_pairs(
            cfg.op, paths, params, cfg.max_side, recipe=cfg.pair_recipe, progress=progress
        )
        sets.append(load_pairs(files))
    # one input per photo, shared by its targets (the inputs of every set are the same)
    return [(ps[0][0], *(p[1] for p in ps)) for ps in zip(*sets, strict=True)]


def _val_crops(cfg: TrainConfig, n: int = 8, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Fixed centre crops of the first ``n`` validation photos (or held-out pairs), for progress
    figures; a conditioned model's at :func:`val_setting`."""
    pairs = training_pairs(cfg, "val", limit=n)
    s = min([size] + [min(x.shape[:2]) // 8 * 8 for x, _ in pairs])
    xs, ys = [], []
    for x, y in pairs:
        t, l = (x.shape[0] - s) // 2, (x.shape[1] - s) // 2
        xs.append(x[t : t + s, l : l + s])
        ys.append(y[t : t + s, l : l + s])
    return np.stack(xs), np.stack(ys)


@torch.no_grad()
def validate(net, cfg: TrainConfig, vx: torch.Tensor, vy: torch.Tensor) -> dict[str, float]:
    net.eval()
    guide = vy if cfg.net.guided else None
    setting = val_setting(cfg)
    extra = {} if setting is None else {"cond": normalise(cfg.net.cond, setting)}
    out, _ = net(vx, guide, **extra)
    stored = quantize(out)
    restored = net.inverse(stored)
    net.train()
    return {"val_approx_psnr": _psnr(stored, vy), "val_restore_psnr": _psnr(restored, vx)}


def _pairs_record(cfg: TrainConfig) -> dict:
    """Where a pairs model's examples are, and which pairs it never trained on (eval uses them)."""
    matched = match_pairs(*cfg.pairs)
    return {
        "before": str(Path(cfg.pairs[0]).resolve()),
        "after": str(Path(cfg.pairs[1]).resolve()),
        "count": len(matched),
        "held_out": [b.stem for b, _ in split_pairs(matched, "val")],
    }


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train, checkpointing to ``run_dir``; returns the folder holding the final model."""
    cfg.check()
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
    run = Path(cfg.run_dir.format(op=cfg.op))
    run.mkdir(parents=True, exist_ok=True)
    version = cfg.version.format(op=cfg.op)

    if cfg.pairs and cfg.net.guided:
        raise ValueError("a model learned from pairs has no operator to guide it: guided=False")
    crops = PairCrops(
        training_pairs(cfg, "train", progress=progress), cfg.crop, seed=cfg.seed + 1000 * rank
    )
    settings = torch.tensor([normalise(cfg.net.cond, v) for v in setting_values(cfg)])
    vx, vy = (_to_tensor(a, device) for a in _val_crops(cfg))

    net = build_net(cfg.net)  # ours, or a baseline (NetConfig.arch)
    prior = prior_training(cfg.init_from, cfg.name or cfg.op)  # carrying this model on?
    if cfg.init_from:
        from safetensors.torch import load_file

        grown, dropped = load_weights(net, load_file(cfg.init_from))
        if (grown or dropped) and rank == 0:
            what = "grows ρ (as the identity)" if grown else "drops ρ (this model has none)"
            print(f"starting from {Path(cfg.init_from).name}: {what}")
    net = net.to(device, memory_format=torch.channels_last)
    fwd_bf16, inv_bf16 = autocast_passes(cfg)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    model = torch.nn.parallel.DistributedDataParallel(net) if distributed else net
    # the averaged weights (torch's own EMA; the inverse of an average is exact as of any weights)
    ema = (
        AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
        if cfg.ema
        else None
    )
    kept = net if ema is None else ema.module  # what is validated and saved
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=1e-5)
    disc = disc_opt = None
    if cfg.loss.adversarial > 0:  # Type III: a patch discriminator on f̂(I) vs f(I)
        from restorable.training.adversarial import PatchDiscriminator

        disc = PatchDiscriminator().to(device)
        disc_opt = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))

    def progress_at(step: int) -> float:
        """Fraction of the run done: by steps, or by time when a budget in minutes is set."""
        p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        if cfg.minutes:
            p = max(p, trained_s() / (cfg.minutes * 60))
        return p

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        p = progress_at(step)
        return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    clip = GradClip(cfg.grad_clip, cfg.grad_clip_rel)
    step, best, previous_s = 0, None, 0.0
    ckpt = run / "checkpoint.pt"
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        if disc is not None and "disc" in state:
            disc.load_state_dict(state["disc"])
            disc_opt.load_state_dict(state["disc_opt"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        if "clip" in state:
            clip.set_state(state["clip"])
        crops.set_state(state["crops_rng"])
        torch.set_rng_state(state["torch_rng"])
        step, best = state["step"], state.get("best")
        previous_s = state.get("trained_s", 0.0)
        # the record this run started on top of, as it was then (the card beside init_from
        # may since have been overwritten by this very run's finished weights)
        prior = state.get("prior", prior)
    rng = np.random.default_rng(cfg.seed + 7 + step)
    (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
    log = open(run / "log.jsonl", "a")
    started, last_ckpt = time.time(), time.time()

    def trained_s() -> float:
        return previous_s + time.time() - started

    bar = tqdm(total=cfg.steps, initial=step, disable=not progress or rank != 0, desc=cfg.op)

    def save(final: bool = False) -> None:
        torch.save(
            {
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                **(
                    {"disc": disc.state_dict(), "disc_opt": disc_opt.state_dict()}
                    if disc is not None
                    else {}
                ),
                **({"ema": ema.state_dict()} if ema is not None else {}),
                "clip": clip.state(),
                "crops_rng": crops.state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "best": best,
                "trained_s": trained_s(),
                "prior": prior,
            },
            run / "checkpoint.tmp",
        )
        (run / "checkpoint.tmp").replace(ckpt)
        metrics = validate(kept, cfg, vx, vy)
        card = ModelCard(
            op=cfg.op,
            version=version,
            net=cfg.net.to_dict(),
            params=cfg.params,
            training=carry_on(
                {
                    "steps": step,
                    "batch": cfg.batch,
                    "crop": cfg.crop,
                    "jpeg": cfg.jpeg,
                    "loss": asdict(cfg.loss),
                    **({"ema": cfg.ema} if ema is not None else {}),
                    "device": device,
                    "precision": precision_label(fwd_bf16, inv_bf16),
                    "photos": cfg.photos
                    or ("BEFORE/AFTER pairs" if cfg.pairs else "shared/photos (split.json train)"),
                    "init_from": Path(cfg.init_from).stem if cfg.init_from else None,
                    "pair_recipe": cfg.pair_recipe or None,
                    **({"param_values": setting_values(cfg)} if cfg.net.cond else {}),
                    **({"pairs": _pairs_record(cfg)} if cfg.pairs else {}),
                    "final": final,
                    "trained_minutes": round(trained_s() / 60, 1),
                },
                prior,
            ),
            metrics=metrics,
            name=cfg.name,
        )
        save_model(kept, card, run)

    net.train()
    loss_avg = None  # running mean of the loss, to log sudden spikes between the log lines
    spikes: list[list] = []  # [step, loss / running mean, gradient norm] since the last line
    while step < cfg.steps and not (cfg.minutes and trained_s() > cfg.minutes * 60):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        xb, yb, kb = crops.setting_batch(cfg.batch)
        x, y = _to_tensor(xb, device), _to_tensor(yb, device)
        # a conditioned model reads each crop's setting (normalised); others take no extra input
        extra = {"cond": settings[torch.from_numpy(kb)].to(device)} if cfg.net.cond else {}
        with torch.autocast(kind, torch.bfloat16, enabled=fwd_bf16):
            out, delta = model(x, y if cfg.net.guided else None, **extra)
        out, delta = out.float(), delta.float()
        use_jpeg = cfg.jpeg and step % 2 == 1
        if use_jpeg:
            q = rng.integers(cfg.jpeg_qualities[0], cfg.jpeg_qualities[1] + 1, size=len(x))
            sub = rng.choice(cfg.jpeg_subsampling, size=len(x))
            stored = jpeg(out, q, sub)
        else:
            stored = quantize(out)
        restored = None
        if cfg.loss.restore > 0:
            with torch.autocast(kind, torch.bfloat16, enabled=inv_bf16):
                restored = net.inverse(stored).float()
        loss, parts = total_loss(out, y, restored, x, delta, cfg.loss)
        if disc is not None:
            from restorable.training.adversarial import discriminator_loss, generator_loss

            d_loss = discriminator_loss(disc, y, out)
            disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            disc_opt.step()
            g_loss = generator_loss(disc, out)
            loss = loss + cfg.loss.adversarial * g_loss
            parts.update(adversarial=float(g_loss.detach()), disc=float(d_loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = clip(net.parameters())
        if not math.isfinite(gnorm):
            raise RuntimeError(f"non-finite gradient at step {step}; lower --lr and --resume")
        opt.step()
        value = float(loss.detach())
        if loss_avg is not None and value > SPIKE * loss_avg:
            # a step whose loss jumps far above the run's: a knock that can take thousands of
            # steps to recover from (bwp, runs-s10); the next log line lists each one
            spikes.append([step + 1, round(value / loss_avg, 1), round(gnorm, 3)])
        loss_avg = value if loss_avg is None else 0.98 * loss_avg + 0.02 * value
        if ema is not None:
            ema.update_parameters(net)
        step += 1
        bar.update(1)
        if rank == 0 and (step % 50 == 0 or step == cfg.steps):
            rec = {
                "step": step,
                "loss": float(loss.detach()),
                "gnorm": gnorm,
                "lr": lr_at(step),
                **parts,
            }
            rec["elapsed_s"] = round(trained_s(), 1)
            if spikes:
                rec["spikes"], spikes = spikes, []
            if step % cfg.val_every == 0 or step == cfg.steps:
                rec.update(validate(kept, cfg, vx, vy))
                bar.set_postfix(
                    approx=f"{rec['val_approx_psnr']:.2f}", restore=f"{rec['val_restore_psnr']:.2f}"
                )
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if rank == 0 and time.time() - last_ckpt > cfg.ckpt_minutes * 60:
            save()
            last_ckpt = time.time()
    if rank == 0:
        save(final=True)
    bar.close()
    if distributed:
        dist.destroy_process_group()
    return run
