"""Type II (lossy) smoothing operators: L0, weighted median, relative total variation, rolling
guidance.

    img (float32 HxWx3, [0, 1]) ──► edge-preserving smoothing ──► img (float32 HxWx3, [0, 1])
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.fft as sfft

from restorable.errors import RestorableError
from restorable.image import to_uint8
from restorable.operators._solvers import solve_wls, solve_wls_separable
from restorable.operators.registry import register


def _finish(out: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _circular_gradients(c: np.ndarray, gh: np.ndarray, gv: np.ndarray) -> None:
    """Forward differences of the HxW ``c`` with a circular boundary, into ``gh`` (along x) and
    ``gv`` (along y): ``roll(c, -1) - c`` without roll's copies."""
    np.subtract(c[:, 1:], c[:, :-1], out=gh[:, :-1])
    np.subtract(c[:, :1], c[:, -1:], out=gh[:, -1:])
    np.subtract(c[1:], c[:-1], out=gv[:-1])
    np.subtract(c[:1], c[-1:], out=gv[-1:])


@register(
    "l0",
    "II",
    "L0 gradient minimisation",
    "Xu, Lu, Xu, Jia. Image smoothing via L0 gradient minimization. ACM TOG (SIGGRAPH Asia) 2011",
)
def l0(img: np.ndarray, *, lam: float = 0.02, kappa: float = 2.0) -> np.ndarray:
    """L0 gradient minimisation smoothing.

    Li Xu, Cewu Lu, Yi Xu, Jiaya Jia. "Image smoothing via L0 gradient minimization".
    ACM Transactions on Graphics (SIGGRAPH Asia), 2011. The paper's half-quadratic splitting
    solver, written here with numpy FFTs (circular boundary, as the authors' code): beta grows
    from 2*lam by ``kappa`` up to 1e5; each step hard-thresholds the auxiliary gradients
    (h, v) where |h|^2 + |v|^2 < lam / beta, then solves for S in the Fourier domain.
    (OpenCV's cv2.ximgproc.l0Smooth is not used: in OpenCV 5.0 it returns different, out-of-
    range results on repeated calls with the same input.)

    Args:
        img: float32 HxWx3 in [0, 1].
        lam: weight of the L0 gradient term (paper default 0.02; useful 0.005-0.1, larger
            keeps fewer edges).
        kappa: rate at which the splitting weight beta grows (paper default 2.0; 1.05-8, smaller
            is slower and slightly more accurate).
    """
    # float32 and real FFTs: half the work of complex128, far below the 1/255 output step.
    # Channel-first and one channel at a time, in preallocated buffers: a 24-megapixel photo
    # needs ~1 GB here instead of ~3 GB (the same arithmetic, so the same result).
    src = np.ascontiguousarray(np.moveaxis(np.asarray(img, dtype=np.float32), 2, 0))
    _, h, w = src.shape
    fx = np.zeros((h, w), np.float32)
    fx[0, 0], fx[0, -1] = -1.0, 1.0  # circular forward difference along x
    fy = np.zeros((h, w), np.float32)
    fy[0, 0], fy[-1, 0] = -1.0, 1.0
    denorm_grad = np.abs(sfft.rfft2(fx)) ** 2 + np.abs(sfft.rfft2(fy)) ** 2
    del fx, fy
    f_src = [sfft.rfft2(c) for c in src]
    s = src  # updated in place, channel by channel
    gh, gv, div, mag = (np.empty((h, w), np.float32) for _ in range(4))
    # 1 / (1 + beta |F(D)|^2), as a column so it scales both halves of each complex value
    inv_denom = np.empty_like(denorm_grad)[..., None]
    keep = np.empty((h, w), bool)

    beta, beta_max = 2.0 * float(lam), 1e5
    while beta < beta_max:
        for i, c in enumerate(s):  # |grad|^2 summed over channels, in the channels' order
            _circular_gradients(c, gh, gv)
            np.square(gh, out=gh)
            np.square(gv, out=gv)
            np.add(gh, gv, out=gh if i else mag)
            if i:
                mag += gh
        np.greater_equal(mag, lam / beta, out=keep)  # where the gradients survive
        np.multiply(denorm_grad, beta, out=inv_denom[..., 0])  # 1 + beta |F(D)|^2, in place
        inv_denom += 1.0
        # numpy divides a complex by a real through its reciprocal (Smith's method: the
        # real's 1/d, then products), so multiplying by 1/d is the same arithmetic, 3x faster
        np.divide(1.0, inv_denom, out=inv_denom)
        for i, c in enumerate(s):
            _circular_gradients(c, gh, gv)
            # x * True = x, x * False = 0: a boolean mask's assignment costs 20x more
            np.multiply(gh, keep, out=gh)
            np.multiply(gv, keep, out=gv)
            # div = D^T g = (roll(gh, 1, x) - gh) + (roll(gv, 1, y) - gv); mag is free here
            np.subtract(gh[:, :-1], gh[:, 1:], out=div[:, 1:])
            np.subtract(gh[:, -1:], gh[:, :1], out=div[:, :1])
            np.subtract(gv[:-1], gv[1:], out=mag[1:])
            np.subtract(gv[-1:], gv[:1], out=mag[:1])
            div += mag
            f_s = sfft.rfft2(div)
            # (f_src + beta F(div)) / denom on the complex values' float32 pairs: numpy's
            # complex arithmetic with a real promoted to complex does the same products, slower
            pairs = f_s.view(np.float32).reshape(*f_s.shape, 2)
            pairs *= np.float32(beta)
            pairs += f_src[i].view(np.float32).reshape(pairs.shape)
            pairs *= inv_denom
            del pairs
            c[...] = sfft.irfft2(f_s, s=(h, w), overwrite_x=True)
            del f_s
        beta *= float(kappa)
    del f_src, gh, gv, div, mag, keep  # before the output's copy: a lower peak
    return _finish(np.moveaxis(s, 0, 2))


