"""The quasi-invertible network f̂ (Ouyang et al., AAAI 2022).

            ┌─ Haar → (mix → coupling) × k ─┐ I_φ
   I ──────►┤                               ├──► H ──► Haar⁻¹ ─► f̂(I)     (apply)
            └──── Haar → ψ (enc-dec) ───────┘ I_ψ          └───► Δ (→ 0)
                    (+ f(I), + setting)
   Î = Haar⁻¹ φ⁻¹( first half of H⁻¹( Haar µ(f̂(I)) , Δ = 0 ) )            (restore)

Everything runs in the Haar domain (12 channels at half resolution): the couplings get channels
to split and the input sides must be multiples of 8 (Haar ×2, ψ's two strides ×4). φ and H are
exactly invertible; ψ is not, and is simply dropped on restore. With Δ as computed, the inverse
returns I to float precision; with Δ = 0 it returns an estimate, trained by the restoration loss.

Whatever only ψ reads (the guide f(I) of a guided model, the setting channel of a conditioned
one, ``network/conditioning.py``) is therefore not needed to restore: H⁻¹ computes its first
half from the stored image and Δ alone, and φ⁻¹ reads only that half. The same holds for the
whole-photo path of a learned model (``NetConfig.whole``, ``network/whole_photo.py``): ψ also
reads a thumbnail of the whole photo, and restore never does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from restorable.network.bilateral_psi import BilateralEstimate
from restorable.network.grade_psi import GradeEstimate
from restorable.network.histogram_psi import HistogramEstimate
from restorable.network.invertible import (
    AffineCoupling,
    HaarDownsample,
    InvertibleMix,
    InvertibleSequence,
)
from restorable.network.psi import EncoderDecoder
from restorable.network.pyramid_psi import PyramidEstimate
from restorable.network.refine import REACH, RestoreRefiner
from restorable.network.whole_photo import (
    ESTIMATING,
    FILM,
    WholePhotoPath,
    photo_box,
    photo_thumbnail,
)

MULTIPLE = 8  # input sides must be divisible by this (pad and crop back)
# Pixels per side one restored pixel depends on through H⁻¹ and φ⁻¹ (models.py's
# RESTORE_RECEPTIVE_FIELD; tests/test_network.py measures both)
RESTORE_REACH = 96


# the learned estimates of f a model can run on the whole photo (NetConfig.estimate)
ESTIMATES = {
    "pyramid": PyramidEstimate,
    "histogram": HistogramEstimate,
    "bilateral": BilateralEstimate,
    "grade": GradeEstimate,
}


@dataclass
class NetConfig:
    """Architecture switches; ``use_psi=False`` and ``blocks=4`` are the paper's ablations.

    ``arch`` names the module (``restorable.network.factory.build_net``): ours, or one of the
    paper's baselines "ied" and "stega" (``restorable.baselines``), which read ``psi_width`` and
    ``guided`` only.
    """

    arch: str = "quasi-invertible"
    blocks: int = 8  # k, invertible couplings in φ
    width: int = 32  # width of each coupling's sub-network
    phi_depth: int = 1  # hidden convs per φ sub-network: restoration is easy, keep φ cheap
    h_depth: int = 3  # hidden convs in H's sub-networks: H does the smoothing
    psi_width: int = 32
    use_psi: bool = True
    guided: bool = False  # ψ also sees the reference output f(I) (apply needs the operator)
    clamp: float = 1.0  # soft clamp of φ's log-scales
    h_clamp: float = 2.0  # H does the smoothing and pushes its scales harder (calibration)
    # a setting ψ reads as a constant channel: {"param", "low", "high", "log"} (conditioning.py)
    cond: dict | None = None
    refine: int = 0  # width of ρ, the restore-side refiner (network/refine.py); 0: the paper's
    # ψ's view of the whole photo (network/whole_photo.py): "" none (the paper's), "film" a
    # thumbnail-pooled vector modulating ψ, "grid" that plus a bilateral-grid estimate as input
    whole: str = ""
    # a learned estimate of f(I) run on the whole photo, which ψ reads as a guided model's ψ
    # reads the operator's output: "" none, "pyramid" a learned local Laplacian filter
    # (network/pyramid_psi.py), "histogram" a learned two-histogram tone and texture transfer
    # (network/histogram_psi.py), "bilateral" a bilateral filter with fitted settings
    # (network/bilateral_psi.py); fitted, then frozen, before training (training/estimate_fit.py)
    estimate: str = ""

    @property
    def reads_guide(self) -> bool:
        """Whether ψ reads a guide image: the operator's output, or the learned estimate's."""
        return self.guided or bool(self.estimate)

    def to_dict(self) -> dict:
        return asdict(self)


class QuasiInvertibleNet(nn.Module):
    """f̂: ``forward(I) -> (f̂(I), Δ)`` and ``inverse(y, Δ=None) -> I``."""

    def __init__(self, cfg: NetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NetConfig()
        self.haar = HaarDownsample()
        blocks: list[nn.Module] = []
        for _ in range(cfg.blocks):
            blocks += [
                InvertibleMix(12),
                AffineCoupling(6, 6, cfg.width, cfg.clamp, depth=cfg.phi_depth),
            ]
        self.phi = InvertibleSequence(blocks)
        if cfg.cond and not cfg.use_psi:
            raise ValueError("a conditioned model needs ψ: the setting enters through ψ only")
        if cfg.whole and not cfg.use_psi:
            raise ValueError("the whole-photo path enters through ψ: it needs ψ")
        self.whole = WholePhotoPath(cfg.whole) if cfg.whole else None
        if cfg.estimate not in ("", *ESTIMATES):
            known = ", ".join(ESTIMATES)
            raise ValueError(f"unknown estimate {cfg.estimate!r}; choose from {known}")
        if cfg.estimate and (cfg.guided or not cfg.use_psi):
            raise ValueError("the learned estimate stands in for the guide, read by ψ")
        self.estimator = ESTIMATES[cfg.estimate]() if cfg.estimate else None
        self.last_estimate: torch.Tensor | None = None  # the grid's, of the last forward
        psi_in = (24 if cfg.reads_guide else 12) + (1 if cfg.cond else 0)
        psi_in += 12 if cfg.whole in ESTIMATING else 0
        film = FILM if cfg.whole else 0
        self.psi = EncoderDecoder(psi_in, 12, cfg.psi_width, film=film) if cfg.use_psi else None
        self.fuse = AffineCoupling(
            12, 12, cfg.width, cfg.h_clamp, shift_skip=True, depth=cfg.h_depth
        )
        self.refiner = RestoreRefiner(cfg.refine) if cfg.refine else None
        if self.refiner is not None:  # restore tiles overlap by this much more (models.py)
            self.restore_receptive_field = RESTORE_REACH + REACH

    def forward(
        self,
        img: torch.Tensor,
        guide: torch.Tensor | None = None,
        cond: torch.Tensor | float | None = None,
        thumb: torch.Tensor | None = None,
        box: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,3,H,W) in [0,1] -> (f̂(I) (B,3,H,W), Δ (B,12,H/2,W/2)).

        ``guide``: the reference output f(I), for a guided model. ``cond``: a conditioned
        model's setting, normalised to [-1, 1] (``conditioning.normalise``), one per image (B,)
        or one for all; ψ reads it as a constant channel. ``thumb``, ``box``: for a model with a
        whole-photo path, the photo's thumbnail (B,3,T,T) and where ``img`` lies in it (B,4)
        (``whole_photo.photo_thumbnail``, ``photo_box``); without them ``img`` is the photo.
        """
        z = self.haar(img)
        return self.fuse_psi(img, self._psi(z, img, guide, cond, thumb, box), z)

    def psi_map(
        self,
        img: torch.Tensor,
        guide: torch.Tensor | None = None,
        cond: torch.Tensor | float | None = None,
        thumb: torch.Tensor | None = None,
        box: torch.Tensor | None = None,
    ) -> torch.Tensor | None:
        """ψ's output I_ψ (B,12,H/2,W/2) alone (None without ψ), arguments as :meth:`forward`.
        With :meth:`fuse_psi` it is ``forward`` in two steps: a tiled apply computes ψ, which
        reaches far, on tiles with wide overlaps and φ and H, which reach RESTORE_REACH, on
        tiles with narrow ones (models.py)."""
        return self._psi(self.haar(img), img, guide, cond, thumb, box)

    def fuse_psi(
        self, img: torch.Tensor, i_psi: torch.Tensor | None, z: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(f̂(I), Δ) from the image and ψ's output for it (:meth:`psi_map`); ``z``: Haar(I)
        when already computed."""
        z = self.haar(img) if z is None else z
        i_phi = self.phi(z)
        if i_psi is None:
            i_psi = torch.zeros_like(z)
        y = self.fuse(torch.cat([i_phi, i_psi], dim=1))
        return self.haar(y[:, :12], rev=True), y[:, 12:]

    def _psi(self, z, img, guide, cond, thumb, box) -> torch.Tensor | None:
        if self.psi is None:
            return None
        parts = [z]
        if self.cfg.reads_guide:
            if guide is None:
                raise ValueError(
                    "this model's ψ reads a guide: pass the reference output (guided) or the "
                    "estimate of the whole photo (estimator.photo)"
                )
            parts.append(self.haar(guide))
        if self.cfg.cond:
            if cond is None:
                raise ValueError("this model is conditioned: pass its setting as cond")
            c = torch.as_tensor(cond, dtype=z.dtype, device=z.device).reshape(-1, 1, 1, 1)
            parts.append(c.expand(z.shape[0], 1, *z.shape[2:]))
        film = None
        if self.whole is not None:
            if thumb is None:
                thumb, box = self.whole_photo_of(img)
            film, estimate = self.whole(img, thumb.to(img), box.to(img.device))
            # kept for the training step's own loss on it (LossWeights.estimate), which used
            # to run the grid a second time per step
            self.last_estimate = estimate
            if estimate is not None:
                parts.append(self.haar(estimate))
        return self.psi(torch.cat(parts, dim=1) if len(parts) > 1 else z, film)

    @staticmethod
    def whole_photo_of(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Thumbnails and boxes of a batch in which each image is a whole photo."""
        h, w = img.shape[-2:]
        arrays = img.detach().float().permute(0, 2, 3, 1).cpu().numpy()
        thumb = torch.cat([photo_thumbnail(a) for a in arrays]).to(img.device)
        return thumb, photo_box(0, 0, h, w, img.shape[0]).to(img.device)

    def inverse(self, out: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        """Restore I from the (stored) output; Δ = 0 when not given, as on restore.

        Needs neither the guide nor the setting: ψ's output is the second half of H⁻¹'s
        result, which φ⁻¹ never reads. A model with ρ refines a restore from the stored image
        (Δ not given); with the true Δ the inverse is exact and ρ is skipped.
        """
        y1 = self.haar(out)
        y2 = torch.zeros_like(y1) if delta is None else delta
        x = self.fuse(torch.cat([y1, y2], dim=1), rev=True)
        z = self.phi(x[:, :12], rev=True)
        if self.refiner is not None and delta is None:
            z = self.refiner(z, y1)
        return self.haar(z, rev=True)
