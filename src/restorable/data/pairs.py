"""Training pairs (I, f(I)): computed once on all cores, cached, served as aligned random crops.

    photos/*.jpg ──resize──► I ──reference(op)──► f(I) ──► cache/<op>-<hash>/<photo>.npz
                                                            └──► PairCrops: random crop, flip, rot90
    (training only) rescaled / jittered copies I_v ──► f(I_v) ──► cache/<op>-<v>-<hash>/...
                                                       (data/augment.py, TrainConfig.augment)

The classic operators cost up to seconds per photo, so they run once per (operator, parameters,
size) and the cache is reused by every training run and by ``eval``. The key hashes the operator's
parameters, the resize and the photo's bytes, so a changed operator or photo is recomputed.

A conditioned model (``NetConfig.cond``) trains on one pair set per setting value; ``PairCrops``
then holds one input and several targets per photo and draws the value per crop. A model learned
from a user's own edit reads its pairs from two folders instead (:func:`match_pairs`):

    BEFORE/x.jpg ┐ matched by name, sizes checked ─► every tenth held out for eval ─► PairCrops
    AFTER/x.png  ┘
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from restorable.data.split import load_split
from restorable.errors import RestorableError
from restorable.files import list_images, read_image
from restorable.image import to_uint8

if TYPE_CHECKING:
    from restorable.data.augment import Augment, Variant

SHARED_PHOTOS = Path(__file__).resolve().parents[3].parent / "shared" / "photos"


# A folder with this file is an evaluation set as a whole (no model may train on any of it).
HELD_OUT_MARKER = "HELD_OUT"


def shared_photos() -> Path:
    """The project's photos: ``$RESTORABLE_PHOTOS`` (a copy of the whole split kept elsewhere)
    or ``../shared/photos``. The half of the training split carried to a GPU machine
    (``python -m restorable.data.carry``) is no split: it is passed as ``--photos``."""
    return Path(os.environ.get("RESTORABLE_PHOTOS") or SHARED_PHOTOS)


def default_cache_dir() -> Path:
    """``$RESTORABLE_CACHE`` or ``~/.cache/restorable``."""
    return Path(os.environ.get("RESTORABLE_CACHE", Path.home() / ".cache" / "restorable"))


def photo_paths(photos: str | os.PathLike | None, subset: str) -> list[Path]:
    """The photos to use: the project's split (``subset`` train/val/all) or a user's folder.

    A user's folder has no split file: ``val`` is every tenth photo (sorted by name, starting
    with the first) and ``train`` the others, so ``eval`` on the folder a model was trained on
    measures photos the model never saw; ``all`` is every photo. A folder holding a
    :data:`HELD_OUT_MARKER` file (the second evaluation set, ``benchmarks/second_set.py``) is
    held out as a whole: ``val`` is every photo and training on it is refused.
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
    if (folder / HELD_OUT_MARKER).is_file():
        if subset == "train":
            raise RestorableError(
                f"{folder}: its photos are held out for evaluation ({HELD_OUT_MARKER}); "
                "train on another folder"
            )
        return paths
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


def _code_closure(fn) -> list[str]:
    """Source of ``fn`` and of everything of ours it reaches by name (helpers, classes,
    constants, in any ``restorable`` module), so a change to the code one operator runs changes
    its key and no other's: a whole-module hash recomputed every smoothing operator's pairs
    when one changed. (No library answers "the code this function depends on"; this walks the
    names its bytecode loads.)"""
    import inspect
    import types

    def names(code: types.CodeType) -> set[str]:
        out = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                out |= names(const)
        return out

    def ours(obj) -> bool:
        module = inspect.getmodule(obj)
        return module is not None and module.__name__.split(".")[0] == "restorable"

    seen: dict[str, str] = {}
    todo = [fn]
    while todo:
        obj = todo.pop()
        module = inspect.getmodule(obj)
        members = [obj] if not inspect.isclass(obj) else list(vars(obj).values())
        refs = {n for m in members if inspect.isfunction(m) for n in names(m.__code__)}
        for name in sorted(refs):
            key = f"{module.__name__}.{name}"
            value = getattr(module, name, None)
            if key in seen or value is None:
                continue
            if (inspect.isfunction(value) or inspect.isclass(value)) and ours(value):
                seen[key] = inspect.getsource(value)
                todo.append(value)
            elif isinstance(value, (int, float, str, tuple, dict, list, np.ndarray)):
                seen[key] = repr(value)
    return [inspect.getsource(fn)] + [seen[k] for k in sorted(seen)]


