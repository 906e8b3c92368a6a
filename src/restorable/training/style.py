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
from restorable.training.loop import Loop, atomic_save
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


class StyleTrainer(Loop):
    """A style network's training in the loop every trainer shares (``loop.Loop``): the parts
    :meth:`step`, :meth:`checkpoint`, :meth:`resume` and :meth:`save` (the final one writes the
    fp16 weights and their card through ``models.write_weights``). See :func:`train_style`."""

    def __init__(
        self,
        style_path: Path,
        name: str,
        photos_dir: Path,
        steps: int,
        size: int,
        batch: int,
        out_dir: Path,
        run_dir: Path,
        device: str,
        log: Callable[[str], None],
        *,
        resume: bool,
        style_size: int,
        lr: float,
        weights: tuple[float, float, float],
        loss_net: str,
        arch: dict,
        seed: int,
        checkpoint_seconds: float,
        max_photos: int | None,
        progress: Callable[[int, dict], None] | None,
    ):
        self.style_path, self.name, self.steps, self.size, self.batch = (
            style_path, name, steps, size, batch,
        )  # fmt: skip
        self.out_dir, self.device, self.log, self.progress = out_dir, device, log, progress
        self.style_size, self.lr, self.loss_net, self.arch, self.seed = (
            style_size, lr, loss_net, arch, seed,
        )  # fmt: skip
        self.weights, self.ckpt_seconds = weights, checkpoint_seconds
        run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = run_dir / "checkpoint.pt"

        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.net = build_net(arch).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.step_no, self.elapsed = 0, 0.0
        if resume and not self.resume():
            log(f"no checkpoint at {self.ckpt_path}; starting from scratch")

        files = split_photos(photos_dir, "train")
        if max_photos is not None:
            files = files[:max_photos]
        if not files:
            raise ValueError(f"no training photos found in {photos_dir}")
        t0 = time.time()
        self.photos = [load_photo(p, round(1.25 * size)) for p in files]
        log(f"{len(self.photos)} training photos loaded in {time.time() - t0:.1f}s")

        style = load_style(style_path, style_size).to(device)
        self.criterion = PerceptualLoss(
            style, make_loss_network(loss_net, seed=0).to(device), *weights
        )
        self.parts: dict = {}

    def resume(self) -> bool:
        ck = self.read_checkpoint()
        if ck is None:
            return False
        self.rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        self.step_no, self.elapsed = ck["step"], ck.get("elapsed", 0.0)
        self.log(f"resumed {self.name} from {self.ckpt_path} at step {self.step_no}")
        return True

    def checkpoint(self) -> Path:
        state = {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "step": self.step_no,
            "elapsed": self.elapsed,
        }
        return atomic_save(state, self.ckpt_path)

    def finished(self) -> bool:
        return self.step_no >= self.steps

    def step(self) -> dict:
        for g in self.opt.param_groups:
            g["lr"] = _lr_at(self.step_no, self.steps, self.lr)
        x = _batch(self.photos, self.rng, self.size, self.batch).to(self.device)
        y = self.net(x)
        loss, parts = self.criterion(y, x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_no += 1
        self.elapsed = time.time() - self.t_start
        parts["loss"] = loss.item()
        self.parts = parts
        return parts

    def after_step(self, parts: dict) -> None:
        step, steps = self.step_no, self.steps
        if self.progress is not None:
            self.progress(step, parts)
        if step % 25 == 0 or step == steps:
            self.log(
                f"step {step}/{steps} loss {parts['loss']:.4f} content {parts['content']:.4f} "
                f"style {parts['style']:.4f} tv {parts['tv']:.4f} ({self.elapsed:.0f}s)"
            )

    def save(self, final: bool = False) -> None:
        self.checkpoint()
        if final:
            self.write_model()

    def card(self) -> dict:
        """What the weights' JSON holds: the architecture and the training facts."""
        content_weight, style_weight, tv_weight = self.weights
        return {
            "name": self.name,
            "arch": self.arch,
            "model": "Johnson et al. 2016 feed-forward network, instance norm, "
            "nearest+conv upsampling",
            "training": {
                "style_image": self.style_path.name,
                "style_sha256": _sha256(self.style_path),
                "style_size": self.style_size,
                "photos": len(self.photos),
                "split": "split.json" if SPLIT_FILE.exists() else "hash of file name (~10% val)",
                "steps": self.step_no,
                "batch": self.batch,
                "crop": self.size,
                "optimizer": f"Adam lr {self.lr}, linear decay to 10% over last 30%",
                "loss_network": self.loss_net,
                "content_weight": content_weight,
                "style_weight": style_weight,
                "tv_weight": tv_weight,
                "seed": self.seed,
                "final_loss": {k: round(v, 5) for k, v in self.parts.items()},
                "seconds": round(self.elapsed),
                "device": self.device,
                "torch_threads": torch.get_num_threads(),
            },
            "dtype": "float16",
        }

    def write_model(self) -> Path:
        """``style_NAME.safetensors`` (fp16) and ``style_NAME.json`` into the weights folder."""
        from restorable.models import write_weights

        path = write_weights(
            self.out_dir, f"style_{self.name}", self.net, self.card(), half=True, indent=2
        )
        size = path.stat().st_size // 1024
        self.log(f"wrote {path} ({size} KiB) and {path.with_suffix('.json')}")
        return path

    def run(self) -> Path:
        self.net.train()
        self.t_start = time.time() - self.elapsed
        self.loop()
        return self.out_dir / f"style_{self.name}.safetensors"


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
    trainer = StyleTrainer(
        Path(style_path),
        name,
        Path(photos_dir) if photos_dir is not None else shared_photos(),
        steps,
        size,
        batch,
        Path(out_dir) if out_dir is not None else WEIGHTS_DIR,
        Path(run_dir) if run_dir is not None else Path("runs") / f"style_{name}",
        device,
        log or (lambda _msg: None),
        resume=resume,
        style_size=style_size,
        lr=lr,
        weights=(content_weight, style_weight, tv_weight),
        loss_net=loss_net,
        arch=dict(DEFAULT_ARCH, **(arch or {})),
        seed=seed,
        checkpoint_seconds=checkpoint_seconds,
        max_photos=max_photos,
        progress=progress,
    )
    return trainer.run()
