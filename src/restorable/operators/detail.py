"""Type I detail enhancement (LLF, WLS) and the black-and-white photographic style (BWP).

    llf: luminance Y ──► fast local Laplacian filter (Paris et al.'s r(i)) ──► Y' ──► RGB · Y'/Y
    wls: CIELAB L ──► two WLS smoothings ──► base, medium, fine ──► sigmoid boosts ──► L'; a, b · s
    bwp: grey ──► slope-limited histogram match to a model B&W photo ──► gain-limited local
         Laplacian gradient-histogram transfer ──► slope-limited match again ──► grey x 3

All take and return float32 HxWx3 images in [0, 1]. The shared engine is
:func:`local_laplacian`, the fast local Laplacian filter of Aubry et al. 2014 for any remapping
function of the difference i - g.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from restorable.operators._solvers import solve_wls_separable
from restorable.operators.registry import register

# sRGB / Rec. 709 luma weights, applied to the (gamma-encoded) values as most photo tools do.
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
# Sampled intensity levels of the fast local Laplacian filter. Paris et al.'s remapping for
# alpha < 1 is steep just above the noise level (0.01-0.02), so the interpolation in g needs a
# fine grid. Measured on 7 validation photos at 640 px (llf defaults, 8-bit outputs): 128 vs 256
# levels differ by 0.14-0.40 grey levels on average (99th percentile 2), 256 vs 512 by 0.04-0.11
# (99th percentile 1); against the brute-force filter 256 levels are within 0.0005 on average.
LLF_LEVELS = 256
BWP_MODEL = Path(__file__).with_name("data") / "bwp_model_rushmore.jpg"
# Limits that keep the BWP look free of banding and merged tones (see :func:`bwp`). Measured on
# validation photos at 384 px: without them a smooth 8-bit background (a studio backdrop, a sky)
# comes out in contour bands, its 1/255 steps multiplied by the steep parts of the histogram
# match and by the gradient transfer, and mid-tones posterise where the match is flat.
BWP_MAX_SLOPE = 2.0  # largest slope of a tone curve (a CLAHE-like clip of the global match)
BWP_MIN_SLOPE = 0.3  # smallest slope: no two tones merge
BWP_MAX_GAIN = 2.0  # largest change of a detail amplitude by the gradient transfer
BWP_NOISE = 0.02  # details below this amplitude (quantisation, sensor noise) keep gain 1


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of float32 HxWx3 values as stored: the grey llf and bwp work on (and the
    learned estimates that copy them, network/*_psi.py)."""
    return np.ascontiguousarray(img @ _LUMA, dtype=np.float32)


# ---------------------------------------------------------------- the fast local Laplacian filter


def _n_levels(h: int, w: int) -> int:
    """Full pyramid depth, as Paris et al.: the coarsest level is 1-2 pixels on the short side."""
    return max(1, int(np.ceil(np.log2(min(h, w)))))


