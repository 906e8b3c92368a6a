"""Train every model at once: ``restorable train --all``.

    photos ─► pairs for every operator (all cores, cached) ─► job queue
        OP (guided, PNG)  ─────────► OP-jpeg (forked from OP, real JPEG on every other batch)
        OP-learned (the paper's unguided design)
        OP-cond (l0, llf, exposure: one model for a range of the main setting, Table 3)
        OP-ied, OP-stega (the paper's baselines)   OP-ablation-* (Table 4, changes to OP-learned)
    ─► N worker processes (one model each; several share one GPU) ─► OUT/weights (fp16)
                                                                  ─► OUT/results/NAME.json (eval)

Every job's config is its recipe (``recipes.recipe``: the device's preset, the --config file
and tuning flags, the variant's changes), the one ``train --op OP --variants V`` builds.

Small models leave a GPU mostly idle, so the jobs run side by side in separate processes (one
CUDA context each, one CPU thread each for crops and JPEG). ``--minutes`` is the wall-clock
budget of the whole run: pairs are computed first, the rest is split between the jobs by how many
rounds of workers they need (a JPEG fork gets half a fresh model's time), and what is left
evaluates. Everything lands in one folder and a rerun with ``resume`` carries on where it stopped:
finished jobs are skipped, unfinished ones continue from their checkpoints.

OUT/
  runs/NAME/      checkpoint, log.jsonl, config.json (training)
  weights/NAME.*  the model as it ships (fp16 safetensors + JSON card)
  results/NAME.json   ``restorable eval`` figures of the shipped weights
  summary.json    one line per model: steps, minutes, device, figures, or the error
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import shutil
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path

from tqdm import tqdm

from restorable.errors import RestorableError
from restorable.training.recipes import check_variant, recipe


@dataclass
class Job:
    """One model to train: its name, operator, variant and training config (a TrainConfig dict)."""

    name: str
    op: str
    variant: str
    config: dict
    after: str | None = None  # a job whose final weights this one starts from
    weight: float = 1.0  # share of a round's time (a fork needs less)
    minutes: float | None = None  # training budget, set by the scheduler


@dataclass
class Plan:
    jobs: list[Job]
    out: Path
    device: str
    eval_photos: int | None
    eval_jpeg: list[int] = field(default_factory=lambda: [90, 80, 70])
    init_dir: Path | None = None  # NAME.safetensors here seeds a model (an earlier run's weights)


def plan_jobs(
    ops: list[str],
    variants: list[str],
    out: Path,
    device: str = "cpu",
    base: dict | None = None,
    photos: str | None = None,
) -> list[Job]:
    """The jobs for ``ops`` × ``variants``, forks after their parents, in run order."""
    from restorable.operators import get_operator

    per_variant = parse_variants(variants, ops)
    for op in {o for vops in per_variant.values() for o in vops}:
        get_operator(op)  # one-line error for an unknown id
    jobs: list[Job] = []
    from restorable.network.conditioning import RANGES

    for variant, variant_ops in per_variant.items():  # all fresh models first, then the forks
        for op in variant_ops:
            if variant == "cond" and op not in RANGES:
                continue  # no range to serve
            cfg = recipe(op, variant, device, base)
            name = cfg["name"]
            cfg.update(device=device, threads=1, photos=photos, run_dir=str(out / "runs" / name))
            job = Job(name, op, variant, cfg)
            if variant in ("jpeg", "share"):
                job.weight = 0.5
                # OP-jpeg forks OP; OP-share forks OP-jpeg
                parent, of = (op, "png") if variant == "jpeg" else (f"{op}-jpeg", "jpeg")
                if op in per_variant.get(of, []):
                    job.after = parent
                    # with its warm-up kept: Adam's first full-rate step knocks a trained
                    # model far back (configs/README.md, carry-on.json)
                    cfg["lr"] = cfg.get("lr", 1e-3) * 0.5
            jobs.append(job)
    return jobs


def parse_variants(variants: list[str], ops: list[str]) -> dict[str, list[str]]:
    """``["png", "ied:l0+llf"]`` -> ``{"png": ops, "ied": ["l0", "llf"]}``: a variant trains
    ``ops`` unless it names its own after a colon (baselines and ablations on a few operators
    in the same run as every operator's learned model). Run order: as given."""
    out: dict[str, list[str]] = {}
    for entry in variants:
        name, _, own = entry.partition(":")
        check_variant(name)
        chosen = [o for o in own.split("+") if o] if own else list(ops)
        out.setdefault(name, [])
        out[name] += [o for o in chosen if o not in out[name]]
    return out


def adopt_architectures(jobs: list[Job], init_dir: Path) -> None:
    """Carrying on from earlier weights keeps the recipe they were trained with: a job whose
    NAME.json card is in ``init_dir`` takes its ``net`` (e.g. the shipped ``l0-learned`` has the
    wide ψ, which the plain "learned" recipe does not) and its loss weights (``rtv`` was carried
    on at λa = 3, ``bwp`` at 4: a generic recipe would pull them back). One thing is grown
    rather than kept: a learned model trained before ψ read the whole photo gets the recipe's
    whole-photo path (``network/whole_photo.py``), which starts as the identity."""
    from restorable.training.losses import LossWeights

    loss_keys = {f.name for f in fields(LossWeights)}  # older cards may carry retired terms
    for j in jobs:
        card = init_dir / f"{j.name}.json"
        if card.exists():
            earlier = json.loads(card.read_text())
            whole = (j.config.get("net") or {}).get("whole")
            estimate = (j.config.get("loss") or {}).get("estimate")
            j.config["net"] = dict(earlier["net"])
            loss = (earlier.get("training") or {}).get("loss")
            if loss:
                j.config["loss"] = {k: v for k, v in loss.items() if k in loss_keys}
            if whole and not j.config["net"].get("whole"):
                j.config["net"]["whole"] = whole
                if estimate:
                    j.config["loss"] = {**(j.config.get("loss") or {}), "estimate": estimate}


def allot_minutes(jobs: list[Job], workers: int, minutes: float) -> None:
    """Split ``minutes`` of wall clock between jobs run ``workers`` at a time.

    Fresh models run in ceil(n/workers) rounds, forks after them in their own rounds; a round of
    forks is worth ``weight`` of a fresh round. Each job gets its round's length.
    """
    fresh = [j for j in jobs if j.after is None]
    forks = [j for j in jobs if j.after is not None]
    rounds = math.ceil(len(fresh) / workers) * 1.0
    if forks:
        rounds += math.ceil(len(forks) / workers) * max(j.weight for j in forks)
    unit = minutes / max(rounds, 1e-9)
    for j in jobs:
        j.minutes = unit * j.weight


def _pairs_for(job: Job, eval_photos: int | None) -> None:
    """Compute (or find cached) every pair a job and its eval will need, on all cores."""
    from restorable.data.augment import Augment
    from restorable.data.pairs import compute_augmented_pairs, compute_pairs, photo_paths
    from restorable.training.train import TrainConfig, val_setting

    cfg = job.config
    params, photos = cfg.get("params", {}), cfg.get("photos")
    recipe, max_side = cfg.get("pair_recipe", ""), cfg.get("max_side", 640)
    cond = cfg.get("net", {}).get("cond")
    train_params, val_params = [params], params
    if cond:  # one pair set per setting value; progress crops and eval at the default setting
        train_params = [{**params, cond["param"]: v} for v in cfg["param_values"]]
        val_params = {**params, cond["param"]: val_setting(TrainConfig.from_dict(cfg))}
    augment = Augment(**cfg.get("augment") or {})
    for p in train_params:
        compute_pairs(job.op, photo_paths(photos, "train"), p, max_side, recipe=recipe)
        if augment:  # the training copies, each with its own f (data/augment.py)
            compute_augmented_pairs(
                job.op, photo_paths(photos, "train"), augment, p, max_side, recipe=recipe
            )
    val = photo_paths(photos, "val")
    compute_pairs(job.op, val[:8], val_params, max_side, recipe=recipe)  # progress crops
    compute_pairs(job.op, val[:eval_photos], val_params, None)  # eval: stored size, real operator


def _run_job(job: Job, plan: Plan) -> dict:
    """Train one model (resuming), ship it as fp16, evaluate it. Runs in a worker process."""
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    from restorable.devices import use_gpu_for

    use_gpu_for(job, plan.jobs, plan.device)  # spread over every GPU of the node
    from restorable.evaluation.evaluate import evaluate_model
    from restorable.models import ModelCard, load, save_model
    from restorable.network.factory import build_net
    from restorable.network.model import NetConfig
    from restorable.training.train import TrainConfig, train

    started = time.time()
    try:
        cfg = TrainConfig.from_dict(job.config)
        cfg.minutes = job.minutes
        parent = plan.out / "runs" / (job.after or "") / f"{job.after}.safetensors"
        seed = plan.init_dir / f"{job.name}.safetensors" if plan.init_dir else None
        if job.after and parent.exists():
            cfg.init_from = str(parent)
        elif seed is not None and seed.exists():
            cfg.init_from = str(seed)  # a checkpoint of this run's own, if any, still wins
        run = train(cfg, resume=True, progress=False)
        card = ModelCard(**json.loads((run / f"{job.name}.json").read_text()))
        net = build_net(NetConfig(**card.net))
        net.load_state_dict(load_file(str(run / f"{job.name}.safetensors")))
        weights = plan.out / "weights"
        save_model(net, card, weights, half=True)
        device = "cuda" if plan.device == "cuda" else "cpu"
        model = load(job.name, weights, device=device)
        result = evaluate_model(model, cfg.photos, plan.eval_jpeg, plan.eval_photos, progress=False)
        result["name"] = job.name
        result["training"] = card.training
        results = plan.out / "results"
        results.mkdir(parents=True, exist_ok=True)
        tmp = results / f"{job.name}.json.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(results / f"{job.name}.json")
        png = result["mean"]["png"]
        return {
            "name": job.name,
            "steps": card.training["steps"],
            "trained_minutes": card.training["trained_minutes"],
            "device": card.training["device"],
            "approx_psnr": round(png["approx_psnr"], 2),
            "restore_psnr": round(png["restore_psnr"], 2),
            "restore_psnr_jpeg90": round(result["mean"].get("jpeg90", {}).get("restore_psnr", 0), 2)
            if "jpeg90" in result["mean"]
            else None,
            "wall_s": round(time.time() - started, 1),
        }
    except Exception as e:  # one failed model must not stop the others
        return {
            "name": job.name,
            "error": f"{type(e).__name__}: {e}",
            "trace": traceback.format_exc(),
        }


def _done(job: Job, out: Path) -> bool:
    """Evaluated, and (when a per-model budget is set) trained for at least that long: a rerun
    with a larger ``model_minutes`` carries finished models on from their checkpoints."""
    result = out / "results" / f"{job.name}.json"
    if not result.exists():
        return False
    if job.minutes is None:
        return True
    training = json.loads(result.read_text()).get("training", {})
    trained = training.get("run_minutes", training.get("trained_minutes", 0.0))  # this run's own
    return trained >= job.minutes - 0.1


def train_all(
    ops: list[str] | None = None,
    variants: list[str] | None = None,
    out: str | Path = "runs-all",
    device: str = "cpu",
    minutes: float | None = 60.0,
    model_minutes: float | None = None,
    workers: int | None = None,
    photos: str | None = None,
    base: dict | None = None,
    eval_photos: int | None = None,
    eval_jpeg: list[int] | None = None,
    retrain: bool = False,
    init_from: str | Path | None = None,
) -> list[dict]:
    """Compute pairs, train every (op, variant) model concurrently, evaluate; see module doc.

    ``minutes`` is the whole run's wall-clock budget; ``model_minutes`` instead gives every
    fresh model that many minutes (forks half). Finished models are skipped unless ``retrain``.
    ``init_from``: a folder of earlier weights (``NAME.safetensors``, fp16 or fp32, e.g. another
    machine's ``OUT/weights``) that models start from instead of from scratch, so a short GPU
    loan carries on what an earlier one trained.
    """
    from restorable.operators import operator_ids
    from restorable.training.train import TrainConfig

    t0 = time.time()
    out = Path(out)
    ops = ops or operator_ids()
    variants = variants or ["png", "jpeg"]
    jobs = plan_jobs(ops, variants, out, device, base, photos)
    if init_from:
        adopt_architectures(jobs, Path(init_from))
    plan = Plan(
        jobs,
        out,
        device,
        eval_photos,
        eval_jpeg if eval_jpeg is not None else [90, 80, 70],
        Path(init_from) if init_from else None,
    )
    if retrain:
        for j in jobs:
            shutil.rmtree(out / "runs" / j.name, ignore_errors=True)
            (out / "results" / f"{j.name}.json").unlink(missing_ok=True)
    for budget, value in (("--minutes", minutes), ("--model-minutes", model_minutes)):
        if value is not None and value <= 0:
            raise RestorableError(f"{budget} {value:g}: give a budget above 0")
    for j in jobs:  # a config that cannot train fails here, before any pairs are computed
        TrainConfig.from_dict(j.config).check()
    if model_minutes:
        for j in jobs:
            j.minutes = model_minutes * j.weight
    todo = [j for j in jobs if not _done(j, out)]
    out.mkdir(parents=True, exist_ok=True)

    summary: list[dict] = []
    for job in tqdm(todo, desc="pairs", unit="model"):
        try:
            _pairs_for(job, eval_photos)
        except Exception as e:  # e.g. an operator needing opencv-contrib on a bare machine
            summary.append({"name": job.name, "error": f"pairs: {type(e).__name__}: {e}"})
    failed = {s["name"] for s in summary}
    # a fork whose parent cannot train trains from scratch (it still has its own pairs)
    todo = [j for j in todo if j.name not in failed]
    if not todo:
        return _write_summary(out, summary, jobs)

    n_workers = workers or _default_workers(device, len(todo))
    if not model_minutes:
        left = (minutes or 60.0) - (time.time() - t0) / 60
        # keep about a tenth, and at least 1.5 minutes, for starting the workers (the clock of
        # each model starts after its data and device are ready), evaluation and writing
        allot_minutes(todo, n_workers, max(0.5, min(0.88 * left, left - 1.5)))

    ctx = mp.get_context("spawn")  # CUDA cannot be forked; spawn everywhere for one behaviour
    pending = list(todo)
    running: dict = {}
    names_left = {j.name for j in todo}
    bar = tqdm(total=len(todo), desc=f"train {len(todo)} models on {device} × {n_workers}")
    with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
        while pending or running:
            for job in list(pending):
                if len(running) >= n_workers:
                    break
                if job.after in names_left and job.after not in failed:
                    continue  # wait for the parent's weights
                pending.remove(job)
                running[pool.submit(_run_job, job, plan)] = job
            if not running:  # only forks whose parents are gone: start them anyway
                for job in pending:
                    job.after = None
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                job = running.pop(fut)
                names_left.discard(job.name)
                res = fut.result()
                summary.append(res)
                if "error" in res:
                    failed.add(job.name)
                    tqdm.write(f"{job.name}: FAILED {res['error']}")
                else:
                    tqdm.write(
                        f"{job.name}: {res['steps']} steps, {res['trained_minutes']} min, "
                        f"approx {res['approx_psnr']} dB, restore {res['restore_psnr']} dB"
                    )
                bar.update(1)
    bar.close()
    return _write_summary(out, summary, jobs)


def _default_workers(device: str, n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    if device == "cuda":
        # the GPU, not the cores, bounds small models' steps (each worker mostly waits on it):
        # every job at once, up to 1.5 workers per core, so no job waits for a second round
        return max(1, min(n_jobs, int(1.5 * cores), 32))
    return max(1, min(n_jobs, cores))


def _write_summary(out: Path, summary: list[dict], jobs: list[Job]) -> list[dict]:
    """Merge this run's lines into OUT/summary.json (earlier runs' lines kept) and return them.

    Two runs may share one folder (a CPU run beside a GPU run's results): the read, merge and
    write happen under an exclusive lock on OUT/summary.lock, so neither loses the other's lines.
    """
    import fcntl

    path = out / "summary.json"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "summary.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = json.loads(path.read_text()) if path.exists() else []
        merged = {s["name"]: s for s in old}
        merged.update({s["name"]: s for s in summary})
        order = [j.name for j in jobs]
        lines = sorted(
            merged.values(), key=lambda s: order.index(s["name"]) if s["name"] in order else 1e9
        )
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(lines, indent=1) + "\n")
        tmp.replace(path)
    return summary


def install(out: str | Path, names: list[str] | None = None, dest: Path | None = None) -> list[str]:
    """Copy finished models (weights, card) from OUT/weights into the package's weights folder."""
    from restorable.models import WEIGHTS_DIR, install_model

    src = Path(out) / "weights"
    done = [c.stem for c in sorted(src.glob("*.json")) if not names or c.stem in names]
    for stem in done:
        install_model(src, stem, dest or WEIGHTS_DIR)
    return done