@register(
    "wmf",
    "II",
    "Fast weighted median filter",
    "Zhang, Xu, Jia. 100+ times faster weighted median filter (WMF). CVPR 2014",
)
def wmf(img: np.ndarray, *, radius: int = 10, sigma: float = 25.5) -> np.ndarray:
    """Weighted median filter guided by the image itself (exp range weights).

    Qi Zhang, Li Xu, Jiaya Jia. "100+ times faster weighted median filter (WMF)". CVPR 2014.
    Uses OpenCV's implementation of the paper's joint-histogram / median-tracking algorithm
    (``cv2.ximgproc.weightedMedianFilter``) with the authors' demo settings r = 10, sigma = 25.5
    (on the 0-255 scale of the 8-bit guidance). The guidance is the image's 8-bit grey: with a
    3-channel guide OpenCV 5.0's implementation gives different results on repeated calls.
    Every output value is one of the 8-bit input
    values in the (2r+1)^2 window around the pixel (the output is quantised to 1/255).

    Args:
        img: float32 HxWx3 in [0, 1].
        radius: window radius in pixels (default 10; useful 2-20).
        sigma: range standard deviation of the weights, 0-255 scale (default 25.5; useful 5-100;
            larger flattens more across colour edges).
    """
    u8 = np.ascontiguousarray(to_uint8(img))
    guide = cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)
    out = cv2.ximgproc.weightedMedianFilter(guide, u8, int(radius), float(sigma))
    return out.astype(np.float32) / 255.0


