"""``restorable eval``: how close the stored output is to the operator, and the restored photo
to the original, on photos the model never trained on.

    photo ─► apply ─► PNG / JPEG q (real bytes) ─► decode ─┬─► vs f(photo): approximation
                                                           └─► restore ─► vs photo: restoration

PSNR on 8-bit images (peak 255); SSIM as scikit-image computes it (default 7×7 window,
channel_axis=-1, data_range=255). The reference is the classic operator rounded to 8 bits.
Validation photos are used at their stored size (up to 1024 px), not the training size.

A conditioned model is measured at one setting (``params``, default the operator's); a model
learned from before/after pairs (``train --pairs``) has no operator: its reference is the AFTER
image of each pair it held out of training (both downscaled alike to 1024 px at most).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from restorable.data.pairs import (
    compute_pairs,
    load_pairs,
    match_pairs,
    photo_paths,
    read_pairs,
    split_pairs,
)
from restorable.errors import RestorableError
from restorable.evaluation.metrics import (
    clipped_pixels,
    edited_pixels,
    masked_psnr,
    psnr,
    ssim,
)
from restorable.models import RestorableModel, load, model_for
from restorable.network.storage import jpeg_roundtrip


def _png_roundtrip(x: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "PNG")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if finite:
        return float(np.mean(finite))
    return float("inf") if any(math.isinf(v) for v in values) else float("nan")


# What users of the applications judge, beyond whole-image figures (restore PSNR over a region):
# exposure: the highlights the brightening clipped (what only the hidden original brings back);
# retouch: the pixels the retouching changed, on photos where it found a face (portraits).
def _region(op: str, img: np.ndarray, ref: np.ndarray) -> tuple[str, np.ndarray] | None:
    if op == "exposure":
        return "clipped", clipped_pixels(ref)
    if op == "retouch":
        from restorable.operators.photo import detect_faces

        if detect_faces(img.astype(np.float32) / 255):
            return "portrait_retouched", edited_pixels(img, ref)
    return None


TEXTURE_SIDE = 512


def _texture_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Type III: how far the texture statistics of ``a`` lie from ``b``'s (uint8 images) — the
    relative Gram distance of :mod:`restorable.evaluation.style_metrics` at 512 px long side, so
    that pixel losses' blur shows even where PSNR cannot judge synthesised strokes (#10)."""
    from restorable.evaluation.style_metrics import resize_long, style_distance

    def prep(x: np.ndarray) -> np.ndarray:
        return resize_long(x.astype(np.float32) / 255, TEXTURE_SIDE)

    return style_distance(prep(a), prep(b))


PAIRS_MAX_SIDE = 1024  # held-out pairs of a user's edit are measured at most this large


def _operator_kind(op: str) -> str | None:
    """The paper's type of a registered operator; None for a model learned from pairs."""
    from restorable.operators import get_operator

    try:
        return get_operator(op).kind
    except RestorableError:
        return None


def held_out_pairs(model: RestorableModel, limit: int | None = None) -> list[tuple]:
    """(name, before, after) of the pairs a model learned from pairs never trained on, read from
    the folders its card records (a one-line error if they moved or changed)."""
    record = model.card.training.get("pairs") or {}
    try:
        held = split_pairs(match_pairs(record["before"], record["after"]), "val")
    except (KeyError, RestorableError) as exc:
        raise RestorableError(
            f"model {model.card.stem!r}: its before/after pairs are not where it was trained "
            f"({record.get('before')}, {record.get('after')}): {exc}"
        ) from None
    if [b.stem for b, _ in held] != record.get("held_out"):
        raise RestorableError(
            f"model {model.card.stem!r}: the pair folders changed since training; the held-out "
            "pairs are no longer the ones it never saw"
        )
    held = held[:limit]
    pairs = read_pairs(held, PAIRS_MAX_SIDE)
    return [(b.name, x, y) for (b, _), (x, y) in zip(held, pairs, strict=True)]


