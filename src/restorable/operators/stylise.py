"""Type III (generative) stylisation: colour pencil drawing.

img ──► grey ──► gradient ──► 8 directional line convolutions ──► 3-px strokes S
     └─► tone map to the paper's pencil-tone histogram (0-255 grid) J ──► pencil texture H^β ≈ J
R = S·H^β  ──► as the Y of the input's YUV ──► colour pencil drawing
"""

from __future__ import annotations

import cv2
import numpy as np

from restorable.operators.registry import register

_N_DIRECTIONS = 8
# Gradients a stroke needs to reach full darkness at least (per pixel, grey in [0, 1]); photos'
# stroke maps have their 99.5th percentile above it, so it only acts on nearly flat images.
_STROKE_FLOOR = 0.2
# The paper's tone model on the 0-255 grid (Lu et al. 2012, Table 1): bright Laplacian σb, mid
# uniform [ua, ub], dark Gaussian (μd, σd); weights ω bright : mid : dark (see cpd's docstring).
_SIGMA_B, _U_A, _U_B, _MU_D, _SIGMA_D = 9.0, 105.0, 225.0, 90.0, 11.0
_TONE_WEIGHTS = (52.0, 37.0, 11.0)


def _line_kernel(size: int, theta: float, width: float) -> np.ndarray:
    """Anti-aliased line segment of length ``size`` and ``width`` px through the centre at θ.

    Weight 1 within (width - 1) / 2 px of the line, falling linearly to 0 one pixel further;
    normalised by the length (the sum of the 1-px line), so that convolving a 1-px line of
    gradient with it draws a ``width``-px stroke of the same strength.
    """
    c = (size - 1) / 2.0
    side = max(size, int(np.ceil(width)) + 2) | 1  # room for the width on short kernels
    yy, xx = np.mgrid[:side, :side].astype(np.float64) - (side - 1) / 2.0
    along = xx * np.cos(theta) + yy * np.sin(theta)
    across = np.abs(-xx * np.sin(theta) + yy * np.cos(theta))
    inside = np.abs(along) <= c + 0.5
    ker = np.where(inside, np.clip((width + 1.0) / 2.0 - across, 0.0, 1.0), 0.0)
    one_px = np.where(inside, np.clip(1.0 - across, 0.0, 1.0), 0.0)
    return (ker / one_px.sum()).astype(np.float32)


def _strokes(grey: np.ndarray, size: int, width: float, darkness: float) -> np.ndarray:
    """Line drawing S in [0, 1] (1 = paper) from gradient classification (Lu et al. Sec. 3.1).

    G = |∇grey| (forward differences); each pixel's gradient goes to the direction i whose
    1-px line L_i responds most to G (C_i); S' = Σ L_i^width ⊗ C_i redraws it as ``width``-px
    strokes along that direction; S = 1 - darkness · S' / scale, where scale is the 99.5th
    percentile of S' (a robust stand-in for the paper's maximum), floored at _STROKE_FLOOR so
    that nearly flat images (smooth gradients) do not turn their faint gradients into strokes.
    """
    if width <= 0 or darkness <= 0:
        return np.ones_like(grey)
    gx = np.diff(grey, axis=1, append=grey[:, -1:])
    gy = np.diff(grey, axis=0, append=grey[-1:])
    grad = np.sqrt(gx * gx + gy * gy).astype(np.float32)
    thetas = [np.pi * k / _N_DIRECTIONS for k in range(_N_DIRECTIONS)]
    classify = [_line_kernel(size, t, 1.0) for t in thetas]
    responses = np.stack(
        [cv2.filter2D(grad, -1, k, borderType=cv2.BORDER_REFLECT) for k in classify]
    )
    best = responses.argmax(axis=0)
    strokes = np.zeros_like(grad)
    for i, t in enumerate(thetas):
        c_i = np.where(best == i, grad, 0.0).astype(np.float32)
        strokes += cv2.filter2D(
            c_i, -1, _line_kernel(size, t, width), borderType=cv2.BORDER_REFLECT
        )
    scale = max(float(np.percentile(strokes, 99.5)), _STROKE_FLOOR)
    return np.clip(1.0 - darkness * strokes / scale, 0.0, 1.0)


