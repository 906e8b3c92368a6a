"""Training the fast style-transfer networks (the ``rain`` and ``scream`` operators).

::

    train photos ─► random crop size×size, flip ─► StyleNet ─► y
                                                   │
    painting ─► loss network (random, fixed) ─► Gram targets
    loss = content(y, x) + style_weight · Gram(y, painting) + tv_weight · TV(y)     (Adam)

Photos come from the project's train split (``data.pairs.shared_photos``: ``$RESTORABLE_PHOTOS``
or ``../shared/photos`` beside the checkout) (``restorable/data/split.json``; a deterministic
~10 % hash split of the file names stands in while that file does not exist). Photos are
decoded once, downscaled so their short side is 1.25 × ``size``, and kept in memory.
Everything random (initial weights, crops, flips) is drawn from seeded generators whose states
are saved in the checkpoints, so ``resume=True`` continues the same run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from restorable.data.pairs import shared_photos
from restorable.operators.style_transfer import DEFAULT_ARCH, WEIGHTS_DIR, build_net
from restorable.training.style_losses import CHOSEN, PerceptualLoss, make_loss_network

SPLIT_FILE = Path(__file__).resolve().parent.parent / "data" / "split.json"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def hash_is_val(name: str) -> bool:
    """Deterministic stand-in split: about 10 % of file names go to validation."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 10 == 0