def evaluate_model(
    model: RestorableModel,
    photos: str | None = None,
    jpeg_qualities: list[int] | None = None,
    limit: int | None = None,
    max_side: int | None = None,
    progress: bool = True,
    params: dict | None = None,
) -> dict:
    """Per-photo and mean figures for PNG and each JPEG quality; ``params``: a conditioned
    model's setting (default the operator's). A model learned from pairs is measured on the
    pairs it held out (``photos`` does not apply)."""
    settings = model.settings(**(params or {}))
    if model.card.training.get("pairs"):
        if photos is not None:
            raise RestorableError(
                f"model {model.card.stem!r} learned from pairs: eval uses its held-out pairs "
                "(leave out --photos)"
            )
        items = held_out_pairs(model, limit)
    else:
        paths = photo_paths(photos, "val")[:limit]
        files = compute_pairs(model.op, paths, {**model.card.params, **settings}, max_side)
        items = [(p.name, x, y) for p, (x, y) in zip(paths, load_pairs(files), strict=True)]
    formats = ["png"] + [f"jpeg{q}" for q in jpeg_qualities or []]
    texture = _operator_kind(model.op) == "III"
    rows = []
    for name, img, ref in tqdm(items, desc=f"eval {model.card.stem}", disable=not progress):
        x = img.astype(np.float32) / 255
        guide = ref.astype(np.float32) / 255 if model.net.cfg.guided else None
        estimate = None
        if getattr(model.net, "estimator", None) is not None:  # a learned model's own estimate
            estimate = model.guide(img)
            guide = estimate.astype(np.float32) / 255
        out = model.apply_float(x, guide, **settings)
        out = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
        region = _region(model.op, img, ref)
        row = {
            "photo": name,
            "size": f"{img.shape[1]}x{img.shape[0]}",
            # what doing nothing scores: how far the operator moves this photo
            "identity_approx_psnr": psnr(img, ref),
        }
        if estimate is not None:  # how close the model's estimate alone comes (ψ reads it)
            row["estimate_psnr"] = psnr(estimate, ref)
        for fmt in formats:
            stored = _png_roundtrip(out) if fmt == "png" else jpeg_roundtrip(out, int(fmt[4:]))
            restored = model.restore(stored)
            row[fmt] = {
                "approx_psnr": psnr(stored, ref),
                "approx_ssim": ssim(stored, ref),
                "restore_psnr": psnr(restored, img),
                "restore_ssim": ssim(restored, img),
            }
            if region is not None:
                name, mask = region
                row[fmt][f"{name}_restore_psnr"] = masked_psnr(restored, img, mask)
                row[fmt][f"{name}_fraction"] = float(mask.mean())
                if fmt == "png":
                    row[fmt][f"{name}_identity_psnr"] = masked_psnr(stored, img, mask)
            if texture and fmt == "png":
                row[fmt]["texture_distance"] = _texture_distance(stored, ref)
                row[fmt]["texture_distance_identity"] = _texture_distance(img, ref)
        rows.append(row)
    keys = {fmt: sorted({k for r in rows for k in r[fmt]}) for fmt in formats}
    mean = {
        fmt: {k: _mean([r[fmt][k] for r in rows if k in r[fmt]]) for k in keys[fmt]}
        for fmt in formats
    }
    return {
        "op": model.op,
        "model": model.version,
        **({"params": settings} if settings else {}),
        "photos": len(rows),
        "identity_approx_psnr": _mean([r["identity_approx_psnr"] for r in rows]),
        **(
            {"estimate_psnr": _mean([r["estimate_psnr"] for r in rows])}
            if rows and "estimate_psnr" in rows[0]
            else {}
        ),
        # photos the application's own region figure covers (retouch: those with a face)
        "region_photos": sum(
            any(k.endswith("_restore_psnr") and math.isfinite(v) for k, v in r["png"].items())
            for r in rows
        ),
        "mean": mean,
        "per_photo": rows,
    }


def format_report(result: dict) -> str:
    """A plain table of the means (and the count of photos)."""
    names = [r["photo"] for r in result.get("per_photo", [])]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    setting = ", ".join(f"{k}={v:g}" for k, v in result.get("params", {}).items())
    lines = [
        f"{result['op']} ({result['model']}{', ' + setting if setting else ''}), "
        f"{result['photos']} photos held out of training" + (f": {shown}" if names else ""),
        f"{'format':8} {'approx PSNR':>12} {'SSIM':>7} {'restore PSNR':>13} {'SSIM':>7}",
    ]
    for fmt, m in result["mean"].items():
        lines.append(
            f"{fmt:8} {m['approx_psnr']:12.2f} {m['approx_ssim']:7.4f} "
            f"{m['restore_psnr']:13.2f} {m['restore_ssim']:7.4f}"
        )
    for fmt, m in result["mean"].items():
        for k in m:
            if k.endswith("_restore_psnr"):
                what = k[: -len("_restore_psnr")]
                lines.append(
                    f"{fmt:8} {what.replace('_', ' ')} pixels: restore PSNR {m[k]:.2f} dB "
                    f"(the edited file itself: {m.get(what + '_identity_psnr', float('nan')):.2f})"
                )
    png = result["mean"].get("png", {})
    if "texture_distance" in png:
        lines.append(
            f"texture distance to the operator's output (Gram, lower = closer): "
            f"{png['texture_distance']:.4f} (the photo itself: "
            f"{png['texture_distance_identity']:.4f})"
        )
    lines.append(f"(doing nothing scores {result['identity_approx_psnr']:.2f} dB approximation)")
    if "estimate_psnr" in result:
        lines.append(f"(the model's own estimate alone scores {result['estimate_psnr']:.2f} dB)")
    return "\n".join(lines)


def run_eval(
    op: str,
    photos: str | None,
    jpeg_qualities: list[int] | None,
    json_path: str | None,
    weights_dir: str | None = None,
    limit: int | None = None,
    params: dict | None = None,
) -> dict:
    # a setting asked of an operator picks its conditioned model (OP-cond), as apply does
    model = load(model_for(op, False, weights_dir, conditioned=bool(params)), weights_dir)
    result = evaluate_model(model, photos, jpeg_qualities, limit, params=params)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
    return result