def _pencil_tone_model(
    weights: tuple[float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's parametric pencil-tone histogram on the 0-255 grid (Lu et al. Eq. 4-6).

    p1 (bright): Laplacian (1/σb)·exp(-(255 - v)/σb), σb = 9; p2 (mid tones): uniform on
    [ua, ub] = [105, 225]; p3 (dark): (1/sqrt(2π σd))·exp(-(v - μd)²/(2σd²)), μd = 90, σd = 11,
    written with the paper's own normaliser 1/sqrt(2π σd) (also that of the common reference
    code), which gives the dark layer sqrt(σd) ≈ 3.3 times the mass of its weight. Evaluated at
    the 256 grey levels v = 0..255 and mixed as ω1·p1 + ω2·p2 + ω3·p3, normalised.

    Returns ``(edges, cdf)``: level v covers [(v - 0.5)/255, (v + 0.5)/255] ∩ [0, 1] on the
    [0, 1] scale, and ``cdf[k]`` is the model's mass below ``edges[k]`` (257 values each).
    """
    w1, w2, w3 = _TONE_WEIGHTS if weights is None else weights
    v = np.arange(256, dtype=np.float64)
    p1 = np.exp(-(255.0 - v) / _SIGMA_B) / _SIGMA_B
    p2 = ((v >= _U_A) & (v <= _U_B)) / (_U_B - _U_A)
    p3 = np.exp(-((v - _MU_D) ** 2) / (2 * _SIGMA_D**2)) / np.sqrt(2 * np.pi * _SIGMA_D)
    p = w1 * p1 + w2 * p2 + w3 * p3
    cdf = np.concatenate([[0.0], np.cumsum(p) / p.sum()])
    edges = np.clip((np.arange(257) - 0.5) / 255.0, 0.0, 1.0)
    return edges, cdf


def _tone_map(grey: np.ndarray) -> np.ndarray:
    """Histogram-match ``grey`` to the pencil tone model, then box-smooth (paper Sec. 3.2)."""
    hist, bins = np.histogram(grey, bins=256, range=(0.0, 1.0))
    src_cdf = np.concatenate([[0.0], np.cumsum(hist) / max(grey.size, 1)])
    edges, cdf = _pencil_tone_model()
    tone = np.interp(np.interp(grey, bins, src_cdf), cdf, edges).astype(np.float32)
    return cv2.blur(tone, (3, 3), borderType=cv2.BORDER_REFLECT)


def pencil_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Procedural pencil texture in (0, 1): seeded sparse grain smeared into diagonal hatching.

    Stands in for the scanned pencil-on-paper texture of the paper (nothing is downloaded):
    sparse random dots, motion-blurred along 45° into short strokes, plus fine paper grain.
    """
    rng = np.random.default_rng(seed)
    dots = (rng.random((h, w)) < 0.08).astype(np.float32) * rng.random((h, w), dtype=np.float32)
    length = 15
    ker = np.eye(length, dtype=np.float32)[::-1] / length  # anti-diagonal: strokes at 45°
    strokes = cv2.filter2D(dots, -1, ker, borderType=cv2.BORDER_WRAP)
    strokes /= max(float(strokes.max()), 1e-6)
    grain = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (3, 3), 0.7)
    tex = 1.0 - 0.55 * strokes - 0.12 * grain
    return np.clip(tex, 0.05, 0.98).astype(np.float32)