def split_photos(photos_dir: Path, part: str = "train") -> list[Path]:
    """Photos of ``part`` ("train" or "val"), from split.json if present, else the hash split."""
    photos_dir = Path(photos_dir)
    project = shared_photos().resolve()  # the project's photos, whose split.json applies
    files = sorted(p for p in photos_dir.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if SPLIT_FILE.exists() and photos_dir.resolve() == project:
        names = set(json.loads(SPLIT_FILE.read_text())[part])
        return [p for p in files if p.name in names]
    if photos_dir.resolve() != project and part == "train":
        return files  # a user's own folder: train on all of it
    want_val = part == "val"
    return [p for p in files if hash_is_val(p.name) == want_val]


def load_photo(path: Path, short_side: int) -> np.ndarray:
    """Decode ``path`` as uint8 RGB with its short side resized to ``short_side``."""
    with Image.open(path) as im:
        im.draft("RGB", (short_side * 2, short_side * 2))  # fast JPEG decode at reduced size
        im = ImageOps.exif_transpose(im).convert("RGB")
        w, h = im.size
        s = short_side / min(w, h)
        im = im.resize(
            (max(short_side, round(w * s)), max(short_side, round(h * s))), Image.BICUBIC
        )
        return np.asarray(im, dtype=np.uint8).copy()


def load_style(path: Path, style_size: int) -> torch.Tensor:
    """The painting as a (3, H, W) tensor in [0, 1], long side resized to ``style_size``."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = style_size / max(w, h)
        im = im.resize((round(w * s), round(h * s)), Image.LANCZOS)
        return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)


def _batch(photos: list[np.ndarray], rng: np.random.Generator, size: int, batch: int):
    out = np.empty((batch, size, size, 3), dtype=np.float32)
    for i in range(batch):
        img = photos[rng.integers(len(photos))]
        y = rng.integers(img.shape[0] - size + 1)
        x = rng.integers(img.shape[1] - size + 1)
        crop = img[y : y + size, x : x + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop / 255.0
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _lr_at(step: int, steps: int, lr: float) -> float:
    # Constant, then linear decay to 10 % over the last 30 % of the run.
    start = int(0.7 * steps)
    if step < start:
        return lr
    return lr * (1.0 - 0.9 * (step - start) / max(1, steps - start))


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_style(
    style_path: str | Path,
    name: str,
    photos_dir: str | Path | None = None,
    steps: int = 1500,
    size: int = 256,
    batch: int = 4,
    out_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    log: Callable[[str], None] | None = print,
    *,
    style_size: int = 256,
    lr: float = 2e-3,
    content_weight: float = 1.0,
    style_weight: float = 5.0,
    tv_weight: float = 0.1,
    loss_net: str = CHOSEN,
    arch: dict | None = None,
    seed: int = 0,
    run_dir: str | Path | None = None,
    checkpoint_seconds: float = 180.0,
    max_photos: int | None = None,
    progress: Callable[[int, dict], None] | None = None,
) -> Path:
    """Train a style network for painting ``style_path``; returns the written weight file.

    Parameters: ``steps`` Adam steps on batches of ``batch`` random ``size``×``size`` crops;
    ``out_dir`` the weights folder (default: the package's ``weights/``); ``run_dir`` the
    checkpoint folder (default ``runs/style_<name>``), written every ``checkpoint_seconds``;
    ``resume`` continues from its checkpoint. ``log`` receives one-line progress messages and
    ``progress(step, parts)`` is called after every step (the CLI's progress bar).
    Writes ``style_<name>.safetensors`` (fp16) and ``style_<name>.json`` to ``out_dir``.
    """
    from safetensors.torch import save_file

    log = log or (lambda _msg: None)
    style_path = Path(style_path)
    photos_dir = Path(photos_dir) if photos_dir is not None else shared_photos()
    out_dir = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / f"style_{name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    arch = dict(DEFAULT_ARCH, **(arch or {}))

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(arch).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    step, elapsed = 0, 0.0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        step, elapsed = ck["step"], ck.get("elapsed", 0.0)
        log(f"resumed {name} from {ckpt_path} at step {step}")
    elif resume:
        log(f"no checkpoint at {ckpt_path}; starting from scratch")

    files = split_photos(photos_dir, "train")
    if max_photos is not None:
        files = files[:max_photos]
    if not files:
        raise ValueError(f"no training photos found in {photos_dir}")
    t0 = time.time()
    photos = [load_photo(p, round(1.25 * size)) for p in files]
    log(f"{len(photos)} training photos loaded in {time.time() - t0:.1f}s")

    style = load_style(style_path, style_size).to(device)
    criterion = PerceptualLoss(
        style,
        make_loss_network(loss_net, seed=0).to(device),
        content_weight,
        style_weight,
        tv_weight,
    )

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "elapsed": elapsed,
            },
            tmp,
        )
        tmp.replace(ckpt_path)

    net.train()
    last_ckpt = time.time()
    t_start = time.time() - elapsed
    parts: dict = {}
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr)
        x = _batch(photos, rng, size, batch).to(device)
        y = net(x)
        loss, parts = criterion(y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        elapsed = time.time() - t_start
        parts["loss"] = loss.item()
        if progress is not None:
            progress(step, parts)
        if step % 25 == 0 or step == steps:
            log(
                f"step {step}/{steps} loss {parts['loss']:.4f} content {parts['content']:.4f} "
                f"style {parts['style']:.4f} tv {parts['tv']:.4f} ({elapsed:.0f}s)"
            )
        if time.time() - last_ckpt > checkpoint_seconds:
            save_checkpoint()
            last_ckpt = time.time()
    save_checkpoint()

    out_dir.mkdir(parents=True, exist_ok=True)
    st_path, json_path = out_dir / f"style_{name}.safetensors", out_dir / f"style_{name}.json"
    state = {
        k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()
    }
    save_file(state, str(st_path))
    facts = {
        "name": name,
        "arch": arch,
        "model": "Johnson et al. 2016 feed-forward network, instance norm, nearest+conv upsampling",
        "training": {
            "style_image": style_path.name,
            "style_sha256": _sha256(style_path),
            "style_size": style_size,
            "photos": len(photos),
            "split": "split.json" if SPLIT_FILE.exists() else "hash of file name (~10% val)",
            "steps": step,
            "batch": batch,
            "crop": size,
            "optimizer": f"Adam lr {lr}, linear decay to 10% over last 30%",
            "loss_network": loss_net,
            "content_weight": content_weight,
            "style_weight": style_weight,
            "tv_weight": tv_weight,
            "seed": seed,
            "final_loss": {k: round(v, 5) for k, v in parts.items()},
            "seconds": round(elapsed),
            "device": device,
            "torch_threads": torch.get_num_threads(),
        },
        "dtype": "float16",
    }
    json_path.write_text(json.dumps(facts, indent=2) + "\n")
    log(f"wrote {st_path} ({st_path.stat().st_size // 1024} KiB) and {json_path}")
    return st_path
