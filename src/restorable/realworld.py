"""Restoring files that come back from the real world: no record, cropped, changed.

    y ──► central crop ──► for each model m, each Haar phase p (0/1 px top, 0/1 px left):
                             x̂ = restore_m(pad_p(y));  c_m(p) = PSNR(apply_m(x̂), y)  (consistency)
          lift_m = c_m(best p) − mean of c_m(other p)
          the lift furthest above its model's own threshold ──► that model
          (thresholds: what each model lifts on unedited photos, + a margin)

Consistency alone does not tell models apart: a mild, near-identity model (``llf``) maps almost
any photo back onto itself (43-47 dB on edits of every model and on unedited photos alike),
while the right model scores 36-42 dB. What only a genuine edit has is a hidden signal locked to
the restore network's 2×2 Haar grid: restored at its own phase, the edit is markedly more
consistent (4-8 dB for L0) than at the three others; an unedited photo, or an edit read by the
wrong model, shows no preferred phase (< 1 dB). So the *lift* of the best phase over the others
says whether a model's signal is there, and finds its phase: the largest lift names the
operator (with all 24 shipped models the right one led the rest by 1.4-6 dB on a sample), and
the variant of that operator (a fork such as ``l0-jpeg`` reads its parent's edits too) whose
lift clears its threshold by the most made the edit (see :func:`decide` for why not the most
consistent one).
The phase is also what a crop by an odd number of pixels shifts (the restore network is
stride-1 in the Haar domain, so only the 2-px phase matters).

Two more facts decide (:func:`decide`, from what :func:`measure` found). A file decoded from a
JPEG (:func:`jpeg_traces`: re-compressing it at its own quality barely changes it) is read by
the ``OP-jpeg`` models only: a model for PNG output leaves no signal through JPEG, yet on a JPEG
its lift can beat the right model's (exposure on llf-jpeg, wls-jpeg, cpd-jpeg q90 edits).
And a lift at a shifted phase counts ``SHIFTED`` dB less: most files are not cropped, while a
wrong model's noise peaks at any of the four phases (on training photos the wrong names
mostly came at a shifted phase, the right ones at (0, 0)). Siblings are not interchangeable:
restoring an edit with the other variant of its operator cost 10.6-30 dB on training photos.

A third piece of evidence is the fingerprint classifier (:mod:`restorable.fingerprint`): a
small CNN trained on the shipped candidates' own edits that reads the picture's high
frequencies, as steganalysis does, and says which model's hidden signal is there, or none.
Where a model's lift is too faint to clear its threshold (exposure, retouch-jpeg, rgf-jpeg,
wmf-jpeg after JPEG) its fingerprint is often still plain. Each model it knows gets
``FINGERPRINT_WEIGHT`` · ln(p(model) / p(strongest rival)) dB added to its rank, bounded, so a
clear lift still outweighs it and an unedited photo (p(none) high) is pushed further below every
threshold. The rival is "none" or any other model: against "none" alone, a sure classifier
(p(none) 1e-18 on an edit) gave every model the full bound and stopped telling them apart.

The cost is 4 restores and 4 applies of each candidate on a ``crop``-px square (guided models
run their classic operator on it); with many models a first pass on a quarter of the pixels
keeps the likeliest few.

The candidates are the single-setting guided models (``OP``, ``OP-jpeg``) and models learned
from a user's pairs. ``OP-learned`` and ``OP-cond`` are left out unless named: measured on two
samples each, a learned model's own edits lift only 0.3-6 dB (its self-consistency is flat
across phases), and as extra candidates they took l0, llf and exposure edits from the right
model (an exposure edit went to ``l0-learned``); a conditioned model lifts 10-12 dB on its own
edits but 7 on ``l0``'s, and the sibling rule of the time (the more consistent) picked it.
Their files keep their record.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from restorable import fingerprint
from restorable.errors import NoModelFits, RestorableError
from restorable.evaluation.metrics import float_psnr
from restorable.image import as_float_image, check_image, to_uint8
from restorable.models import RestorableModel, available_models, load, read_card_of
from restorable.network.storage import jpeg_roundtrip

PHASES: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0), (1, 1))
CROP = 256  # px, side of the central square identification looks at
BORDER = 16  # px left out at the crop's edges (the classic operator sees no context there)
# dB of lift below which no model is said to fit. Unedited photos lift at most 0.2 (10 photos,
# 256-px crops), but retouch lifted 1.2 on one unedited validation photo: kept at 1.75 for
# PNG, though some models' own edits lift less (bwp 1.2 on a training photo).
MIN_LIFT = 1.75
# The same for a file decoded from a JPEG, where only OP-jpeg models compete: unedited photos
# after q90 lift them at most 0.4 (training and validation photos), exposure-jpeg's and
# llf-jpeg's own edits 1.2-1.6 (training photos; 1.75 named them "none").
MIN_LIFT_JPEG = 1.0
# Per model, where calibrated: a lift counts only NULL_MARGIN dB above the largest that model
# reached on unedited training photos (data/lift_nulls.json, benchmarks/identify_nulls.py), and
# never below NULL_FLOOR. One threshold for all was set by the near-identity models (retouch
# lifts up to 1.9 dB on unedited photos, llf-jpeg 1.3) while most models stay under 0.5 there,
# and their own edits lifting 0.8-1.7 dB (rgf, wmf-jpeg, exposure) were called unedited.
NULL_MARGIN = 0.5
NULL_FLOOR = 1.0
JPEG_TRACE = 0.5  # dB of jpeg_traces peak above which a file counts as decoded from a JPEG
PHASE_TIE = 0.3  # dB a phase must beat (0, 0) by to be chosen over it
# px, side of the central square the grid to restore on is chosen on, once the model is known:
# its classic operator (guided models) runs on the whole square, so the consistency is not
# blurred by the operator seeing only a crop. On the 5 validation photos' edits (whole photos
# of up to 320 px, uncropped and cropped by (1, 1)) the right grid cost 1.5 dB on average when
# chosen on identification's 256-px square, 0.9 on the whole photo (docs/real-world.md).
GRID_CROP = 512
# ... and by how much a restoration that looks unedited counts: GRID_PRIOR dB per unit of
# ln p(unedited) the fingerprint classifier gives it (grid_prior; chosen on the calibration
# photos, docs/real-world.md)
GRID_PRIOR = 0.25
SHIFTED = 0.5  # dB of lift a model found at a shifted phase (a crop) counts less than at (0, 0)
NULLS_FILE = Path(__file__).parent / "data" / "lift_nulls.json"
PREFILTER_ABOVE = 8  # more candidates: a first pass at half the crop keeps the best 8 (+ siblings)
# The fingerprint classifier's say (fingerprint.py): each known model's rank moves by
# FINGERPRINT_WEIGHT dB per unit of ln(p(model) / p(strongest rival)), the ratio bounded to
# ±FINGERPRINT_BOUND; a model it gives at least FINGERPRINT_KEEP is measured in full even if
# the first look dropped it. Chosen on the calibration photos (docs/real-world.md).
FINGERPRINT_WEIGHT = 1.5
FINGERPRINT_BOUND = 8.0
FINGERPRINT_KEEP = 0.1
# ... but no model is named below this lift (dB), whatever the classifier says: it takes a
# near-identity edit (retouch on a photo without skin) for an unedited photo and back
FINGERPRINT_FLOOR = 0.3


class RestorableWarning(UserWarning):
    """The file's pixels are not the ones ``apply`` wrote (edited, re-saved, cropped ...)."""


