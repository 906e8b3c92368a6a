"""Curves PSNR vs CPU minutes for candidate ψ's that see the whole photo (issue #26, part 2).

    photos (split.json) ─resize 384─► I ─reference(op)─► f(I)     cached once in runs-psi/
    train: random 96-px crop of I + thumbnail of the WHOLE I + crop box ─► ψ ─► ≈ f(I) on crop
    eval:  every CPU minute, whole validation photos in one pass ─► 8-bit PSNR vs f(I)

Each candidate of ``restorable.network.global_psi`` is trained ALONE as a plain approximator of
f (no invertible part), one torch thread, so many steps fit in a CPU minute. The budget is
process CPU time (``time.process_time``) spent training, not wall time and not evaluation, so
the shared machine's load does not bend the curves. Validation photos are never trained on.

    python benchmarks/psi_curves.py --ops bwp llf --candidates local film grid gridfilm --minutes 6
    python benchmarks/psi_curves.py --plot     # results/psi_curves.json → docs/psi_curves.png
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "psi_curves.json"
FIGURE = ROOT / "docs" / "psi_curves.png"
CACHE = ROOT / "runs-psi"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load_photos(size: int, n_val: int) -> dict[str, list[np.ndarray]]:
    """Training and validation photos, longer side ``size``, sides cut to multiples of 8 (the
    CNN candidates' stride), uint8; cached so every operator and run reads the same pixels."""
    from restorable.data.pairs import photo_paths, resize_max_side
    from restorable.files import read_image

    path = CACHE / f"photos-{size}.npz"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        out = {}
        for subset in ("train", "val"):
            for i, p in enumerate(photo_paths(None, subset)):
                img = resize_max_side(read_image(p), size)
                h, w = img.shape[0] // 8 * 8, img.shape[1] // 8 * 8
                if min(h, w) >= 128:
                    out[f"{subset}/{i:04d}"] = np.ascontiguousarray(img[:h, :w, :3])
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **out)
        os.replace(tmp, path)
    with np.load(path) as z:
        keys = sorted(z.files)
        train = [z[k] for k in keys if k.startswith("train/")]
        val = [z[k] for k in keys if k.startswith("val/")]
    # a fixed, spread subset of validation photos (every k-th), the same for every run
    step = max(1, len(val) // n_val)
    return {"train": train, "val": val[::step][:n_val]}


def load_targets(op: str, size: int, photos: dict[str, list[np.ndarray]]) -> dict:
    """f(I) on each WHOLE photo (uint8), cached per operator."""
    from restorable import reference
    from restorable.image import to_uint8

    path = CACHE / f"{op}-{size}-val{len(photos['val'])}.npz"
    if not path.exists():
        fn = reference(op)
        out = {}
        for subset in ("train", "val"):
            for i, img in enumerate(photos[subset]):
                out[f"{subset}/{i:04d}"] = to_uint8(fn(img.astype(np.float32) / 255))
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **out)
        os.replace(tmp, path)
    with np.load(path) as z:
        return {s: [z[f"{s}/{i:04d}"] for i in range(len(photos[s]))] for s in ("train", "val")}


def all_candidates() -> dict:
    """Every ψ candidate: the whole-photo ones (global_psi) and the learned LLF (pyramid_psi)."""
    from restorable.network import global_psi, pyramid_psi

    return {**global_psi.CANDIDATES, **pyramid_psi.CANDIDATES}


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).float().div(255)