def _gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    ksize = int(round(5 * sigma)) | 1  # the odd support of the authors' lpfilter
    return cv2.GaussianBlur(x, (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT)


def _rtv_weights(
    x: np.ndarray, sigma: float, sharpness: float, eps: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Per-edge weights of RTV's linearised objective (Xu et al. 2012, Eq. 7-8).

    wx = 1 / max(|d_x (G_sigma * S)|, eps) * 1 / max(|grad S|, sharpness), averaged over channels.
    """
    c = x.shape[2]
    fx = np.diff(x, axis=1, append=x[:, -1:])
    fy = np.diff(x, axis=0, append=x[-1:])
    wto = 1.0 / np.maximum(np.sqrt(fx**2 + fy**2).sum(axis=2) / c, sharpness)
    xb = _gaussian_blur(x.astype(np.float32), sigma).astype(np.float64)
    gfx = np.diff(xb, axis=1, append=xb[:, -1:])
    gfy = np.diff(xb, axis=0, append=xb[-1:])
    wx = wto / np.maximum(np.abs(gfx).sum(axis=2) / c, eps)
    wy = wto / np.maximum(np.abs(gfy).sum(axis=2) / c, eps)
    wx[:, -1] = 0.0
    wy[-1, :] = 0.0
    return wx, wy


@register(
    "rtv",
    "II",
    "Relative total variation (structure extraction from texture)",
    "Xu, Yan, Xia, Jia. Structure extraction from texture via relative total variation. "
    "ACM TOG (SIGGRAPH Asia) 2012",
)
def rtv(
    img: np.ndarray,
    *,
    lam: float = 0.01,
    sigma: float = 3.0,
    sharpness: float = 0.02,
    iterations: int = 4,
    exact: bool = False,
) -> np.ndarray:
    """Structure extraction from texture via relative total variation (RTV).

    Li Xu, Qiong Yan, Yang Xia, Jiaya Jia. "Structure extraction from texture via relative total
    variation". ACM Transactions on Graphics (SIGGRAPH Asia), 2012.

    Written here by hand: neither OpenCV nor scikit-image has RTV. Each iteration linearises
    the RTV penalty into per-edge weights (windowed inherent variation from a Gaussian of
    ``sigma``, halved each iteration down to 0.5, as the authors' ``tsmooth``) and solves the
    weighted least-squares system (I + lam/2 L_w) S = I. By default that system is solved with
    the separable scheme of Min et al. 2014 (see :mod:`restorable.operators._solvers`), because
    the exact sparse LU solve costs ~2 s per iteration at 640x480; ``exact=True`` uses the LU.

    Args:
        img: float32 HxWx3 in [0, 1].
        lam: smoothness weight (paper default 0.01; useful 0.002-0.05).
        sigma: texture scale in pixels (paper default 3; useful 1-8).
        sharpness: floor on the gradient magnitude in the weights (default 0.02; 0.001-0.03,
            smaller keeps sharper edges).
        iterations: number of reweighting iterations (default 4; 1-6).
        exact: solve each system exactly with sparse LU (slow) instead of separably.
    """
    src = np.asarray(img, dtype=np.float64)
    x = src
    sigma_it = float(sigma)
    solve = solve_wls if exact else solve_wls_separable
    for _ in range(int(iterations)):
        wx, wy = _rtv_weights(x, sigma_it, sharpness)
        x = solve(src, wx, wy, lam / 2.0)
        sigma_it = max(sigma_it / 2.0, 0.5)
    return _finish(x)


@register(
    "rgf",
    "II",
    "Rolling guidance filter",
    "Zhang, Shen, Xu, Jia. Rolling guidance filter. ECCV 2014",
)
def rgf(
    img: np.ndarray,
    *,
    sigma_s: float = 3.0,
    sigma_r: float = 0.1,
    iterations: int = 4,
) -> np.ndarray:
    """Rolling guidance filter: remove small structures, then recover large edges iteratively.

    Qi Zhang, Xiaoyong Shen, Li Xu, Jiaya Jia. "Rolling guidance filter". ECCV 2014 (Eq. 2-4),
    with the paper's defaults (sigma_s = 3, sigma_r = 0.1 on [0, 1], 4 iterations). As in the
    authors' code, which starts from a constant (zero) guide, ``iterations`` counts every pass:
    pass 1 is the joint bilateral filter under a constant guide, i.e. a Gaussian of ``sigma_s``
    (small-structure removal), and passes 2..N are joint bilateral filters of the input guided
    by the previous result (edge recovery). ``iterations=1`` is therefore a plain Gaussian blur.
    Written with cv2.ximgproc.jointBilateralFilter because OpenCV's rollingGuidanceFilter starts
    from the input itself instead of the Gaussian result, so it keeps small textures.

    Remaining differences from the authors' code: the joint bilateral passes are exact
    (OpenCV, spatial support radius 1.5 sigma_s, range distance between RGB guide pixels as
    OpenCV defines it) rather than the authors' fast bilateral approximation, and the first
    pass is cv2.GaussianBlur (full support).

    Args:
        img: float32 HxWx3 in [0, 1].
        sigma_s: spatial scale; structures smaller than about this are removed (default 3;
            useful 2-10).
        sigma_r: range sigma on the [0, 1] scale (default 0.1; useful 0.05-0.2).
        iterations: number of passes in all, the first (Gaussian) one included (default 4, as
            the paper; 1-10).
    """
    n = int(iterations)
    if n < 1:
        raise RestorableError(f"rgf iterations must be at least 1, got {iterations}")
    src = np.ascontiguousarray(img, dtype=np.float32)
    # pass 1: the joint bilateral filter under a constant guide is the Gaussian of sigma_s
    guide = cv2.GaussianBlur(src, (0, 0), float(sigma_s), borderType=cv2.BORDER_REFLECT)
    for _ in range(n - 1):
        guide = cv2.ximgproc.jointBilateralFilter(
            guide, src, -1, float(sigma_r), float(sigma_s), borderType=cv2.BORDER_REFLECT
        )
    return _finish(guide)