def _operator_source_hash(op: str) -> str:
    """Hash of the code the operator runs (``_code_closure``), so editing it invalidates its
    pairs and only its pairs."""
    from restorable.operators import get_operator

    blob = "\n".join(_code_closure(get_operator(op).fn))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _retouch_random_mask(img: np.ndarray, params: dict, seed: int) -> np.ndarray:
    from restorable.operators.photo import retouch_random_mask

    return retouch_random_mask(img.astype(np.float32) / 255, seed=seed, eps=params.get("eps", 0.01))


# Training-pair recipes other than "the operator on the photo": (img uint8, params, seed) -> f(I).
# "random-mask": retouch's smoothing under random soft masks, since few training photos hold
# faces (the guided model reads the real face mask's output at apply time).
PAIR_RECIPES = {"random-mask": _retouch_random_mask}


def _cache_key(
    op: str, params: dict, max_side: int | None, recipe: str = "", variant: Variant | None = None
) -> str:
    """The cache folder's name: the operator, a hash of everything its pairs depend on and, for
    an augmented copy (``data.augment``), the copy's label and recipe. Plain pairs hash exactly
    what they always did, so their caches stay valid."""
    key = {"op": op, "params": params, "max_side": max_side, "code": _operator_source_hash(op)}
    if recipe:
        key["recipe"] = recipe
    if variant is not None:
        key["augment"] = variant.key()
    blob = json.dumps(key, sort_keys=True)
    parts = [op, recipe, variant.label if variant is not None else ""]
    return f"{'-'.join(p for p in parts if p)}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def _photo_seed(digest: str) -> int:
    return int(digest[:8], 16)


def _compute_one(job: tuple) -> None:
    path, out, op, params, max_side, recipe, variant = job
    from restorable.operators import reference

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    photo = read_image(path)
    img = resize_max_side(photo, max_side)
    if variant is not None:
        from restorable.data.augment import make_variant

        img = make_variant(variant, photo, img, max_side, _photo_seed(digest))
    if recipe:
        target = to_uint8(PAIR_RECIPES[recipe](img, params, _photo_seed(digest)))
    else:
        target = to_uint8(reference(op, **params)(img))
    tmp = out.with_suffix(f".{os.getpid()}.tmp.npz")  # unique: DDP ranks may race here
    np.savez(tmp, input=img, target=target)
    os.replace(tmp, out)


def _longer_side(path: Path) -> int:
    """The photo's longer side, from its header (nothing decoded); :func:`read_image`'s one-line
    error where the header cannot be read."""
    try:
        with Image.open(path) as im:
            return max(im.size)
    except Exception:  # noqa: BLE001 - read_image says why in one line
        return max(read_image(path).shape[:2])


def at_least(paths: list[Path], side: int) -> list[Path]:
    """The photos of ``paths`` whose longer side is ``side`` px or more (from their headers):
    those :func:`compute_pairs` can make a pair of at that ``max_side`` without upscaling."""
    return [p for p in paths if _longer_side(p) >= side]


def _plan(
    op: str,
    paths: list[Path],
    params: dict,
    max_side: int | None,
    cache_dir: Path | None,
    recipe: str,
    variant: Variant | None = None,
) -> tuple[list[tuple[int, Path]], list[tuple]]:
    """(index in ``paths``, cache file) of each pair of ``variant`` (None: the plain pairs), and
    the jobs that compute those not cached yet; a photo too small for a rescaled copy has none."""
    if recipe and recipe not in PAIR_RECIPES:
        raise RestorableError(f"unknown pair recipe {recipe!r}; known: {' '.join(PAIR_RECIPES)}")
    key = _cache_key(op, params, max_side, recipe, variant)
    folder = (cache_dir or default_cache_dir()) / "pairs" / key
    folder.mkdir(parents=True, exist_ok=True)
    outs, jobs = [], []
    for i, p in enumerate(paths):
        if variant is not None and variant.longer_side(_longer_side(p), max_side) is None:
            continue
        tag = hashlib.sha256(p.read_bytes()).hexdigest()[:8]
        out = folder / f"{p.stem}-{tag}.npz"
        outs.append((i, out))
        if not out.exists():
            jobs.append((p, out, op, params, max_side, recipe, variant))
    return outs, jobs