def psnr8(pred: torch.Tensor, target: np.ndarray) -> float:
    """PSNR (dB) of the uint8-rounded prediction against the uint8 target."""
    p = torch.clamp(pred[0].permute(1, 2, 0) * 255, 0, 255).round().numpy()
    mse = float(np.mean((p - target.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-10))


@torch.no_grad()
def evaluate(model, val_in: list[torch.Tensor], val_thumbs, val_out: list[np.ndarray]) -> float:
    """Mean PSNR over the whole validation photos, each in one pass (box = whole photo)."""
    from restorable.network.global_psi import whole_box

    model.eval()
    scores = [
        psnr8(model(x[None], t, whole_box(1)), y)
        for x, t, y in zip(val_in, val_thumbs, val_out, strict=True)
    ]
    model.train()
    return float(np.mean(scores))


def train_curve(
    op: str,
    candidate: str,
    data: dict,
    targets: dict,
    minutes: float,
    every: float,
    crop: int,
    batch: int,
    lr: float,
    seed: int,
    log,
) -> list[dict]:
    """Train one candidate for ``minutes`` of process CPU time; evaluate every ``every``."""
    from restorable.network.global_psi import thumbnail

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tr_in = [_t(x) for x in data["train"]]
    tr_out = [_t(y) for y in targets["train"]]
    with torch.no_grad():
        tr_th = [thumbnail(x[None]) for x in tr_in]
        va_in = [_t(x) for x in data["val"]]
        va_th = [thumbnail(x[None]) for x in va_in]
    model = all_candidates()[candidate]()
    opt = torch.optim.Adam(model.parameters(), lr)
    identity = float(
        np.mean([psnr8(x[None], y) for x, y in zip(va_in, targets["val"], strict=True)])
    )
    points = [
        {
            "op": op,
            "candidate": candidate,
            "cpu_minutes": 0.0,
            "steps": 0,
            "psnr": evaluate(model, va_in, va_th, targets["val"]),
            "identity": identity,
        }
    ]
    log(f"{op} {candidate}: identity {identity:.2f}, start {points[0]['psnr']:.2f} dB")
    spent, steps, next_eval = 0.0, 0, every
    while spent < minutes * 60 - 1e-9:
        t0 = time.process_time()
        xs, ys, ths, boxes = [], [], [], []
        for i in rng.integers(len(tr_in), size=batch):
            _, h, w = tr_in[i].shape
            y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            xs.append(tr_in[i][:, y0 : y0 + crop, x0 : x0 + crop])
            ys.append(tr_out[i][:, y0 : y0 + crop, x0 : x0 + crop])
            ths.append(tr_th[i])
            boxes.append([y0 / h, x0 / w, crop / h, crop / w])
        x, y = torch.stack(xs), torch.stack(ys)
        loss = F.mse_loss(model(x, torch.cat(ths), torch.tensor(boxes)), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        steps += 1
        spent += time.process_time() - t0
        if spent >= next_eval * 60 or spent >= minutes * 60:
            p = evaluate(model, va_in, va_th, targets["val"])
            points.append(
                {
                    "op": op,
                    "candidate": candidate,
                    "cpu_minutes": round(spent / 60, 3),
                    "steps": steps,
                    "psnr": p,
                    "identity": identity,
                }
            )
            log(f"{op} {candidate}: {spent / 60:.2f} CPU min, {steps} steps, {p:.2f} dB")
            next_eval += every
    return points


def save_points(points: list[dict]) -> None:
    """Replace this (op, candidate)'s curve in results/psi_curves.json, keep the others."""
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"points": []}
    keys = {(p["op"], p["candidate"]) for p in points}
    kept = [p for p in old["points"] if (p["op"], p["candidate"]) not in keys]
    old["points"] = kept + points
    _atomic_write(RESULTS, (json.dumps(old, indent=1) + "\n").encode())


def plot(out: Path = FIGURE) -> None:
    """One panel per operator: PSNR vs CPU minutes, one line per candidate (Pillow; the
    project's venv has no matplotlib)."""
    from PIL import Image, ImageDraw

    pts = json.loads(RESULTS.read_text())["points"]
    ops = list(dict.fromkeys(p["op"] for p in pts))
    colours = {
        "local": (90, 90, 90),
        "film": (30, 110, 220),
        "grid": (230, 120, 20),
        "gridfilm": (30, 160, 60),
        "curve": (200, 40, 160),
        "slope": (200, 30, 30),
        "pyramid": (0, 160, 170),
    }
    pw, ph, m = 360, 260, 44
    cols = min(3, len(ops))
    rows = -(-len(ops) // cols)
    img = Image.new("RGB", (cols * pw, rows * ph + 24), "white")
    d = ImageDraw.Draw(img)
    x = 8
    for name, c in colours.items():
        d.line([(x, 12), (x + 20, 12)], fill=c, width=3)
        d.text((x + 24, 6), name, fill=(0, 0, 0))
        x += 80
    d.text(
        (x + 10, 6),
        "PSNR (dB, whole val photos) vs training CPU minutes; dotted: identity",
        fill=(0, 0, 0),
    )
    for k, op in enumerate(ops):
        ox, oy = (k % cols) * pw, 24 + (k // cols) * ph
        mine = [p for p in pts if p["op"] == op]
        ident = mine[0]["identity"]
        lo = min([p["psnr"] for p in mine] + [ident]) - 0.5
        hi = max(p["psnr"] for p in mine) + 0.5
        tmax = max(p["cpu_minutes"] for p in mine) or 1.0

        def xy(t, v, ox=ox, oy=oy, lo=lo, hi=hi, tmax=tmax):
            return (
                ox + m + (pw - m - 10) * t / tmax,
                oy + ph - 24 - (ph - 44) * (v - lo) / (hi - lo),
            )

        d.rectangle([xy(0, hi), xy(tmax, lo)], outline=(0, 0, 0))
        d.text((ox + m + 4, oy + 4), op, fill=(0, 0, 0))
        for v in np.linspace(lo, hi, 5):
            d.text((ox + 4, xy(0, v)[1] - 6), f"{v:.1f}", fill=(80, 80, 80))
        d.text((ox + m, oy + ph - 20), "0", fill=(80, 80, 80))
        d.text((ox + pw - 40, oy + ph - 20), f"{tmax:.1f} min", fill=(80, 80, 80))
        a, b = xy(0, ident), xy(tmax, ident)
        for s in np.arange(a[0], b[0], 8):
            d.line([(s, a[1]), (s + 3, a[1])], fill=(150, 150, 150))
        for cand, c in colours.items():
            line = sorted((p["cpu_minutes"], p["psnr"]) for p in mine if p["candidate"] == cand)
            if len(line) > 1:
                d.line([xy(t, v) for t, v in line], fill=c, width=2)
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.png")
    img.save(tmp)
    os.replace(tmp, out)
    print(f"wrote {out}")
    print("| op | identity | " + " | ".join(f"{c} last / best" for c in colours) + " | CPU min |")
    print("|---" * (len(colours) + 3) + "|")
    for op in ops:
        mine = [p for p in pts if p["op"] == op]
        cells = []
        for cand in colours:
            line = sorted((p["cpu_minutes"], p["psnr"]) for p in mine if p["candidate"] == cand)
            cells.append(f"{line[-1][1]:.2f} / {max(v for _, v in line):.2f}" if line else "-")
        tmax = max(p["cpu_minutes"] for p in mine)
        print(f"| {op} | {mine[0]['identity']:.2f} | " + " | ".join(cells) + f" | {tmax:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ops", nargs="+", default=["bwp", "llf"], help="operator ids")
    ap.add_argument(
        "--candidates",
        nargs="+",
        default=["local", "film", "grid", "gridfilm"],
        help="global_psi.CANDIDATES and pyramid_psi.CANDIDATES keys",
    )
    ap.add_argument("--minutes", type=float, default=6.0, help="training CPU minutes per curve")
    ap.add_argument("--every", type=float, default=1.0, help="CPU minutes between evaluations")
    ap.add_argument("--size", type=int, default=384, help="longer side of the photos")
    ap.add_argument("--val", type=int, default=8, help="number of whole validation photos")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", action="store_true", help="only draw docs/psi_curves.png")
    args = ap.parse_args()
    if args.plot:
        plot()
        return
    torch.set_num_threads(1)
    known = all_candidates()
    bad = [c for c in args.candidates if c not in known]
    if bad:
        raise SystemExit(f"unknown candidate(s) {bad}; choose from {list(known)}")

    def log(msg: str) -> None:
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    data = load_photos(args.size, args.val)
    log(f"{len(data['train'])} train, {len(data['val'])} val photos at {args.size} px")
    for op in args.ops:
        targets = load_targets(op, args.size, data)
        for cand in args.candidates:
            pts = train_curve(
                op,
                cand,
                data,
                targets,
                args.minutes,
                args.every,
                args.crop,
                args.batch,
                args.lr,
                args.seed,
                log,
            )
            save_points(pts)


if __name__ == "__main__":
    main()