@register(
    "cpd",
    "III",
    "Colour pencil drawing",
    "Lu, Xu, Jia. Combining sketch and tone for pencil drawing production. NPAR 2012",
)
def cpd(
    img: np.ndarray,
    *,
    stroke_width: float = 3.0,
    stroke_darkness: float = 1.0,
    lam: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """Colour pencil drawing: directional strokes times tone-matched pencil texture.

    Cewu Lu, Li Xu, Jiaya Jia. "Combining sketch and tone for pencil drawing production".
    NPAR 2012. Steps: (1) strokes (Sec. 3.1): gradient magnitude classified into 8 directions by
    line convolution (kernel length 1/30 of the short side) and redrawn along the winning
    direction as strokes ``stroke_width`` px wide (3 by default, as the paper's examples);
    (2) tone (Sec. 3.2): histogram matching to the paper's three-layer pencil-tone model
    evaluated on the 0-255 grid as its formula intends (bright Laplacian σb = 9, mid uniform
    on [105, 225], dark Gaussian μd = 90, σd = 11); (3) texture: a procedurally generated
    pencil texture H raised to a per-pixel power β so that H^β ≈ J; (4) colour: the pencil
    result replaces Y in the input's YUV, as the paper's colour version. Deterministic for a
    fixed ``seed``.

    Layer weights: the paper's ω bright : mid : dark = 52 : 37 : 11 (Table 1, learned by the
    authors from real pencil drawings; the bright : mid : dark reading is that of the public
    reimplementations), not the 76 : 22 : 2 of the widely copied reimplementation, whose origin
    is undocumented. Chosen because the task is the paper's operator and because 76 : 22 : 2
    barely darkens: with the paper's dark normaliser 1/sqrt(2π σd) the model puts about 28 % of
    the mass in the dark layer, 29 % mid, 43 % bright (13 % below 0.35), where 76 : 22 : 2
    gives 6 % dark (3 % below 0.35), little more than this operator's former 2.5 % dark (1 %
    below 0.35), when σd was evaluated on the [0, 1] scale and the drawings came out too light.

    Remaining differences from the paper: the pencil texture is procedural (seeded grain
    smeared into 45° hatching) instead of a scanned one (nothing is downloaded); β is a local
    least-squares estimate (Gaussian-weighted windows of scale ~ 1/λ) instead of the paper's
    global smooth solve with weight λ, which is smooth and much cheaper; the stroke map is
    normalised by its 99.5th percentile (floored for nearly flat images) instead of its
    maximum; no median pre-filtering; the tone map is smoothed by a 3x3 box.

    Args:
        img: float32 HxWx3 in [0, 1].
        stroke_width: stroke width in pixels (default 3; useful 1-6; 0 draws no strokes).
        stroke_darkness: darkness of the strokes (default 1.0; useful 0.3-2; 0 = none).
        lam: smoothness of the texture exponent β (default 0.2 as the paper; 0.05-1).
        seed: seed of the procedural pencil texture (default 0).
    """
    img = np.ascontiguousarray(img, dtype=np.float32)
    h, w = img.shape[:2]
    yuv = cv2.cvtColor(img, cv2.COLOR_RGB2YUV)
    grey = np.clip(yuv[:, :, 0], 0.0, 1.0)
    size = max(3, (min(h, w) // 30) | 1)
    strokes = _strokes(grey, size, float(stroke_width), float(stroke_darkness))
    tone = np.clip(_tone_map(grey), 0.02, 1.0)
    tex = pencil_texture(h, w, int(seed))
    log_h, log_j = np.log(tex), np.log(tone)
    s = max(0.5, 1.0 / (5.0 * float(lam)))  # lam 0.2 -> a 1-pixel-sigma window
    num = cv2.GaussianBlur(log_h * log_j, (0, 0), s)
    den = cv2.GaussianBlur(log_h * log_h, (0, 0), s)
    beta = num / np.maximum(den, 1e-6)
    texture = np.exp(beta * log_h)
    yuv[:, :, 0] = np.clip(strokes * texture, 0.0, 1.0)
    out = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
