"""Candidate ψ's that see the whole photo through a thumbnail (issue #26, part 2).

Some operators are not local: BWP's tones come from a histogram match over the whole photo, the
local Laplacian filter's coarse levels reach far. A ψ that sees only a 96-192 px crop cannot know
those, however long it trains. Each candidate here reads two extra inputs besides the crop:

    thumb  (B, 3, T, T)  the WHOLE photo, resized to T×T once per photo (``thumbnail``)
    box    (B, 4)        where the crop lies in the photo: (y0, x0, h, w) as fractions of H, W

and nothing else about the photo. At apply time the thumbnail is computed once per photo, so
every tile reads the same global information, and the box tells each tile which part of a
spatial global map (the bilateral grid) is its own:

    LocalPsi     crop ─► Haar ─► dilated encoder-decoder ─► + crop          (today's ψ shape)
    FilmPsi      LocalPsi whose features are scaled/shifted per channel by a vector pooled from
                 the thumbnail (FiLM; Perez et al. 2018)
    GridPsi      thumbnail ─► low-res net ─► bilateral grid of 3×4 affine colour transforms
                 (16×16 spatial × 8 luma bins); crop ─► per-pixel guide; trilinear slice at
                 (box-mapped x, y, guide) ─► affine applied to each pixel   (HDRNet; Gharbi et
                 al. 2017)
    GridFilmPsi  GridPsi, then FilmPsi on (crop, grid output) adds a local residual

GridPsi is per pixel apart from the thumbnail: a tile's output equals the same region of one
pass exactly. The CNN candidates equal it wherever the tile's halo covers their receptive field
(as for today's ψ), provided tile offsets are multiples of 8 (Haar + two stride-2 levels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restorable.network.psi import film_modulations

THUMB = 128


def thumbnail(photo: torch.Tensor, size: int = THUMB) -> torch.Tensor:
    """The whole photo (B, 3, H, W) as a size×size thumbnail (antialiased; aspect not kept:
    positions are fractions, so the grid's cells stretch with the photo)."""
    return F.interpolate(
        photo, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )


def whole_box(batch: int, device=None) -> torch.Tensor:
    """The box of a whole photo: (0, 0, 1, 1)."""
    return torch.tensor([[0.0, 0.0, 1.0, 1.0]], device=device).expand(batch, 4)


def crop_coords(box: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre positions of an h×w crop in the photo, in grid_sample's [-1, 1]
    (align_corners=False): (B, h) for y and (B, w) for x."""
    ys = (torch.arange(h, dtype=box.dtype, device=box.device) + 0.5) / h
    xs = (torch.arange(w, dtype=box.dtype, device=box.device) + 0.5) / w
    y = box[:, 0:1] + box[:, 2:3] * ys[None]
    x = box[:, 1:2] + box[:, 3:4] * xs[None]
    return 2 * y - 1, 2 * x - 1


def _conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation)


def _act(t: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(t, 0.2)


class ThumbEncoder(nn.Module):
    """Thumbnail → one global vector (strided convs, then mean over space)."""

    def __init__(self, width: int = 32, out: int = 64):
        super().__init__()
        w = width
        self.convs = nn.ModuleList(
            [_conv(3, w // 2, 2), _conv(w // 2, w, 2), _conv(w, w, 2), _conv(w, 2 * w, 2)]
        )
        self.fc = nn.Linear(2 * w, out)

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        h = thumb
        for c in self.convs:
            h = _act(c(h))
        return _act(self.fc(h.mean(dim=(2, 3))))


class LocalPsi(nn.Module):
    """Today's ψ shape (network/psi.py EncoderDecoder) as a plain approximator of f: pixel
    unshuffle (Haar's lossless layout), two stride-2 levels, dilated residual blocks, skips,
    residual on the input. ``film`` > 0 adds per-channel scale/shift of every block from a
    global vector of that size (FilmPsi); ``extra`` input channels are concatenated to the crop.
    """

    def __init__(self, width: int = 24, dilations=(1, 2, 4, 8), film: int = 0, extra: int = 0):
        super().__init__()
        w = width
        self.inc = _conv(12 + 4 * extra, w)
        self.down1 = _conv(w, 2 * w, stride=2)
        self.down2 = _conv(2 * w, 2 * w, stride=2)
        self.body = nn.ModuleList(
            [
                nn.ModuleList([_conv(2 * w, 2 * w, dilation=d), _conv(2 * w, 2 * w, dilation=d)])
                for d in dilations
            ]
        )
        self.up2 = _conv(2 * w, 2 * w)
        self.up1 = _conv(2 * w, w)
        self.out = _conv(w, 12)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        # modulated layers: e0, e1, e2, each body block, d1, d0
        self.widths = [w, 2 * w, 2 * w] + [2 * w] * len(dilations) + [2 * w, w]
        self.film = nn.Linear(film, 2 * sum(self.widths)) if film else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(
        self, crop: torch.Tensor, z: torch.Tensor | None = None, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        mods = film_modulations(self.film, z, self.widths)
        k = iter(range(len(self.widths)))

        def mod(t: torch.Tensor) -> torch.Tensor:
            j = next(k)
            return t * mods[j][0] + mods[j][1] if mods else t

        x = crop if extra is None else torch.cat([crop, extra], 1)
        e0 = mod(_act(self.inc(F.pixel_unshuffle(x, 2))))
        e1 = mod(_act(self.down1(e0)))
        h = mod(_act(self.down2(e1)))
        for c1, c2 in self.body:
            h = mod(h + c2(_act(c1(h))))
        d1 = mod(_act(self.up2(F.interpolate(h, size=e1.shape[-2:], mode="bilinear")) + e1))
        d0 = mod(_act(self.up1(F.interpolate(d1, size=e0.shape[-2:], mode="bilinear")) + e0))
        return crop + F.pixel_shuffle(self.out(d0), 2)


class LocalOnly(nn.Module):
    """Candidate (a): the crop only; ``thumb`` and ``box`` are accepted and ignored."""

    def __init__(self, width: int = 24):
        super().__init__()
        self.net = LocalPsi(width)

    def forward(self, crop, thumb, box):
        return self.net(crop)


class FilmPsi(nn.Module):
    """Candidate (b): LocalPsi modulated by a vector pooled from the thumbnail."""

    def __init__(self, width: int = 24, z: int = 64):
        super().__init__()
        self.enc = ThumbEncoder(out=z)
        self.net = LocalPsi(width, film=z)

    def forward(self, crop, thumb, box):
        return self.net(crop, self.enc(thumb))


class BilateralGrid(nn.Module):
    """HDRNet's low-res path: thumbnail → grid (B, 12, D, G, G) of 3×4 affine coefficients.

    Strided convs to G×G, a local path (two convs) plus a global path (more strided convs,
    pooled, linear) added as a per-channel bias, then a 1×1 conv to D·12 channels. The last conv
    starts at the identity transform in every cell, so training starts from f ≈ identity.
    """

    def __init__(self, thumb: int = THUMB, cells: int = 16, bins: int = 8, width: int = 32):
        super().__init__()
        w, self.bins = width, bins
        n = max(1, (thumb // cells).bit_length() - 1)  # stride-2 steps to reach cells×cells
        chans = [3] + [min(w, 8 * 2**i) for i in range(n)]
        self.splat = nn.ModuleList([_conv(chans[i], chans[i + 1], 2) for i in range(n)])
        c = chans[-1]
        self.local = nn.Sequential(_conv(c, w), nn.LeakyReLU(0.2), _conv(w, w))
        self.glob = nn.ModuleList([_conv(c, w, 2), _conv(w, w, 2)])
        self.glob_fc = nn.Linear(w, w)
        self.head = nn.Conv2d(w, bins * 12, 1)
        nn.init.normal_(self.head.weight, std=1e-3)
        eye = torch.zeros(bins, 3, 4)
        eye[:, :, :3] = torch.eye(3)
        with torch.no_grad():
            self.head.bias.copy_(eye.reshape(-1))

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        h = thumb
        for c in self.splat:
            h = _act(c(h))
        g = h
        for c in self.glob:
            g = _act(c(g))
        g = self.glob_fc(g.mean(dim=(2, 3)))
        fused = _act(self.local(h) + g[:, :, None, None])
        coeffs = self.head(fused)  # (B, bins*12, G, G)
        b, _, gh, gw = coeffs.shape
        return coeffs.view(b, self.bins, 12, gh, gw).transpose(1, 2)  # (B, 12, D, G, G)


class Guide(nn.Module):
    """Per-pixel guide in [0, 1] (HDRNet: a learned per-pixel colour transform + curve), here
    a 1×1-conv MLP so it sees one pixel: tiles cannot disagree about it."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, width, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, 1, 1))

    def forward(self, crop: torch.Tensor) -> torch.Tensor:
        luma = 0.299 * crop[:, 0:1] + 0.587 * crop[:, 1:2] + 0.114 * crop[:, 2:3]
        return torch.clamp(luma + self.net(crop), 0.0, 1.0)


def slice_grid(grid: torch.Tensor, guide: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Trilinear slice of grid (B, C, D, G, G) at the crop's pixels: x, y from ``box``, depth
    from ``guide`` (B, 1, h, w) → (B, C, h, w), by 5-D ``grid_sample``."""
    b, _, h, w = guide.shape
    y, x = crop_coords(box, h, w)
    xx = x[:, None, :].expand(b, h, w)
    yy = y[:, :, None].expand(b, h, w)
    zz = 2 * guide[:, 0] - 1
    pos = torch.stack([xx, yy, zz], dim=-1)[:, None]  # (B, 1, h, w, 3): (x, y, z) order
    out = F.grid_sample(grid, pos, mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0]


def apply_affine(coeffs: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
    """Per-pixel 3×4 affine colour transform: coeffs (B, 12, h, w), crop (B, 3, h, w)."""
    b, _, h, w = coeffs.shape
    a = coeffs.view(b, 3, 4, h, w)
    return (a[:, :, :3] * crop[:, None]).sum(2) + a[:, :, 3]


class GridPsi(nn.Module):
    """Candidate (c): HDRNet-style bilateral grid from the thumbnail, sliced per pixel."""

    def __init__(self, cells: int = 16, bins: int = 8):
        super().__init__()
        self.grid = BilateralGrid(cells=cells, bins=bins)
        self.guide = Guide()

    def forward(self, crop, thumb, box):
        coeffs = slice_grid(self.grid(thumb), self.guide(crop), box)
        return apply_affine(coeffs, crop)


class GridFilmPsi(nn.Module):
    """Candidate (d): GridPsi for the global tone, then a FiLM-modulated LocalPsi on (crop,
    grid output) for what an affine-per-pixel model cannot do (textures, edges)."""

    def __init__(self, width: int = 24, z: int = 64):
        super().__init__()
        self.grid = GridPsi()
        self.enc = ThumbEncoder(out=z)
        self.net = LocalPsi(width, film=z, extra=3)

    def forward(self, crop, thumb, box):
        g = self.grid(crop, thumb, box)
        return self.net(g, self.enc(thumb), extra=crop)


CURVE_KNOTS = 32  # knots of each per-photo tone curve (piecewise linear on [0, 1])


def apply_curves(knots: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per-photo piecewise-linear curves: knots (B, C, K) on [0, 1], u (B, C, h, w) → (B, C, h,
    w). Per pixel, so a tile's output equals the same region of one pass."""
    b, c, k = knots.shape
    pos = u.clamp(0, 1) * (k - 1)
    lo = pos.floor().clamp(max=k - 2)
    frac = pos - lo
    flat = knots.reshape(b, c, k)
    idx = lo.long().flatten(2)  # (B, C, h*w)
    left = torch.gather(flat, 2, idx).view_as(u)
    right = torch.gather(flat, 2, idx + 1).view_as(u)
    return left + frac * (right - left)


# Fractions of pixels at which each curve's channel levels are read (:func:`_levels_at`):
# the ends (auto-level's black and white points), the quartiles and the median (gamma).
LEVEL_QUANTILES = (0.005, 0.05, 0.25, 0.5, 0.75, 0.95, 0.995)


def _with_luma(x: torch.Tensor) -> torch.Tensor:
    """(B, 4, H, W): R, G, B and their Rec. 709 luma, the four channels the curves act on."""
    luma = 0.2126 * x[:, 0:1] + 0.7152 * x[:, 1:2] + 0.0722 * x[:, 2:3]
    return torch.cat([x, luma], dim=1)


def _channels(thumb: torch.Tensor) -> torch.Tensor:
    """(B, 4, N): the thumbnail's R, G, B and luma, flattened, in [0, 1]."""
    return _with_luma(thumb).flatten(2).clamp(0, 1)


def _cdf_at_knots(thumb: torch.Tensor, knots: int) -> torch.Tensor:
    """(B, 4, K): the thumbnail's cumulative histograms of R, G, B and luma read at the K
    knots of the curves (the fraction of pixels at or below each knot)."""
    at = torch.linspace(0, 1, knots, device=thumb.device, dtype=thumb.dtype)
    return (_channels(thumb)[..., None] <= at).float().mean(dim=2)


def _levels_at(thumb: torch.Tensor) -> torch.Tensor:
    """(B, 4, Q): each channel's level at the fractions ``LEVEL_QUANTILES`` (the inverse of
    :func:`_cdf_at_knots`). An auto-level's curve depends on the photo's black and white
    points, which the cumulative histogram at a knot does not show (the pairs measured in
    docs/training.md: the curve path without these 30.14 dB, with them 30.84, the grid 31.41;
    a curve checkpoint from before them has a narrower knot layer; none shipped)."""
    q = torch.tensor(LEVEL_QUANTILES, device=thumb.device, dtype=torch.float32)
    return torch.quantile(_channels(thumb).float(), q, dim=2).permute(1, 2, 0).to(thumb.dtype)


class CurveEstimate(nn.Module):
    """Four per-photo tone curves (on R, G, B and luma) mixed into RGB by a per-photo 3×5
    matrix, predicted from the thumbnail:

        est = M · [c_R(R), c_G(G), c_B(B), c_Y(Y), 1]

    Each knot of a curve is computed by one small network shared by all knots, channels and
    photos from (the knot's level v, the photo's cumulative histogram at v for that channel,
    that channel's levels at a few fractions of the pixels, the thumbnail's pooled vector): a
    histogram match (BWP's tones) or an equalisation is a fixed function of (v, CDF(v)), an
    auto-level or auto-gamma one of (v, black point, white point, median), so each is learned
    once for every photo rather than per photo from a pooled vector. It starts as the identity
    (the RGB curves passed through). Per pixel, so a tile's output equals the same region of one
    pass."""

    def __init__(self, z: int = 64, knots: int = CURVE_KNOTS, hidden: int = 64):
        super().__init__()
        self.knots = knots
        self.enc = ThumbEncoder(out=z)
        self.knot_net = nn.Sequential(
            nn.Linear(2 + len(LEVEL_QUANTILES) + 4 + z, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )
        nn.init.zeros_(self.knot_net[-1].weight)
        nn.init.zeros_(self.knot_net[-1].bias)
        self.mix = nn.Linear(z, 15)
        nn.init.zeros_(self.mix.weight)
        eye = torch.zeros(3, 5)
        eye[:, :3] = torch.eye(3)
        with torch.no_grad():
            self.mix.bias.copy_(eye.reshape(-1))

    def curves(self, thumb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The photo's curves, (B, 4, K) knot values on R, G, B and luma, and its pooled
        vector z (B, Z): everything the estimate needs from the whole photo, once per photo."""
        b, k = thumb.shape[0], self.knots
        z = self.enc(thumb)
        cdf = _cdf_at_knots(thumb, k)  # (B, 4, K)
        levels = _levels_at(thumb)  # (B, 4, Q)
        v = torch.linspace(0, 1, k, device=thumb.device, dtype=thumb.dtype)
        chan = torch.eye(4, device=thumb.device, dtype=thumb.dtype)  # which curve a knot is on
        feats = torch.cat(
            [
                v.expand(b, 4, k)[..., None],
                cdf[..., None],
                levels[:, :, None, :].expand(b, 4, k, levels.shape[-1]),
                chan[None, :, None, :].expand(b, 4, k, 4),
                z[:, None, None, :].expand(b, 4, k, z.shape[1]),
            ],
            dim=-1,
        )
        return self._knots(feats, v, cdf, levels, z), z

    def forward(self, img: torch.Tensor, thumb: torch.Tensor) -> torch.Tensor:
        knots, z = self.curves(thumb)
        c = apply_curves(knots, _with_luma(img))
        m = self.mix(z).view(img.shape[0], 3, 5)
        return torch.einsum("bij,bjhw->bihw", m[:, :, :4], c) + m[:, :, 4, None, None]

    def _knots(
        self,
        feats: torch.Tensor,
        v: torch.Tensor,
        cdf: torch.Tensor,
        levels: torch.Tensor,
        z: torch.Tensor,
    ) -> torch.Tensor:
        """(B, 4, K) knot values: the knot network's output as a residual on the identity."""
        return v + self.knot_net(feats)[..., 0]


class SlopeCurveEstimate(CurveEstimate):
    """:class:`CurveEstimate` whose curves are built from slopes, as a histogram match is: each
    segment's slope comes from one network shared by all segments, reading the segment's level,
    the cumulative histogram at its ends and the photo's density there (a match's slope is the
    ratio of two densities, clipped where a tool limits it), and the curve is their running sum
    scaled to a per-photo range. A value per knot cannot be summed so by independent knots, and
    (level, CDF) alone fixes bwp's curve only to 25.2 dB on validation photos (one table fitted
    on 40 training photos: ``benchmarks/curve_ceiling.py --shared 40``), since its slope limits
    depend on the density. Monotone by construction; starts as the identity."""

    def __init__(self, z: int = 64, knots: int = CURVE_KNOTS, hidden: int = 64):
        super().__init__(z, knots, hidden)
        n_in = 4 + len(LEVEL_QUANTILES) + 4 + z  # v, cdf at both ends, density; levels; chan; z
        self.knot_net = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )
        nn.init.zeros_(self.knot_net[-1].weight)
        nn.init.zeros_(self.knot_net[-1].bias)
        self.range = nn.Linear(len(LEVEL_QUANTILES) * 4 + z, 8)  # per channel: low end, span
        nn.init.zeros_(self.range.weight)
        nn.init.zeros_(self.range.bias)

    def _knots(
        self,
        feats: torch.Tensor,
        v: torch.Tensor,
        cdf: torch.Tensor,
        levels: torch.Tensor,
        z: torch.Tensor,
    ) -> torch.Tensor:
        """(B, 4, K) knot values: the running sum of the segments' slopes, per-photo range."""
        b, c, k = cdf.shape
        mid = (v[1:] + v[:-1]) / 2
        density = (cdf[..., 1:] - cdf[..., :-1]) * (k - 1)
        x = torch.cat(
            [
                mid.expand(b, c, k - 1)[..., None],
                cdf[..., :-1, None],
                cdf[..., 1:, None],
                density[..., None],
                feats[..., :-1, 2:],  # levels, channel, pooled vector
            ],
            dim=-1,
        )
        # softplus(t + log(e - 1)) is 1 at t = 0: equal slopes, the identity
        slope = F.softplus(self.knot_net(x)[..., 0] + 0.5413)
        run = torch.cat([torch.zeros_like(slope[..., :1]), slope.cumsum(-1)], dim=-1)
        run = run / run[..., -1:].clamp_min(1e-6)
        lo, span = self.range(torch.cat([levels.flatten(1), z], dim=1)).view(b, c, 2).unbind(-1)
        return lo[..., None] + (1 + span[..., None]) * run


class CurvePsi(nn.Module):
    """Candidate (e): the per-photo curves alone (:class:`CurveEstimate`)."""

    Estimate: type[CurveEstimate] = CurveEstimate

    def __init__(self):
        super().__init__()
        self.curve = self.Estimate()

    def forward(self, crop, thumb, box):
        return self.curve(crop, thumb)


class CurveFilmPsi(nn.Module):
    """Candidate (f): the curves for the global tone, then a FiLM-modulated LocalPsi on (crop,
    curves' output) for the local part (BWP's detail transfer, textures, edges)."""

    Estimate: type[CurveEstimate] = CurveEstimate

    def __init__(self, width: int = 24, z: int = 64):
        super().__init__()
        self.curve = self.Estimate()
        self.enc = ThumbEncoder(out=z)
        self.net = LocalPsi(width, film=z, extra=3)

    def forward(self, crop, thumb, box):
        return self.net(self.curve(crop, thumb), self.enc(thumb), extra=crop)


class SlopeCurvePsi(CurvePsi):
    """Candidate (g): the per-photo curves built from slopes alone (:class:`SlopeCurveEstimate`)."""

    Estimate = SlopeCurveEstimate


class SlopeCurveFilmPsi(CurveFilmPsi):
    """Candidate (h): :class:`CurveFilmPsi` with the curves built from slopes."""

    Estimate = SlopeCurveEstimate


CANDIDATES = {
    "local": LocalOnly,
    "film": FilmPsi,
    "grid": GridPsi,
    "gridfilm": GridFilmPsi,
    "curve": CurvePsi,
    "curvefilm": CurveFilmPsi,
    "slope": SlopeCurvePsi,
    "slopefilm": SlopeCurveFilmPsi,
}
