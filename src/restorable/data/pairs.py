"""Training pairs (I, f(I)): computed once on all cores, cached, served as aligned random crops.

    photos/*.jpg ──resize──► I ──reference(op)──► f(I) ──► cache/<op>-<hash>/<photo>.npz
                                                            └──► PairCrops: random crop, flip, rot90

The classic operators cost up to seconds per photo, so they run once per (operator, parameters,
size) and the cache is reused by every training run and by ``eval``. The key hashes the operator's
parameters, the resize and the photo's bytes, so a changed operator or photo is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from restorable.data.split import load_split
from restorable.errors import RestorableError
from restorable.files import list_images, read_image
from restorable.image import to_uint8

SHARED_PHOTOS = Path(__file__).resolve().parents[3].parent / "shared" / "photos"


def shared_photos() -> Path:
    """The project's photos: ``$RESTORABLE_PHOTOS`` (e.g. a downscaled copy carried to a GPU
    machine, made by ``python -m restorable.data.carry``) or ``../shared/photos``."""
    return Path(os.environ.get("RESTORABLE_PHOTOS") or SHARED_PHOTOS)


def default_cache_dir() -> Path:
    """``$RESTORABLE_CACHE`` or ``~/.cache/restorable``."""
    return Path(os.environ.get("RESTORABLE_CACHE", Path.home() / ".cache" / "restorable"))


def photo_paths(photos: str | os.PathLike | None, subset: str) -> list[Path]:
    """The photos to use: the project's split (``subset`` train/val/all) or a user's folder.

    A user's folder has no split file: ``val`` is every tenth photo (sorted by name, starting
    with the first) and ``train`` the others, so ``eval`` on the folder a model was trained on
    measures photos the model never saw; ``all`` is every photo.
    """
    if photos is None:
        folder = shared_photos()
        if not folder.is_dir():
            raise RestorableError(f"the project's photos are not at {folder}; pass --photos DIR")
        split = load_split()
        names = split["train"] + split["val"] if subset == "all" else split[subset]
        return [folder / n for n in names]
    folder = Path(photos)
    if not folder.is_dir():
        raise RestorableError(f"{folder}: not a folder of photos")
    paths = list_images(folder)
    if not paths:
        raise RestorableError(f"{folder}: contains no image files")
    if subset == "val":
        return paths[::10]
    if subset == "train":
        held_in = [p for i, p in enumerate(paths) if i % 10]
        if not held_in:
            raise RestorableError(
                f"{folder}: holds {len(paths)} photo(s); training needs at least 2 "
                "(every tenth is held out for eval)"
            )
        return held_in
    return paths


def resize_max_side(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Lanczos downscale so the longer side is at most ``max_side`` (never upscales)."""
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))
    return np.asarray(Image.fromarray(img).resize(size, Image.LANCZOS))


def _operator_source_hash(op: str) -> str:
    """Hash of the operator's module source, so editing an operator invalidates its pairs."""
    import inspect

    from restorable.operators import get_operator

    return hashlib.sha256(
        inspect.getsource(inspect.getmodule(get_operator(op).fn)).encode()
    ).hexdigest()[:10]


def _retouch_random_mask(img: np.ndarray, params: dict, seed: int) -> np.ndarray:
    from restorable.operators.photo import retouch_random_mask

    return retouch_random_mask(img.astype(np.float32) / 255, seed=seed, eps=params.get("eps", 0.01))


# Training-pair recipes other than "the operator on the photo": (img uint8, params, seed) -> f(I).
# "random-mask": retouch's smoothing under random soft masks, since few training photos hold
# faces (the guided model reads the real face mask's output at apply time).
PAIR_RECIPES = {"random-mask": _retouch_random_mask}


def _cache_key(op: str, params: dict, max_side: int | None, recipe: str = "") -> str:
    key = {"op": op, "params": params, "max_side": max_side, "code": _operator_source_hash(op)}
    if recipe:
        key["recipe"] = recipe
    blob = json.dumps(key, sort_keys=True)
    return f"{op}{'-' + recipe if recipe else ''}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def _compute_one(job: tuple) -> None:
    path, out, op, params, max_side, recipe = job
    from restorable.operators import reference

    img = resize_max_side(read_image(path), max_side)
    if recipe:
        seed = int(hashlib.sha256(path.read_bytes()).hexdigest()[:8], 16)
        target = to_uint8(PAIR_RECIPES[recipe](img, params, seed))
    else:
        target = to_uint8(reference(op, **params)(img))
    tmp = out.with_suffix(f".{os.getpid()}.tmp.npz")  # unique: DDP ranks may race here
    np.savez(tmp, input=img, target=target)
    os.replace(tmp, out)


def compute_pairs(
    op: str,
    paths: list[Path],
    params: dict | None = None,
    max_side: int | None = 640,
    cache_dir: Path | None = None,
    workers: int | None = None,
    recipe: str = "",
    progress: bool = True,
) -> list[Path]:
    """Make sure every (I, f(I)) pair is cached; returns the cache files in ``paths`` order.

    ``recipe`` names an entry of :data:`PAIR_RECIPES` to make targets other than f(I).
    """
    params = params or {}
    if recipe and recipe not in PAIR_RECIPES:
        raise RestorableError(f"unknown pair recipe {recipe!r}; known: {' '.join(PAIR_RECIPES)}")
    key = _cache_key(op, params, max_side, recipe)
    folder = (cache_dir or default_cache_dir()) / "pairs" / key
    folder.mkdir(parents=True, exist_ok=True)
    outs = []
    jobs = []
    for p in paths:
        tag = hashlib.sha256(p.read_bytes()).hexdigest()[:8]
        out = folder / f"{p.stem}-{tag}.npz"
        outs.append(out)
        if not out.exists():
            jobs.append((p, out, op, params, max_side, recipe))
    if jobs:
        workers = min(len(jobs), workers or os.cpu_count() or 1)
        bar = dict(total=len(jobs), desc=f"pairs {op}", disable=not progress)
        if workers == 1:
            list(tqdm(map(_compute_one, jobs), **bar))
        else:
            with ProcessPoolExecutor(workers) as pool:
                list(tqdm(pool.map(_compute_one, jobs), **bar))
    return outs


def load_pairs(files: list[Path]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input, target) uint8 arrays from cache files."""
    pairs = []
    for f in files:
        with np.load(f) as z:
            pairs.append((z["input"], z["target"]))
    return pairs


class PairCrops:
    """Aligned random crops of cached pairs with random flips and 90° rotations.

    Photos are drawn with probability proportional to their area, so every pixel is about
    equally likely to be seen. Seeded: the same seed gives the same batches.
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], crop: int, seed: int = 0):
        self.pairs = [p for p in pairs if min(p[0].shape[:2]) >= crop]
        if not self.pairs:
            raise RestorableError(f"no photo is at least {crop} px on its shorter side")
        self.crop = crop
        areas = np.array([p[0].shape[0] * p[0].shape[1] for p in self.pairs], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), each uint8 (size, crop, crop, 3)."""
        c = self.crop
        xs, ys = [], []
        for i in self.rng.choice(len(self.pairs), size=size, p=self.weights):
            x, y = self.pairs[i]
            top = self.rng.integers(0, x.shape[0] - c + 1)
            left = self.rng.integers(0, x.shape[1] - c + 1)
            x, y = x[top : top + c, left : left + c], y[top : top + c, left : left + c]
            k = int(self.rng.integers(4))
            flip = bool(self.rng.integers(2))
            x, y = np.rot90(x, k), np.rot90(y, k)
            if flip:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