@dataclass
class Identification:
    """Which model made an edited image, and how sure that is.

    ``score`` is the model's lift in dB (consistency at its best phase over the mean of the
    other phases); ``margin`` how far (dB) its rank (lift over its own threshold, plus the
    fingerprint's say) leads the best model of another operator; ``consistency`` the PSNR of
    apply(restore(y)) against y at that phase, ``phase`` the (rows, columns) of padding at the
    top and left that puts the image back on the model's grid; ``fingerprint`` the classifier's
    probability for the model (None where the classifier does not know it).
    """

    name: str
    score: float
    margin: float
    consistency: float
    phase: tuple[int, int]
    scores: dict[str, float] = field(default_factory=dict)
    fingerprint: float | None = None

    def __iter__(self):  # name, score, margin = identify(img)
        return iter((self.name, self.score, self.margin))

    def summary(self, emphasis: str = "") -> str:
        """What the CLI and the page tell the user (``emphasis`` wraps the name, e.g. "**")."""
        seen = "" if self.fingerprint is None else f", fingerprint {self.fingerprint:.2f}"
        return (
            f"identified {emphasis}{self.name}{emphasis} from the pixels (phase lift "
            f"{self.score:.1f} dB{seen}, {self.margin:.1f} dB ahead of the runner-up)"
        )