def _run(jobs: list[tuple], workers: int | None, desc: str, progress: bool) -> None:
    """Compute ``jobs`` (:func:`_compute_one`) on ``workers`` processes (default: all cores)."""
    if not jobs:
        return
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    bar = dict(total=len(jobs), desc=desc, disable=not progress)
    if workers == 1:
        list(tqdm(map(_compute_one, jobs), **bar))
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(tqdm(pool.map(_compute_one, jobs), **bar))


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
    outs, jobs = _plan(op, paths, params or {}, max_side, cache_dir, recipe)
    _run(jobs, workers, f"pairs {op}", progress)
    return [out for _, out in outs]


def compute_augmented_pairs(
    op: str,
    paths: list[Path],
    augment: Augment,
    params: dict | None = None,
    max_side: int | None = 640,
    cache_dir: Path | None = None,
    workers: int | None = None,
    recipe: str = "",
    progress: bool = True,
) -> list[tuple[int, Path]]:
    """The augmented copies of ``paths`` (``data.augment``: rescaled, jittered), each a pair
    (I_v, f(I_v)) with f computed on the copy, cached like the plain pairs (in one folder per
    copy, so adding a copy computes that copy only); all computed at once on ``workers``.

    Returns (index in ``paths`` of the photo, cache file) per copy, copy by copy in
    :meth:`Augment.variants` order; a photo too small for a rescaled copy has none.
    """
    augment.check()
    found, jobs = [], []
    for variant in augment.variants():
        outs, todo = _plan(op, paths, params or {}, max_side, cache_dir, recipe, variant)
        found += outs
        jobs += todo
    _run(jobs, workers, f"augmented pairs {op}", progress)
    return found


def load_pairs(files: list[Path]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input, target) uint8 arrays from cache files."""
    pairs = []
    for f in files:
        with np.load(f) as z:
            pairs.append((z["input"], z["target"]))
    return pairs


MIN_PAIRS = 4  # before/after pairs needed to learn an edit (every tenth is held out)


def match_pairs(before: str | os.PathLike, after: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(before, after) image files of two folders matched by name without extension, sorted.

    One-line errors: a folder that is missing or holds no images, a name found on one side only,
    a name twice on one side (x.jpg and x.png), fewer than ``MIN_PAIRS`` pairs, a pair whose
    images differ in size (not aligned; from the headers, so nothing is decoded here).
    """
    sides = {}
    for label, folder in (("BEFORE", before), ("AFTER", after)):
        folder = Path(folder)
        if not folder.is_dir():
            raise RestorableError(f"{folder}: not a folder ({label} images)")
        by_stem: dict[str, Path] = {}
        for p in list_images(folder):
            if p.stem in by_stem:
                raise RestorableError(f"{folder}: two images named {p.stem!r}; keep one")
            by_stem[p.stem] = p
        if not by_stem:
            raise RestorableError(f"{folder}: contains no image files ({label} images)")
        sides[label] = (folder, by_stem)
    (bdir, b), (adir, a) = sides["BEFORE"], sides["AFTER"]
    for mine, other, other_dir in ((b, a, adir), (a, b, bdir)):
        alone = sorted(set(mine) - set(other))
        if alone:
            more = f" and {len(alone) - 1} more" if len(alone) > 1 else ""
            raise RestorableError(
                f"{mine[alone[0]]}{more}: no image of the same name in {other_dir} "
                "(pairs are matched by file name without extension)"
            )
    if len(b) < MIN_PAIRS:
        raise RestorableError(
            f"{bdir}: {len(b)} before/after pair(s); learning an edit needs at least {MIN_PAIRS} "
            "(every tenth is held out for eval)"
        )
    matched = [(b[s], a[s]) for s in sorted(b)]
    for before_file, after_file in matched:
        sb, sa = _upright_size(before_file), _upright_size(after_file)
        if sb and sa and sb != sa:
            raise RestorableError(_misaligned(before_file, after_file, sb, sa))
    return matched


def _upright_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as shown (EXIF orientation applied), from the header; None if unreadable
    (:func:`read_image` then says why)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - read_image gives the one-line error later
        return None
    return (h, w) if turned else (w, h)


def _misaligned(b: Path, a: Path, sb: tuple[int, int], sa: tuple[int, int]) -> str:
    return (
        f"{b.name} is {sb[0]}x{sb[1]} but {a} is {sa[0]}x{sa[1]}: before and after must be "
        "the same size, pixel for pixel (not cropped or resized)"
    )