def _up(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.pyrUp(x, dstsize=(shape[1], shape[0]))


def _gaussian_pyramid(x: np.ndarray, n: int) -> list[np.ndarray]:
    pyr = [x]
    for _ in range(n - 1):
        pyr.append(cv2.pyrDown(pyr[-1]))
    return pyr


def _collapse(pyr: list[np.ndarray]) -> np.ndarray:
    x = pyr[-1]
    for lap in reversed(pyr[:-1]):
        x = lap + _up(x, lap.shape)
    return x


class _Tabulated:
    """An odd remapping d -> h(d) tabulated on |d| <= span, evaluated as g + h(x - g).

    Linear interpolation on a 1/16384 grid: within 1e-5 of h for Paris et al.'s functions (their
    steepest part, the noise-level smooth step, spans 0.01), at a tenth of the cost of evaluating
    h directly, which matters because the fast filter remaps the whole image once per level.
    """

    STEPS = 16384

    def __init__(self, h: Callable[[np.ndarray], np.ndarray], span: float):
        self.lo = -float(span) - 1.0 / self.STEPS
        n = int(np.ceil(2.0 * (float(span) + 1.0 / self.STEPS) * self.STEPS)) + 2
        grid = self.lo + np.arange(n, dtype=np.float64) / self.STEPS
        table = np.asarray(h(grid), dtype=np.float64)
        self.value = table.astype(np.float32)
        self.slope = np.diff(table, append=table[-1]).astype(np.float32)
        self.last = n - 2

    def __call__(self, x: np.ndarray, g: float) -> np.ndarray:
        u = x * np.float32(self.STEPS) + np.float32((-g - self.lo) * self.STEPS)
        k = np.clip(u, 0, self.last).astype(np.int32)
        u -= k
        out = np.take(self.value, k)
        slope = np.take(self.slope, k)
        slope *= u
        out += slope
        out += np.float32(g)
        return out


def local_laplacian(
    x: np.ndarray, remap: Callable[[np.ndarray], np.ndarray], *, levels: int = LLF_LEVELS
) -> np.ndarray:
    """Fast local Laplacian filter of a single-channel float32 image (Aubry et al. 2014).

    ``remap(d)`` gives the remapped difference r_g(i) - g for d = i - g (the same for every g, as
    in all of Paris et al.'s remapping functions). Each output Laplacian coefficient at level l,
    pixel p is the coefficient of the Laplacian pyramid of r_g(x) with g = G_l[x](p) (Paris et
    al. 2011); the fast algorithm evaluates it for ``levels`` values of g spread evenly over the
    image's range and interpolates linearly between the two nearest. The coarsest level is the
    input's Gaussian residual. Each coefficient is gathered from the two levels around it only,
    so the cost per level is one remap and one pyramid of the image.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = _n_levels(*x.shape)
    lo, hi = float(x.min()), float(x.max())
    if n == 1 or hi - lo < 1e-6:
        return x.copy()
    k = max(2, int(levels))
    gammas = np.linspace(lo, hi, k, dtype=np.float64)
    step = float(gammas[1] - gammas[0])
    table = _Tabulated(remap, hi - lo)
    gauss = _gaussian_pyramid(x, n)
    # Per level: coefficients sorted by the sampled level just below them, and their weights.
    plans = []
    for g in gauss[:-1]:
        pos = np.clip((g.ravel().astype(np.float64) - lo) / step, 0.0, k - 1.0)
        lower = np.minimum(np.floor(pos), k - 2).astype(np.int64)
        order = np.argsort(lower, kind="stable")
        frac = (pos - lower)[order].astype(np.float32)
        bounds = np.searchsorted(lower[order], np.arange(k + 1))
        plans.append((order, bounds, 1.0 - frac, frac, np.zeros(g.size, np.float32)))
    for j, g in enumerate(gammas):
        r = table(x, g)
        r_gauss = _gaussian_pyramid(r, n)
        for lvl, (order, bounds, w_low, w_high, acc) in enumerate(plans):
            a, b, c = bounds[max(j - 1, 0)], bounds[j], bounds[j + 1]
            if a == c:
                continue
            lap = (r_gauss[lvl] - _up(r_gauss[lvl + 1], r_gauss[lvl].shape)).ravel()
            if b < c:  # coefficients just above g: weight 1 - frac
                acc[b:c] += w_low[b:c] * lap[order[b:c]]
            if j > 0 and a < b:  # coefficients just below g: weight frac
                acc[a:b] += w_high[a:b] * lap[order[a:b]]
    out = []
    for g, (order, _, _, _, acc) in zip(gauss[:-1], plans, strict=True):
        lvl = np.empty(g.size, np.float32)
        lvl[order] = acc
        out.append(lvl.reshape(g.shape))
    return _collapse(out + [gauss[-1]])


# ---------------------------------------------------------------- LLF


def _smooth_step(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, C1 between: y^2 (2 - y)^2, y the position in [lo, hi]."""
    y = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return y * y * (2.0 - y) ** 2


def paris_remap(
    sigma_r: float, alpha: float, beta: float, noise: float = 0.01
) -> Callable[[np.ndarray], np.ndarray]:
    """Paris et al.'s remapping r_g(i) - g as a function of d = i - g (their Sec. 5).

    Detail (|d| <= sigma_r): sign(d) sigma_r f_d(|d| / sigma_r), f_d(t) = t^alpha; for alpha < 1
    blended towards t by a smooth step over |d| in [noise, 2 noise] so that differences at the
    noise level are not amplified (their noise-level treatment, noise = 0.01).
    Edges (|d| > sigma_r): sign(d) (beta (|d| - sigma_r) + sigma_r).
    """

    def remap(d: np.ndarray) -> np.ndarray:
        a = np.abs(d)
        t = a / sigma_r
        fd = t**alpha
        if alpha < 1.0:
            tau = _smooth_step(noise, 2.0 * noise, a)
            fd = tau * fd + (1.0 - tau) * t
        edge = beta * (a - sigma_r) + sigma_r
        return np.sign(d) * np.where(a <= sigma_r, sigma_r * fd, edge)

    return remap


@register(
    "llf",
    "I",
    "Local Laplacian filter (detail enhancement)",
    "Paris, Hasinoff, Kautz. Local Laplacian filters: edge-aware image processing with a "
    "Laplacian pyramid. ACM TOG (SIGGRAPH) 2011; fast algorithm: Aubry, Paris, Hasinoff, Kautz, "
    "Durand. Fast local Laplacian filters. ACM TOG 2014",
)
def llf(
    img: np.ndarray, *, alpha: float = 0.25, sigma_r: float = 0.4, beta: float = 1.0
) -> np.ndarray:
    """Detail enhancement with the local Laplacian filter (Paris et al.'s demo settings).

    Sylvain Paris, Samuel W. Hasinoff, Jan Kautz. "Local Laplacian filters: edge-aware image
    processing with a Laplacian pyramid". ACM TOG (SIGGRAPH) 2011. Computed with the fast
    algorithm of Mathieu Aubry, Sylvain Paris, Samuel W. Hasinoff, Jan Kautz, Frédo Durand,
    "Fast local Laplacian filters: theory and applications", ACM TOG 2014 (256 sampled intensity
    levels, linear interpolation of the Laplacian coefficients; 512 change the 8-bit output by
    about 0.1 grey level on average). About 0.45 s per 640x480 photo on one thread.

    The remapping is Paris et al.'s (see :func:`paris_remap`): differences below ``sigma_r`` are
    detail and raised to the power ``alpha`` (alpha < 1 enhances detail, alpha > 1 smooths it),
    larger ones are edges scaled by ``beta`` (beta < 1 compresses tone, as in tone mapping).
    Defaults are their detail-enhancement demo: sigma_r 0.4, alpha 0.25, beta 1, on pixel values
    as stored (their "linear", i.e. not log, domain). alpha = 1 and beta = 1 return the input
    exactly. Table 3 of the restorable-operators paper (LLF with 0.1 / 0.25 / 1.0) varies alpha.
    The defaults are strong: leaving a photo unchanged scores about 19 dB PSNR against them.

    Colour: the filter runs on luminance Y and every channel is scaled by Y'/Y (Paris et al.'s
    luminance mode). Chosen over per-channel filtering because it keeps hue (per-channel boosts
    shift colours) and costs a third; their RGB mode remaps colour vectors, which the fast
    algorithm's one-dimensional sampling of g cannot do. Values are clipped to [0, 1] at the end.

    Args:
        img: float32 HxWx3 in [0, 1].
        alpha: detail exponent (default 0.25; useful 0.1-1 to enhance, 1-4 to smooth).
        sigma_r: detail/edge threshold in intensity (default 0.4; useful 0.05-1).
        beta: edge (large-scale tone) gain (default 1; < 1 compresses the range).
    """
    img = np.asarray(img, dtype=np.float32)
    if alpha == 1.0 and beta == 1.0:  # r_g(i) = i for every g: the filter is the identity
        return np.clip(img, 0.0, 1.0).copy()
    y = luminance(img)
    y_new = local_laplacian(y, paris_remap(sigma_r, alpha, beta))
    ratio = y_new / np.maximum(y, 1e-6)
    return np.clip(img * ratio[:, :, None], 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- WLS


def _wls_smooth(f: np.ndarray, log_guide: np.ndarray, lam: float, alpha: float) -> np.ndarray:
    """Farbman et al.'s WLS smoothing of ``f``; smoothness weights (|∂ℓ|^α + 1e-4)^-1 of ℓ."""
    gx = np.abs(np.diff(log_guide, axis=1, append=log_guide[:, -1:])).astype(np.float64)
    gy = np.abs(np.diff(log_guide, axis=0, append=log_guide[-1:])).astype(np.float64)
    wx = 1.0 / (gx**alpha + 1e-4)
    wy = 1.0 / (gy**alpha + 1e-4)
    return solve_wls_separable(f, wx, wy, lam)


def _sigmoid_boost(a: float, x: np.ndarray) -> np.ndarray:
    """Farbman et al.'s S(a, x): a logistic curve shifted and scaled to map ±0.5 to ±0.5.

    Its slope at 0 grows with ``a`` (about 1.5 at a = 5, 2.5 at 10, 6.25 at 25); small values
    are multiplied by it, values near ±0.5 are not pushed past it. a = 0 is the identity.
    """
    if a <= 0.0:
        return x
    half = 1.0 / (1.0 + np.exp(-0.5 * a)) - 0.5
    return (1.0 / (1.0 + np.exp(-a * x)) - 0.5) * (0.5 / half)


@register(
    "wls",
    "I",
    "Multiscale tone and detail enhancement (WLS)",
    "Farbman, Fattal, Lischinski, Szeliski. Edge-preserving decompositions for multi-scale tone "
    "and detail manipulation. ACM TOG (SIGGRAPH) 2008",
)
def wls(
    img: np.ndarray,
    *,
    fine: float = 25.0,
    medium: float = 10.0,
    coarse: float = 2.0,
    exposure: float = 1.0,
    saturation: float = 1.1,
    lam_fine: float = 0.125,
    lam_coarse: float = 0.5,
    alpha: float = 1.2,
) -> np.ndarray:
    """Multi-scale tone and detail manipulation on a WLS edge-preserving decomposition.

    Zeev Farbman, Raanan Fattal, Dani Lischinski, Richard Szeliski. "Edge-preserving
    decompositions for multi-scale tone and detail manipulation". ACM TOG (SIGGRAPH) 2008,
    Sec. 5 (multi-scale tone manipulation), with the two-λ decomposition of their demo.

    The CIELAB lightness L (0-100) is smoothed twice with WLS (α = 1.2, smoothness weights from
    log luminance; λ = 0.125 and 0.5), giving a base b = u2 and detail layers d1 = L - u1
    (fine) and d2 = u1 - u2 (medium). The new lightness is

        L' = μ + 100 S(coarse, (η b - μ)/100) + 100 S(medium, d2/100) + 100 S(fine, d1/100)

    with μ = 50 (the middle of the lightness range), η the exposure and S Farbman's sigmoid
    (:func:`_sigmoid_boost`): a gain on small detail that cannot overshoot, and an S-curve on
    the base. The chroma a, b is multiplied by the saturation. Defaults give a strong
    enhancement at all three scales, as in the paper's Figure 1 (right); leaving the photo as
    it is scores about 20 dB PSNR against it. fine = medium = coarse = 0, exposure =
    saturation = 1 is the identity (up to the Lab round trip). The WLS systems are solved with
    the separable solver of :mod:`restorable.operators._solvers` (within about 48 dB of the
    exact solve), not the paper's direct solver.

    Args:
        img: float32 HxWx3 in [0, 1].
        fine: sigmoid strength of the fine detail layer (default 25, a ×6 gain; 0 = unchanged,
            useful 0-40).
        medium: sigmoid strength of the medium detail layer (default 10, ×2.5; useful 0-40).
        coarse: sigmoid strength on the base (default 2: a mild S-curve; 0 = unchanged,
            useful 0-10).
        exposure: η, multiplies the base lightness (default 1; useful 0.5-2).
        saturation: multiplies CIELAB a and b (default 1.1; 1 = unchanged, useful 0-2).
        lam_fine: WLS λ of the fine decomposition (default 0.125).
        lam_coarse: WLS λ of the coarse decomposition (default 0.5).
        alpha: WLS gradient exponent (default 1.2; 1.2-2 sharper edges).
    """
    img = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab).astype(np.float64)
    light = lab[:, :, 0]
    log_y = np.log(luminance(img).astype(np.float64) + 1e-4)
    u1 = _wls_smooth(light, log_y, lam_fine, alpha)
    u2 = _wls_smooth(light, log_y, lam_coarse, alpha)
    mu = 50.0
    new = (
        mu
        + 100.0 * _sigmoid_boost(coarse, (exposure * u2 - mu) / 100.0)
        + 100.0 * _sigmoid_boost(medium, (u1 - u2) / 100.0)
        + 100.0 * _sigmoid_boost(fine, (light - u1) / 100.0)
    )
    lab[:, :, 0] = np.clip(new, 0.0, 100.0)
    lab[:, :, 1:] *= saturation
    out = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- BWP


@lru_cache(maxsize=1)
def _model_photo() -> np.ndarray:
    """The bundled model black-and-white photograph, float32 HxW in [0, 1]."""
    grey = cv2.imread(str(BWP_MODEL), cv2.IMREAD_GRAYSCALE)
    if grey is None:  # pragma: no cover - the file ships with the package
        raise FileNotFoundError(BWP_MODEL)
    return grey.astype(np.float32) / 255.0


@lru_cache(maxsize=8)
def _model_stats(pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles (at QUANTILE_PROBS) of the model's tones and gradient magnitudes, the model
    resized to ``pixels`` pixels (so that its texture is measured at the scale of the photo)."""
    model = _model_photo()
    s = np.sqrt(pixels / model.size)
    if abs(s - 1.0) > 1e-3:
        size = (max(8, round(model.shape[1] * s)), max(8, round(model.shape[0] * s)))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        model = np.clip(cv2.resize(model, size, interpolation=interp), 0.0, 1.0)
    grads = gradient_magnitude(model)
    return np.quantile(model, QUANTILE_PROBS), np.quantile(grads, QUANTILE_PROBS)


QUANTILE_PROBS = np.linspace(0.0, 1.0, 1025)


def gradient_magnitude(x: np.ndarray) -> np.ndarray:
    gx = np.diff(x, axis=1, append=x[:, -1:])
    gy = np.diff(x, axis=0, append=x[-1:])
    return np.sqrt(gx * gx + gy * gy)


def _strictly_increasing(q: np.ndarray) -> np.ndarray:
    """Quantiles made strictly increasing (ties split by a negligible ramp) for interpolation."""
    return np.maximum.accumulate(q) + np.arange(len(q)) * 1e-9


def match_histogram(
    x: np.ndarray,
    target_q: np.ndarray,
    max_slope: float = np.inf,
    min_slope: float = 0.0,
    bins: int = 1024,
) -> np.ndarray:
    """Map ``x`` through its own CDF and the inverse CDF given by the quantiles ``target_q``.

    With slope limits the tone curve is tabulated on ``bins`` steps, its slopes clipped to
    [min_slope, max_slope] and the clipped excess spread evenly over all steps (repeated until it
    settles), as CLAHE clips a histogram: the curve keeps the target's end points and follows its
    shape where that is gentle. Written here because OpenCV's CLAHE and scikit-image's
    ``match_histograms`` have no such limit for a match to a given histogram.
    """
    own_q = _strictly_increasing(np.quantile(x, QUANTILE_PROBS))
    if not np.isfinite(max_slope) and min_slope <= 0.0:
        cdf = np.interp(x, own_q, QUANTILE_PROBS)
        return np.interp(cdf, QUANTILE_PROBS, target_q).astype(np.float32)
    grid = np.linspace(float(own_q[0]), float(own_q[-1]), bins + 1)
    width = max(float(own_q[-1] - own_q[0]), 1e-6) / bins
    curve = np.interp(np.interp(grid, own_q, QUANTILE_PROBS), QUANTILE_PROBS, target_q)
    lo, span = float(curve[0]), float(curve[-1] - curve[0])
    slope = np.diff(curve) / width
    for _ in range(16):
        clipped = np.clip(slope, min_slope, max_slope)
        excess = span / width - clipped.sum()
        slope = clipped + excess / bins
        if abs(excess) <= 1e-6 * bins:
            break
    curve = lo + np.concatenate([[0.0], np.cumsum(slope) * width])
    return np.interp(x, grid, curve).astype(np.float32)


def gradient_transfer(
    x: np.ndarray, target_q: np.ndarray, max_gain: float = np.inf, noise: float = 0.0
) -> Callable[[np.ndarray], np.ndarray]:
    """Remapping d -> sign(d) f(|d|) with f = C_model^-1 ∘ C_x on gradient magnitudes.

    f maps the input's gradient-magnitude quantiles to the model's; beyond the largest input
    gradient it continues with slope 1 (edges keep their amplitude). f is then kept within
    [d / max_gain, d + (max_gain - 1) max(d - noise, 0)]: no detail changes by more than
    ``max_gain`` and details below ``noise`` are not amplified (the many near-zero gradients of a
    flat area would otherwise be raised to the model's typical gradient: noise and 8-bit steps
    turned into texture and bands). Tabulated on a fine uniform grid and evaluated by linear
    interpolation.
    """
    src = _strictly_increasing(np.quantile(gradient_magnitude(x), QUANTILE_PROBS))
    dst = np.maximum.accumulate(target_q)
    src[0] = dst[0] = 0.0
    step = 1.0 / 4096
    grid = np.arange(0.0, 1.0 + 2 * step, step)
    table = np.where(grid <= src[-1], np.interp(grid, src, dst), dst[-1] + grid - src[-1])
    if np.isfinite(max_gain):
        table = np.minimum(table, grid + (max_gain - 1.0) * np.maximum(grid - noise, 0.0))
        table = np.maximum.accumulate(np.maximum(table, grid / max_gain))
    table = table.astype(np.float32)
    slope = np.diff(table).astype(np.float32)
    last = len(grid) - 2

    def remap(d: np.ndarray) -> np.ndarray:
        t = np.abs(d) * np.float32(1.0 / step)
        k = np.minimum(t.astype(np.int32), last)
        return np.sign(d) * (table[k] + (t - k) * slope[k])

    return remap


@register(
    "bwp",
    "II",
    "Black-and-white photographic style",
    "Aubry, Paris, Hasinoff, Kautz, Durand. Fast local Laplacian filters: theory and "
    "applications. ACM TOG 2014 (photographic style transfer, after Bae et al. 2006)",
)
def bwp(
    img: np.ndarray,
    *,
    iterations: int = 1,
    levels: int = 64,
    max_gain: float = BWP_MAX_GAIN,
    max_slope: float = BWP_MAX_SLOPE,
) -> np.ndarray:
    """Black-and-white photographic style transferred from a model photograph.

    Mathieu Aubry, Sylvain Paris, Samuel W. Hasinoff, Jan Kautz, Frédo Durand. "Fast local
    Laplacian filters: theory and applications". ACM TOG 2014, style transfer application (after
    Soonmin Bae, Sylvain Paris, Frédo Durand, "Two-scale tone management for photographic look",
    SIGGRAPH 2006).

    The photo's grey (Rec. 709 luma) is histogram-matched to the model photograph; then its
    gradient distribution is moved towards the model's with the local Laplacian filter, whose
    remapping r_g(i) = g + sign(i - g) f(|i - g|) uses f = C_model^-1 ∘ C_input, the map between
    the cumulative histograms of gradient magnitudes (``iterations`` times, each with the current
    histograms); a final histogram match restores the model's tones. The model is the bundled
    ``data/bwp_model_rushmore.jpg``, the grey of a CC0 photograph of Mount Rushmore (Eekim,
    Wikimedia Commons; from our training split), measured at the photo's pixel count: granite,
    trees and sky give it a broad tonal range and fine texture, the look of a landscape print.

    Differences from the paper: one fixed model photo (theirs is user-chosen, e.g. Ansel Adams
    prints); gradient magnitudes are forward differences on the grey values as stored; the fast
    filter samples 64 levels; and both transfers are limited (``BWP_*`` above): the tone curves'
    slopes to [0.3, ``max_slope``], the detail gain to ``max_gain`` with no gain on details under
    ``BWP_NOISE``. Unlimited, as before 2026-11-26 (with scikit-image's bimodal ``camera`` as the
    model, two rounds), smooth 8-bit areas came out in contour bands and mid-tones posterised:
    artefacts that no network should have to learn, and information the restoration lost.

    Args:
        img: float32 HxWx3 in [0, 1].
        iterations: rounds of gradient-histogram transfer (default 1; 0 = tones only).
        levels: sampled intensity levels of the fast local Laplacian filter (default 64).
        max_gain: largest change of a detail's amplitude (``inf``: the unlimited transfer).
        max_slope: largest slope of the tone curves (``inf`` with ``BWP_MIN_SLOPE`` unused:
            the exact histogram match).
    """
    img = np.asarray(img, dtype=np.float32)
    grey = luminance(np.clip(img, 0.0, 1.0))
    tone_q, grad_q = _model_stats(grey.size)
    min_slope = BWP_MIN_SLOPE if np.isfinite(max_slope) else 0.0
    out = match_histogram(grey, tone_q, max_slope, min_slope)
    for _ in range(int(iterations)):
        remap = gradient_transfer(out, grad_q, max_gain, BWP_NOISE)
        out = local_laplacian(out, remap, levels=levels)
        out = match_histogram(out, tone_q, max_slope, min_slope)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return np.repeat(out[:, :, None], 3, axis=2)