def central_crop(img: np.ndarray, side: int = CROP) -> np.ndarray:
    """A ``side``-px square from the middle of ``img``, its origin on the 8-px grid of ``img``
    (so a phase found on it is the image's phase)."""
    h, w = img.shape[:2]
    oy = max(0, (h - side) // 2) // 8 * 8
    ox = max(0, (w - side) // 2) // 8 * 8
    return img[oy : oy + side, ox : ox + side]


def parse_grid(text: str) -> tuple[int, int]:
    """ "0,1" -> (0, 1): a grid (rows, columns of padding at the top and left) as a user types
    it for ``restore --grid`` or picks it on the page; RestorableError otherwise."""
    parts = str(text).replace(" ", "").split(",")
    if len(parts) != 2 or any(p not in ("0", "1") for p in parts):
        raise RestorableError(f"grid: expected two values, each 0 or 1, e.g. 0,0: {text!r}")
    return int(parts[0]), int(parts[1])


def pad_phase(img: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """Reflect-pad ``phase`` = (rows, columns) at the top and left."""
    dy, dx = phase
    if not dy and not dx:
        return img
    return np.pad(img, [(dy, 0), (dx, 0)] + [(0, 0)] * (img.ndim - 2), mode="reflect")


def restore_at_phase(
    model: RestorableModel,
    img: np.ndarray,
    phase: tuple[int, int] = (0, 0),
    tile: int | str | None = "auto",
) -> np.ndarray:
    """``model.restore`` of ``img`` padded by ``phase`` (rows, columns) at the top and left,
    cropped back: an edit cropped by an odd number of pixels, back on the 2×2 Haar grid.

    Only the 2-px phase matters: after the Haar step the restore network is stride-1 (its
    8-px padding at the bottom and right is only for apply's strided ψ).
    """
    dy, dx = phase
    return model.restore(pad_phase(check_image(img), phase), tile=tile)[dy:, dx:]


def consistency(
    model: RestorableModel, img: np.ndarray, phase: tuple[int, int] = (0, 0), border: int = BORDER
) -> float:
    """PSNR (dB) of apply(restore(y)) against y, restored at ``phase``, ``border`` px left out.

    Meant for a small crop (one pass, no tiles): a guided model runs its classic operator here.
    """
    return _consistency_and_restoration(model, img, phase, border)[0]


def _consistency_and_restoration(
    model: RestorableModel, img: np.ndarray, phase: tuple[int, int], border: int = BORDER
) -> tuple[float, np.ndarray]:
    """:func:`consistency` and the uint8 restoration it made (cropped back): the grid search
    reads both, and a restore is not worth making twice."""
    y = as_float_image(img)
    dy, dx = phase
    yp = pad_phase(y, phase)
    x = np.clip(model.restore_float(yp), 0.0, 1.0)
    out = model.apply_float(x, model.reference_guide(x))[dy:, dx:]
    b = border if min(y.shape[:2]) > 4 * border else 0
    inner = (slice(b, y.shape[0] - b), slice(b, y.shape[1] - b))
    return float_psnr(out[inner], y[inner]), to_uint8(x[dy:, dx:])


def phase_scores(model: RestorableModel, img: np.ndarray) -> dict[tuple[int, int], float]:
    """Consistency (dB) of ``img`` restored at each of the four Haar phases."""
    return {p: consistency(model, img, p) for p in PHASES}


def grid_prior(
    model: RestorableModel,
    img: np.ndarray,
    prior: float = GRID_PRIOR,
    restored: dict[tuple[int, int], np.ndarray] | None = None,
) -> dict[tuple[int, int], float]:
    """Per phase, ``prior`` · ln p(unedited) of ``img`` restored there: the fingerprint
    classifier on the restoration's central ``CROP``-px square (0 where none ships).

    Consistency alone can prefer a wrong grid: on a stripped ``exposure-jpeg`` edit of a bundled
    sample it was highest on (0, 1) (40.3 dB against 33.9 on the right grid), where the
    restoration scores 21.1 dB against the original instead of 37.7. A restoration on the
    right grid is close to an unedited photo; on a wrong grid it carries the hidden signal
    garbled, which the classifier's "none" class reads. ``restored``: the four restorations,
    where the caller has them already.
    """
    terms = dict.fromkeys(PHASES, 0.0)
    if not prior:
        return terms
    for p in PHASES:
        x = restored[p] if restored else restore_at_phase(model, img, p, tile=None)
        unedited = fingerprint.unedited_probability(central_crop(x, CROP))
        if unedited is not None:
            terms[p] = prior * float(np.log(max(unedited, 1e-30)))
    return terms


def lift(scores: dict[tuple[int, int], float]) -> tuple[float, tuple[int, int]]:
    """(best phase's consistency minus the mean of the others, best phase)."""
    best = max(scores, key=scores.get)
    others = [v for p, v in scores.items() if p != best]
    return scores[best] - float(np.mean(others)), best


def phase_search(
    model: RestorableModel, img: np.ndarray, crop: int = GRID_CROP, tie: float = PHASE_TIE
) -> tuple[tuple[int, int], float]:
    """(phase, lift): the (rows, columns) of top/left padding that puts ``img`` (an edit by
    ``model``, maybe cropped at any offset) back on the model's Haar grid, and the lift (dB) of
    the most consistent phase over the others: how clearly the model's hidden signal is in the
    file at all (below ``MIN_LIFT``: re-encoded, or not its edit). The phase is the one whose
    consistency plus :func:`grid_prior` (how unedited its restoration looks) is highest, on a
    central ``crop``-px square.

    (0, 0), the uncropped file's phase, stays unless another beats it by ``tie`` dB: a
    mild model's consistency is nearly flat across phases, and there noise should not move it.
    """
    check_image(img)
    square = central_crop(img, crop)
    passes = {p: _consistency_and_restoration(model, square, p) for p in PHASES}
    consistent = {p: c for p, (c, _) in passes.items()}
    gain = lift(consistent)[0]
    prior = grid_prior(model, square, restored={p: x for p, (_, x) in passes.items()})
    scores = {p: consistent[p] + prior[p] for p in PHASES}
    best = max(scores, key=scores.get)
    return (best if scores[best] - scores[(0, 0)] >= tie else (0, 0)), gain


def find_phase(model: RestorableModel, img: np.ndarray, crop: int = GRID_CROP) -> tuple[int, int]:
    """The phase of :func:`phase_search`."""
    return phase_search(model, img, crop)[0]


def candidates(weights_dir: str | None = None) -> list[str]:
    """The models identification tries by default (module doc): all but OP-learned, OP-cond."""
    names = available_models(weights_dir) if weights_dir else available_models()
    return [n for n in names if read_card_of(n, weights_dir).variant not in ("learned", "cond")]


def _bar(names: list[str], desc: str, progress: bool) -> tqdm:
    """Models tried, on stderr; only on a terminal, so logs keep the one-line messages."""
    return tqdm(names, desc=desc, unit="model", disable=None if progress else True, leave=False)


def jpeg_traces(img: np.ndarray, side: int = CROP) -> tuple[float, int]:
    """(dB, quality): whether the uint8 ``img`` was decoded from a JPEG, and at which quality.

    JPEG is nearly idempotent: re-compressing a decoded JPEG at its own quality changes it
    much less than at the qualities either side, so PSNR(y, jpeg_q(y)) peaks at that q; the
    peak's height over its neighbours (dB) is the trace. A picture never compressed shows no
    peak (≤ 0.25 dB on unedited training photos). Blockiness does not tell: the photos
    themselves came as JPEGs, and an edit of them keeps their blocks. On a central ``side``-px
    square, on the image's own 8-px grid (that of a JPEG file); 39 encodes, about 0.1 s.
    """
    y = central_crop(img, side)
    qs = list(range(60, 99))
    # 4:2:0, as Pillow saves by default and as most re-saves are
    d = np.array([float_psnr(jpeg_roundtrip(y, q, 2) / 255.0, y / 255.0) for q in qs])
    prominence = d[1:-1] - np.maximum(d[:-2], d[2:])
    k = int(np.argmax(prominence))
    return float(prominence[k]), qs[k + 1]


@dataclass
class Evidence:
    """What identification measured on one image: ``full`` the consistency (dB) of each model
    tried on the ``crop``-px square at each phase, ``quick`` the same at half the crop for every
    candidate (only when there were many), ``traces`` :func:`jpeg_traces` of the image,
    ``fingerprint`` the classifier's probabilities ("none" and the models it knows; {} where
    none ships)."""

    full: dict[str, dict[tuple[int, int], float]]
    op: dict[str, str]
    jpeg: dict[str, bool]
    traces: float
    quality: int = 0
    quick: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)
    fingerprint: dict[str, float] = field(default_factory=dict)


def measure(
    y: np.ndarray,
    models: dict[str, RestorableModel],
    crop: int = CROP,
    progress: bool = False,
    keep: int = PREFILTER_ABOVE,
) -> Evidence:
    """The phase scores :func:`decide` reads; the expensive part of :func:`identify`."""
    traces, quality = jpeg_traces(y, crop)
    names = list(models)
    jpeg = {n: bool(m.card.training.get("jpeg")) for n, m in models.items()}
    if traces >= JPEG_TRACE and any(jpeg.values()):
        # a decoded JPEG: a model for PNG output cannot have left its signal in it
        names = [n for n in names if jpeg[n]]
    square = central_crop(y, crop)
    prints = fingerprint.probabilities(square, {n: models[n] for n in names})
    quick = {}
    if len(names) > keep:
        small = central_crop(y, crop // 2)
        bar = _bar(names, "identifying, first look", progress)
        quick = {n: phase_scores(models[n], small) for n in bar}
        ql = {n: lift(s)[0] for n, s in quick.items()}
        top = sorted(names, key=ql.get, reverse=True)[:keep]
        # and their siblings: at a quarter of the pixels a fork (l0-jpeg) can out-lift the
        # variant that made the edit (l0), which then fell out (measured on a bundled sample)
        top += [n for n in names if n not in top and prints.get(n, 0.0) >= FINGERPRINT_KEEP]
        ops = {models[n].op for n in top}
        names = top + [n for n in names if n not in top and models[n].op in ops]
    bar = _bar(names, "identifying", progress)
    full = {n: phase_scores(models[n], square) for n in bar}
    return Evidence(
        full=full,
        op={n: m.op for n, m in models.items()},
        jpeg=jpeg,
        traces=traces,
        quality=quality,
        quick=quick,
        fingerprint=prints,
    )


@functools.lru_cache(maxsize=4)
def lift_nulls(path: Path | None = None) -> dict[str, dict[str, float]]:
    """{"png": {model: largest lift on unedited training photos}, "jpeg": {...} after JPEG q90}:
    the calibration benchmarks/identify_nulls.py wrote (``--write``); empty where none ships.
    Read once per process (decide runs per file, and per trial in a --redecide)."""
    path = path or NULLS_FILE
    if not path.exists():
        return {"png": {}, "jpeg": {}}
    data = json.loads(path.read_text())
    return {k: {n: float(v["max"]) for n, v in data.get(k, {}).items()} for k in ("png", "jpeg")}


def thresholds(
    names: list[str], nulls: dict[str, float], default: float, margin: float = NULL_MARGIN
) -> dict[str, float]:
    """The lift (dB) each model must reach to be named: ``margin`` above its calibrated null, at
    least ``NULL_FLOOR``; ``default`` (the one threshold for all) for a model not calibrated, e.g.
    one learned from a user's pairs."""
    return {n: max(NULL_FLOOR, nulls[n] + margin) if n in nulls else default for n in names}


def decide(
    ev: Evidence,
    min_lift: float = MIN_LIFT,
    min_lift_jpeg: float = MIN_LIFT_JPEG,
    shifted: float = SHIFTED,
    nulls: dict[str, dict[str, float]] | None = None,
    fingerprint_weight: float = FINGERPRINT_WEIGHT,
    fingerprint_floor: float = FINGERPRINT_FLOOR,
) -> Identification:
    """The model named by the measured phase scores (module doc); NoModelFits if none fits.

    A file with JPEG traces (:func:`jpeg_traces` ≥ ``JPEG_TRACE``) is read by the OP-jpeg models
    only. Each model's lift is measured against its own threshold (:func:`thresholds` from
    ``nulls``, default the shipped :func:`lift_nulls`; ``{}`` for none: ``min_lift``, or
    ``min_lift_jpeg`` on a JPEG, for all), and the model whose lift clears it by the most is
    named. A lift found at a shifted phase counts ``shifted`` dB less (most files are not
    cropped; noise peaks at any of the four phases). A model the fingerprint classifier knows
    (``ev.fingerprint``) has ``fingerprint_weight`` · ln(p(model) / p(rival)), bounded, added to
    its rank and to its lift before the threshold, and is never named below
    ``fingerprint_floor`` dB of lift.
    """
    names = list(ev.full)
    nulls = lift_nulls() if nulls is None else nulls
    is_jpeg = ev.traces >= JPEG_TRACE and any(ev.jpeg.get(n) for n in names)
    if is_jpeg:
        names = [n for n in names if ev.jpeg.get(n)]
        min_lift = min_lift_jpeg
    need = thresholds(names, nulls.get("jpeg" if is_jpeg else "png", {}), min_lift)
    results = {n: ev.full[n] for n in names}
    lifts = {n: lift(s) for n, s in results.items()}
    # how far each lift clears its model's own threshold
    rank = {n: g - (shifted if p != (0, 0) else 0.0) - need[n] for n, (g, p) in lifts.items()}
    # and the fingerprint's say, for the models it knows: a hidden signal too faint for the
    # lift (exposure, retouch-jpeg, rgf, wmf-jpeg after JPEG) is often plain to it
    prints = ev.fingerprint
    said = {
        n: fingerprint_weight * fingerprint_term(prints[n], rival(prints, n))
        for n in rank
        if n in prints
    }
    for n, term in said.items():
        rank[n] += term

    # The lift, not the consistency, names the model: near-identity models (exposure,
    # retouch) are highly self-consistent on any image, and another model can lift a little
    # (measured with all 24 shipped models: the right one led by 1.4-6 dB). That holds between
    # the variants of one operator too: an OP-jpeg model, trained to tolerate errors, is more
    # consistent than its PNG sibling on the PNG sibling's own edits (wls, wmf), while its lift
    # is 2-4 dB lower. Naming the more consistent sibling lost those 10 of 10 times (7 validation
    # trials, 3 on training photos: benchmarks/bench_identify.py --redecide) and won none.
    ranked = sorted(names, key=rank.get, reverse=True)
    best = ranked[0]
    op_of = ev.op
    score, phase = lifts[best]
    rivals = [rank[n] for n in ranked if op_of[n] != op_of[best]]
    margin = rank[ranked[0]] - max(rivals) if rivals else score
    found = Identification(
        name=best,
        score=score,
        margin=margin,
        consistency=results[best][phase],
        phase=phase,
        scores={n: v[0] for n, v in lifts.items()},
        fingerprint=prints.get(best),
    )
    if score + said.get(best, 0.0) < need[best] or (best in said and score < fingerprint_floor):
        also = f", fingerprint {prints[best]:.2f}" if best in prints else ""
        raise NoModelFits(
            f"no restorable model fits this image (best {best}: {score:.1f} dB of phase lift, "
            f"{need[best]:.2g} needed{also})"
        )
    return found


def rival(prints: dict[str, float], name: str) -> float:
    """The classifier's probability for the likeliest answer other than ``name`` ("none"
    included): what a model's fingerprint is weighed against."""
    return max((p for n, p in prints.items() if n != name), default=0.0)


def fingerprint_term(p_model: float, p_rival: float) -> float:
    """ln(p(model) / p(rival)), bounded to ±FINGERPRINT_BOUND: a confident classifier moves
    a rank by a few dB, never without limit."""
    ratio = np.log(max(p_model, 1e-30) / max(p_rival, 1e-30))
    return float(np.clip(ratio, -FINGERPRINT_BOUND, FINGERPRINT_BOUND))


def identify(
    img: np.ndarray,
    models: list[str] | dict[str, RestorableModel] | None = None,
    *,
    crop: int = CROP,
    weights_dir: str | None = None,
    min_lift: float = MIN_LIFT,
    progress: bool = False,
) -> Identification:
    """Which model made the edited uint8 HxWx3 ``img``: ``(name, score, margin)`` unpacks.

    ``models`` are names (default: :func:`candidates`) or loaded models. Raises
    RestorableError when no model's lift reaches ``min_lift`` dB (the image is not an edit
    from any of them, or the hidden signal did not survive, e.g. heavy compression).
    ``progress``: a bar on stderr (each guided model runs its classic operator four times, so
    this takes seconds to a minute).
    """
    check_image(img)
    if models is None:
        models = candidates(weights_dir)
    if not isinstance(models, dict):
        models = {n: load(n, weights_dir) for n in models}
    if not models:
        raise NoModelFits(
            "no record, and no model that identification tries is installed (it leaves out "
            "learned and conditioned models)"
        )
    y = to_uint8(as_float_image(img)) if img.dtype != np.uint8 else img
    return decide(measure(y, models, crop, progress), min_lift)


def error_map(
    model: RestorableModel,
    img: np.ndarray,
    phase: tuple[int, int] = (0, 0),
    restored: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel |apply(restore(y)) − y| in 8-bit levels (float32 HxW, mean over channels).

    Where the loop departs from y, the file was changed after apply (retouched, compressed,
    re-sampled) and the restoration there cannot be trusted. Pass ``restored`` (restored at
    ``phase``) to skip the restore. Tiled, any size.
    """
    y = to_uint8(as_float_image(img))
    if restored is None:
        restored = restore_at_phase(model, y, phase)
    again = model.apply(pad_phase(restored, phase))[phase[0] :, phase[1] :]
    err = np.abs(again.astype(np.int16) - y.astype(np.int16))
    return err.mean(axis=2).astype(np.float32)


def confidence_image(err: np.ndarray, levels: float = 8.0) -> np.ndarray:
    """uint8 HxWx3 picture of an error map: black = trustworthy, white = ``levels`` or more 8-bit
    levels of disagreement, averaged over 9×9 px so single rounding slips do not show."""
    from scipy.ndimage import uniform_filter

    smooth = uniform_filter(err.astype(np.float32), size=9, mode="reflect")
    grey = to_uint8(np.clip(smooth / levels, 0.0, 1.0))
    return np.repeat(grey[..., None], 3, axis=2)


def check_record(img: np.ndarray, meta: dict | None, lossless: bool) -> str | None:
    """A one-line warning when ``img``'s pixels differ from those ``apply`` recorded (``sha``),
    else None. Only lossless files are checked: a JPEG's record hashes the pixels before
    compression, so its decoded pixels never match; there the confidence map tells."""
    from restorable.files import content_hash

    if not meta or "sha" not in meta or not lossless:
        return None
    if content_hash(img) == meta["sha"]:
        return None
    return (
        "warning: the pixels differ from those 'restorable apply' wrote (edited, re-saved or "
        "cropped since); the restoration may be off where they changed (see --confidence-map)"
    )


def warn_if_changed(img: np.ndarray, meta: dict | None, lossless: bool = True) -> bool:
    """:func:`check_record` as a Python warning (:class:`RestorableWarning`); True if warned."""
    message = check_record(img, meta, lossless)
    if message:
        warnings.warn(message.removeprefix("warning: "), RestorableWarning, stacklevel=2)
    return message is not None


@dataclass
class Restoration:
    """What :func:`restore_file` did: the restored uint8 HxWx3 ``image`` (and the file's
    ``alpha``), the model ``name``, how it was chosen (``source``: "option", "record" or
    "pixels", with ``identification`` for the last), the Haar ``phase`` restored at, and
    ``changed``: True when the pixels differ from the record's hash, None when not checkable;
    ``lift``: when the phase was searched for, how clearly (dB) the model's signal showed."""

    image: np.ndarray
    alpha: np.ndarray | None
    name: str
    source: str
    phase: tuple[int, int]
    identification: Identification | None = None
    changed: bool | None = None
    lift: float | None = None
    jpeg_file: bool = False  # the file is JPEG
    jpeg_model: bool = False  # the model was trained through JPEG (OP-jpeg)
    op: str = ""  # the model's operator (its OP-jpeg is the one to suggest)

    def grid_note(self) -> str | None:
        """What to tell the user about the hidden signal, if anything.

        A model for PNG output read from a JPEG file: its signal does not survive JPEG (a bwp
        edit re-saved at q92 restored at 18.5 dB), whatever the phase search found. Otherwise a
        shifted phase (a crop), saying whether the signal showed clearly (lift ≥ ``MIN_LIFT``):
        the phase lift is no verdict by itself, some models' own edits lift little (rgf, bwp,
        retouch 0.7-1.7 dB on a 320-px sample, where a re-saved l0 edit lifts 0.1). That case
        once read only "restored on a shifted grid (1, 1) (cropped?)". Said for an identified
        file too, with the way back: an uncropped file restored on a shifted grid (a weak
        signal that misled the search) restores on its own with ``--grid 0,0``.
        """
        if self.identification is None and self.jpeg_file and not self.jpeg_model:
            return (
                f"{self.name} is a model for PNG output and this file is JPEG: its hidden signal "
                f"does not survive JPEG, expect a poor restoration ({self.op or self.name}-jpeg "
                "is the model for JPEG output)"
            )
        if self.lift is None or self.phase == (0, 0):
            return None
        faint = "" if self.lift >= MIN_LIFT else "; the model's signal is faint here"
        return (
            f"restored on a shifted grid {self.phase} (cropped?{faint}, "
            f"phase lift {self.lift:.1f} dB); if the file was not cropped, its own grid 0,0 "
            "may restore better (restore --grid 0,0; Grid on the page)"
        )


REPORT_KINDS = ("identified", "note", "warning")


def report(
    result: Restoration, notes: list[str], caught: list, emphasis: str = ""
) -> list[tuple[str, str]]:
    """What to tell the user after :func:`restore_file`, in order, as ``(kind, text)`` pairs:
    "identified" (the model came from the pixels: the summary, the model's name wrapped in
    ``emphasis``), else "note" (the grid note, if any); then each "warning" (``caught``: the
    warnings recorded around the call) and each "note" (``notes``: conversions, an ignored
    record). The one source of a restore's messages; the CLI and the page only format kinds."""
    out: list[tuple[str, str]] = []
    if result.identification is not None:
        out.append(("identified", result.identification.summary(emphasis)))
    if note := result.grid_note():
        out.append(("note", note))
    out += [("warning", str(w.message)) for w in caught]
    out += [("note", n) for n in notes]
    return out


def restore_file(
    path,
    model: str | None = None,
    *,
    op: str | None = None,
    weights_dir: str | None = None,
    tile: int | str | None = "auto",
    notes: list[str] | None = None,
    cache: dict[str, RestorableModel] | None = None,
    device: str = "cpu",
    precision: str = "auto",
    progress: bool = False,
    grid: tuple[int, int] | None = None,
) -> Restoration:
    """Restore the original from an edited file, whatever happened to it since ``apply``.

        file ─► record? ─ yes ─► model named there; PNG pixels ≠ recorded hash ─► warning
                        └ no ──► identify(pixels) ─► model
             ─► grid (``grid=``; hash matches: 0, 0; else phase_search: the most consistent
                of four on a GRID_CROP square, plus how unedited each restoration looks)
             ─► restore

    ``model`` (a model name) overrides the record and identification (``op=`` is its old,
    deprecated name). A changed PNG issues a
    :class:`RestorableWarning`; JPEG records hash the pixels before compression, so they are
    not compared (lossy codecs change every pixel a little; the confidence map shows where
    the change matters). ``device`` and ``precision``: as for :func:`restorable.load`;
    ``progress``: a bar while identifying. ``grid`` (rows, columns of padding at the top and
    left, each 0 or 1) overrides the grid found from the pixels: (0, 0) for a file as ``apply``
    wrote it, when the grid search was misled (docs/real-world.md).

    The record is untrusted (:mod:`restorable.record`): one that is malformed, or names a model
    that is not installed, is ignored with a note in ``notes`` and the model is identified
    from the pixels instead.
    """
    from pathlib import Path

    from restorable.files import read_image
    from restorable.models import has_model
    from restorable.names import check_model_name
    from restorable.record import read_record

    path = Path(path)
    cache = {} if cache is None else cache
    notes = [] if notes is None else notes
    if op is not None:
        from restorable.models import model_argument

        model = model_argument(model, op)
    if model is not None:
        check_model_name(model, "--model")  # before any work
    if grid is not None and (len(grid) != 2 or any(g not in (0, 1) for g in grid)):
        raise RestorableError(f"grid must be two values, each 0 or 1 (rows, columns): {grid}")

    def get(name: str) -> RestorableModel:
        if name not in cache:
            cache[name] = load(name, weights_dir, device=device, precision=precision)
        return cache[name]

    record = read_record(path, notes)  # before the pixels: a crafted record costs nothing
    rgb, alpha = read_image(path, with_alpha=True, notes=notes)
    if model is None and record is not None and not has_model(record.name, weights_dir):
        notes.append(f"record ignored: it names model {record.name!r}, which is not installed here")
        record = None
    meta = record.as_dict() if record is not None else None
    lossless = path.suffix.lower() == ".png"
    changed = None
    if meta and "sha" in meta and lossless:
        changed = warn_if_changed(rgb, meta, lossless)
    found = None
    if model is not None:
        name, source = model, "option"
    elif record is not None:
        name, source = record.name, "record"
    else:
        try:
            found = identify(rgb, {n: get(n) for n in candidates(weights_dir)}, progress=progress)
        except NoModelFits as exc:  # say why the record did not name the model, if it was there
            ignored = [n for n in notes if n.startswith("record ignored")]
            if not ignored:
                raise
            raise NoModelFits(f"{exc.fact}; {ignored[-1]}") from None
        name, source = found.name, "pixels"
    m = get(name)
    gain = None
    if grid is not None:
        phase = (int(grid[0]), int(grid[1]))
    elif found is not None:
        # identification's phase came from a 256-px square, each model's operator run on that
        # square alone; the named model's grid is chosen again on a larger one (GRID_CROP)
        phase, gain = phase_search(m, rgb, tie=0.0)
    elif changed is False:
        phase = (0, 0)  # the very pixels apply wrote: on the grid
    else:
        phase, gain = phase_search(m, rgb)
    image = restore_at_phase(m, rgb, phase, tile=tile)
    jpeg_file = path.suffix.lower() in (".jpg", ".jpeg", ".jfif")
    jpeg_model = bool(m.card.training.get("jpeg"))
    return Restoration(
        image, alpha, name, source, phase, found, changed, gain, jpeg_file, jpeg_model, m.op
    )