def split_pairs(pairs: list, subset: str) -> list:
    """Every tenth pair (sorted by name, from the first) is ``val``, held out of training; the
    others ``train``; ``all`` is every pair (as :func:`photo_paths` splits a user's folder)."""
    if subset == "val":
        return pairs[::10]
    if subset == "train":
        return [p for i, p in enumerate(pairs) if i % 10]
    return list(pairs)


def read_pairs(
    pairs: list[tuple[Path, Path]], max_side: int | None = 640
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decode matched (before, after) files as uint8 arrays, both downscaled alike to
    ``max_side``; a one-line error names a pair whose images differ in size (not aligned)."""
    out = []
    for b, a in pairs:
        x, y = read_image(b), read_image(a)
        if x.shape != y.shape:
            size = lambda t: (t.shape[1], t.shape[0])  # noqa: E731
            raise RestorableError(_misaligned(b, a, size(x), size(y)))
        out.append((resize_max_side(x, max_side), resize_max_side(y, max_side)))
    return out


class PairCrops:
    """Aligned random crops of cached pairs with random flips and 90° rotations.

    Photos are drawn with probability proportional to their area, so every pixel is about
    equally likely to be seen. Seeded: the same seed gives the same batches. A pair may hold
    several targets, ``(I, f(I; v0), f(I; v1), ...)``, one per setting of a conditioned model:
    :meth:`setting_batch` then draws a setting per crop as well.

    ``photos`` (one per pair) says which pairs are copies of one photo (``data.augment``: the
    plain pair, its rescaled and jittered copies); without it every pair is a photo of its own.
    """

    def __init__(
        self,
        pairs: list[tuple[np.ndarray, ...]],
        crop: int,
        seed: int = 0,
        photos: list[int] | None = None,
    ):
        keep = [i for i, p in enumerate(pairs) if min(p[0].shape[:2]) >= crop]
        self.pairs = [pairs[i] for i in keep]
        if not self.pairs:
            raise RestorableError(f"no photo is at least {crop} px on its shorter side")
        self.crop = crop
        self.targets = len(self.pairs[0]) - 1
        areas = np.array([p[0].shape[0] * p[0].shape[1] for p in self.pairs], dtype=np.float64)
        if photos is None:
            self.weights = areas / areas.sum()
        else:
            # Weighted per photo, then by area within a photo: each photo is drawn as often as
            # its plain pair alone would be (the copies share its weight), and within it every
            # pixel of every copy is equally likely. Plain area weighting would tilt training
            # towards the large photos, the only ones big enough for rescaled copies (up to
            # 1 + 0.75² + 0.5² = 1.8× their weight), so an A/B of augmentation would measure a
            # change of photo mix as well; per copy (each equal) would draw a half-size copy's
            # pixels four times as often as the plain pair's.
            group = np.array([photos[i] for i in keep])
            per_photo = np.zeros(group.max() + 1)
            np.maximum.at(per_photo, group, areas)  # the plain pair, the largest copy
            in_photo = np.zeros(group.max() + 1)
            np.add.at(in_photo, group, areas)
            weights = per_photo[group] * areas / in_photo[group]
            self.weights = weights / weights.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), each uint8 (size, crop, crop, 3)."""
        xs, ys, _ = self.setting_batch(size)
        return xs, ys

    def setting_batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs, targets, setting index per crop): with one target the index is always 0."""
        xs, ys, ks, _ = self.placed_batch(size)
        return xs, ys, ks

    def placed_batch(
        self, size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int, int, int, bool]]]:
        """:meth:`setting_batch` and where each crop came from: (pair index, top, left, quarter
        turns k, mirrored) — the crop is ``np.rot90(photo[top:, left:][:c, :c], k)``, then
        mirrored left-right — for what reads the whole photo besides the crop."""
        c = self.crop
        xs, ys, ks, where = [], [], [], []
        for i in self.rng.choice(len(self.pairs), size=size, p=self.weights):
            x = self.pairs[i][0]
            # drawn only when there is a choice: single-target batches stay as they were
            s = int(self.rng.integers(self.targets)) if self.targets > 1 else 0
            y = self.pairs[i][1 + s]
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
            ks.append(s)
            where.append((int(i), int(top), int(left), k, flip))
        return np.stack(xs), np.stack(ys), np.array(ks), where

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
