"""Train the fingerprint classifier identification reads (network/fingerprint.py says why).

The examples are the shipped candidates' own edits of the project's training photos: for each
photo a square (up to 384 px, at a random place), each candidate's edit of it and the photo
unedited; each stored as PNG and, for the ``OP-jpeg`` models and the unedited photo, as JPEG at a
random quality in 80-95 (4:2:0, Pillow); from each, ``CROPS`` crops of ``CROP`` px at random
offsets, so every Haar phase is seen. Training reads 96-px crops of those, cross entropy, AdamW
with a cosine rate, bf16 on the CPU. The photos the identification rule is calibrated on
(``bench_identify.py --split train --skip 6 --limit 4``) are left out, so that the rule's
calibration sees the classifier on photos it never saw. Run once, by a maintainer, after any
candidate model is retrained (the card's digests name the weights it knows)::

    python -m restorable.training.fingerprint --minutes 25 --threads 2 --install

Making the edits takes about 13 minutes on two cores (cached under --out).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SIDE = 384  # px, the square each candidate edits (identification reads 256 of it)
CROP = 128  # px, the crops kept of each edit
CROPS = 2  # crops kept per edit and storage
PATCH = 96  # px, what one training example is (a random part of a crop)
QUALITY = (80, 95)  # JPEG qualities drawn for the lossy storages
CALIBRATION = slice(6, 10)  # training photos the identification rule is calibrated on: left out
MIN_SIDE = 192  # photos smaller than this are left out


def _edits_of(args: tuple[list[str], list[str], int, int]) -> tuple[list, list]:
    """One worker's share: (crops, classes) of every candidate's edit of its photos."""
    import torch

    from restorable.data.pairs import shared_photos
    from restorable.files import read_image
    from restorable.models import load
    from restorable.network.storage import jpeg_roundtrip

    photos, names, seed, per_edit = args
    torch.set_num_threads(1)
    models = {n: load(n) for n in names}
    lossy = {n: bool(m.card.training.get("jpeg")) for n, m in models.items()}
    rng = np.random.default_rng(seed)
    crops, classes = [], []

    def keep(img: np.ndarray, label: int) -> None:
        for _ in range(per_edit):
            y0, x0 = (int(rng.integers(0, s - CROP + 1)) for s in img.shape[:2])
            crops.append(img[y0 : y0 + CROP, x0 : x0 + CROP])
            classes.append(label)

    for photo in photos:
        full = read_image(shared_photos() / photo)
        h, w = full.shape[:2]
        side = min(SIDE, min(h, w) // 8 * 8)
        if side < MIN_SIDE:
            continue
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img = np.ascontiguousarray(full[y0 : y0 + side, x0 : x0 + side])
        for label, src in enumerate(["none", *names]):
            edit = img if src == "none" else models[src].apply(img)
            keep(edit, label)
            if src == "none" or lossy[src]:
                quality = int(rng.integers(QUALITY[0], QUALITY[1] + 1))
                keep(jpeg_roundtrip(edit, quality, subsampling=2), label)  # 4:2:0, as re-saves
    return crops, classes


def make_edits(
    names: list[str], workers: int = 2, seed: int = 1234, per_edit: int = CROPS
) -> tuple[np.ndarray, np.ndarray]:
    """(N×CROP×CROP×3 uint8 crops, N classes: 0 unedited, 1 + the index in ``names``);
    ``per_edit`` crops of each edit and storage."""
    from restorable.data.split import load_split

    train = load_split()["train"]
    photos = [p for i, p in enumerate(train) if i not in range(len(train))[CALIBRATION]]
    shares = [(photos[k::workers], names, seed + k, per_edit) for k in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_edits_of, shares))
    crops = np.stack([c for part, _ in parts for c in part])
    classes = np.array([c for _, part in parts for c in part], np.int64)
    return crops, classes


def train(
    crops: np.ndarray,
    classes: np.ndarray,
    n_classes: int,
    minutes: float,
    seed: int = 0,
    batch: int = 32,
    lr: float = 2e-3,
    progress: bool = True,
    steps: int | None = None,
    init: dict | None = None,
):
    """The classifier trained for ``minutes`` of wall time (or exactly ``steps`` steps, the
    rate's schedule over them: deterministic); returns (network, steps). ``init``: weights to
    start from (a state dict of a classifier with the same classes), e.g. the shipped one."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from restorable.network.fingerprint import Fingerprint

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Fingerprint(n_classes)
    if init is not None:
        net.load_state_dict({k: v.float() for k, v in init.items()})
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    total, start, step = minutes * 60, time.time(), 0
    bar = tqdm(
        total=steps or int(total),
        unit="step" if steps else "s",
        desc="fingerprint",
        disable=not progress,
    )

    def done() -> float:  # the share of the budget used
        return step / steps if steps else (time.time() - start) / total

    while done() < 1.0:
        idx = rng.integers(0, len(crops), batch)
        oy, ox = rng.integers(0, CROP - PATCH + 1, 2)
        x = torch.from_numpy(crops[idx, oy : oy + PATCH, ox : ox + PATCH])
        x = x.permute(0, 3, 1, 2).float() / 255.0
        for group in opt.param_groups:  # cosine over the wall-clock budget
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * done()))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), torch.from_numpy(classes[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        bar.update((step if steps else int(time.time() - start)) - bar.n)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return net.eval(), step


def _digests(names: list[str]) -> dict[str, str]:
    """The weights digest of each installed model named."""
    from restorable.fingerprint import weights_digest
    from restorable.models import load

    return {n: weights_digest(load(n).net) for n in names}


def install(
    net, names: list[str], facts: dict, folder: Path | None = None, digests: dict | None = None
) -> Path:
    """Write the classifier (fp16) and its card, with the digest of each model it knows
    (``digests``, or those of the installed models); returns the weights' path."""
    from restorable.fingerprint import FOLDER, STEM
    from restorable.models import write_weights

    card = dict(
        classes=["none", *names],
        width=net.body[0].out_channels,
        digests=digests or _digests(names),
        training=facts,
    )
    return write_weights(folder or FOLDER, STEM, net, card, half=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=25.0, help="training budget (wall clock)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--workers", type=int, default=2, help="processes making the edits")
    p.add_argument("--out", default="runs/fingerprint", help="the edits' cache and the weights")
    p.add_argument("--install", action="store_true", help="ship it (weights/identify)")
    p.add_argument("--crops", type=int, default=CROPS, help="crops kept per edit and storage")
    p.add_argument("--lr", type=float, default=2e-3, help="the cosine schedule's first rate")
    p.add_argument(
        "--init-from",
        help="start from this classifier's weights (.safetensors; its card beside it must list "
        "the same classes), e.g. the shipped src/restorable/weights/identify/fingerprint",
    )
    args = p.parse_args()

    import torch

    from restorable.realworld import candidates

    names = candidates()
    digests = _digests(names)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "edits.npz"  # reused only while every candidate has the same weights
    key = json.dumps(digests) if args.crops == CROPS else json.dumps([digests, args.crops])
    if cache.exists() and str(np.load(cache)["digests"]) == key:
        data = np.load(cache)
        crops, classes = data["crops"], data["classes"]
    else:
        crops, classes = make_edits(names, args.workers, per_edit=args.crops)
        np.savez(cache, crops=crops, classes=classes, digests=key)
    init, before = None, None
    if args.init_from:
        from safetensors.torch import load_file

        weights = Path(args.init_from).with_suffix(".safetensors")
        card = json.loads(weights.with_suffix(".json").read_text())
        if card["classes"] != ["none", *names]:
            raise SystemExit(f"error: {weights} knows other classes than today's candidates")
        init, before = load_file(weights), card.get("training")
    torch.set_num_threads(args.threads)
    net, steps = train(crops, classes, len(names) + 1, args.minutes, lr=args.lr, init=init)
    facts = dict(
        steps=steps,
        minutes=args.minutes,
        crops_per_edit=args.crops,
        lr=args.lr,
        device=f"CPU, {args.threads} threads",
        examples=len(crops),
        photos="shared/photos (split.json train, less the calibration photos 6-9)",
    )
    if before is not None:
        facts["started_from"] = before
    path = install(net, names, facts, None if args.install else out, digests)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
