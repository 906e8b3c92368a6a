"""The fingerprint classifier identification reads beside the phase lift: its network, what it
answers for (only models it knows at their weights), how decide weighs it, how it is trained,
and the shipped one on real edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restorable import fingerprint
from restorable.errors import RestorableError
from restorable.models import available_models, load
from restorable.network.fingerprint import Fingerprint, probabilities
from restorable.realworld import (
    FINGERPRINT_BOUND,
    FINGERPRINT_FLOOR,
    PHASES,
    Evidence,
    candidates,
    decide,
    fingerprint_term,
    identify,
)
from restorable.training import fingerprint as training

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


def test_network_reads_any_size_and_answers_a_distribution() -> None:
    """Fully convolutional with global pooling: trained on 96-px crops, it reads identification's
    256-px square (or a smaller photo) in one pass."""
    torch.manual_seed(0)
    net = Fingerprint(5).eval()
    rng = np.random.default_rng(0)
    for shape in [(96, 96, 3), (256, 256, 3), (131, 77, 3)]:
        p = probabilities(net, rng.integers(0, 256, shape, dtype=np.uint8))
        assert p.shape == (5,) and np.all(p >= 0) and abs(p.sum() - 1) < 1e-5


def test_digest_follows_the_weights_not_the_file() -> None:
    a, b = Fingerprint(3), Fingerprint(3)
    b.load_state_dict(a.state_dict())
    assert fingerprint.weights_digest(a) == fingerprint.weights_digest(b)
    c = Fingerprint(3)
    c.load_state_dict(a.state_dict())
    with torch.no_grad():
        c.head.bias[0] += 1e-3
    assert fingerprint.weights_digest(c) != fingerprint.weights_digest(a)


def _evidence(lifts: dict[str, float], prints: dict[str, float], traces: float = 0.0):
    """Evidence whose model ``n`` lifts ``lifts[n]`` dB at (0, 0) over a flat 40 dB."""
    full = {n: {p: 40.0 + (g if p == (0, 0) else 0.0) for p in PHASES} for n, g in lifts.items()}
    op = {n: n.removesuffix("-jpeg") for n in lifts}
    jpeg = {n: n.endswith("-jpeg") for n in lifts}
    return Evidence(full=full, op=op, jpeg=jpeg, traces=traces, fingerprint=prints)


def test_decide_names_a_faint_signal_the_fingerprint_sees() -> None:
    """An exposure edit whose lift is under its threshold: without the classifier nothing fits;
    with it sure of exposure, exposure is named (and the summary says so). Sure of no model,
    the same lift is still nothing, no model is named below the floor of lift, and a model the
    classifier does not know keeps its lift."""
    lifts = {"exposure": 0.8, "wmf": 0.2}
    with pytest.raises(RestorableError, match="no restorable model fits"):
        decide(_evidence(lifts, {}), nulls={})
    sure = {"none": 0.01, "exposure": 0.98, "wmf": 0.01}
    found = decide(_evidence(lifts, sure), nulls={})
    assert found.name == "exposure" and found.fingerprint == pytest.approx(0.98)
    assert "fingerprint 0.98" in found.summary()
    unedited = {"none": 0.97, "exposure": 0.02, "wmf": 0.01}
    with pytest.raises(RestorableError, match="fingerprint 0.02"):
        decide(_evidence(lifts, unedited), nulls={})
    with pytest.raises(RestorableError, match="no restorable model fits"):  # under the floor
        decide(_evidence({**lifts, "exposure": FINGERPRINT_FLOOR / 2}, sure), nulls={})
    mine = decide(_evidence({"mine": 3.0, "wmf": 0.2}, {"none": 0.9, "wmf": 0.1}), nulls={})
    assert mine.name == "mine" and mine.fingerprint is None


def test_a_clear_lift_outweighs_a_bounded_fingerprint() -> None:
    """The classifier's say is bounded: a model lifting far above its threshold is named even
    when the classifier is sure of another."""
    assert fingerprint_term(1.0, 0.0) == FINGERPRINT_BOUND
    assert fingerprint_term(0.0, 1.0) == -FINGERPRINT_BOUND
    lifts = {"l0": 4 * FINGERPRINT_BOUND, "wmf": 0.2}
    found = decide(_evidence(lifts, {"none": 0.0, "l0": 0.0, "wmf": 1.0}), nulls={})
    assert found.name == "l0"


def test_a_sure_classifier_tells_siblings_apart() -> None:
    """On an edit the classifier is sure of, p(none) is tiny (1e-18 on a validation exposure
    edit): weighed against "none", every model got the full bound and the sibling with the
    larger lift won. Weighed against the strongest rival, the model it names gains and the
    others lose, so a faint right lift beats its sibling's larger one."""
    lifts = {"exposure": 0.5, "exposure-jpeg": 2.0}
    sure = {"none": 1.6e-18, "exposure": 0.996, "exposure-jpeg": 2.6e-4}
    assert decide(_evidence(lifts, sure), nulls={}).name == "exposure"
    assert decide(_evidence(lifts, {}), nulls={}).name == "exposure-jpeg"  # the lift alone
    assert fingerprint_term(0.996, 2.6e-4) > 0 > fingerprint_term(2.6e-4, 0.996)


def _smooth_photos(rng, n: int, side: int) -> np.ndarray:
    """Smooth ramps with a little noise: what a photo's flat parts are to a hidden signal."""
    yy, xx = np.mgrid[:side, :side] / side
    slope = rng.uniform(-60, 60, (n, 1, 1, 3))
    level = rng.uniform(60, 190, (n, 1, 1, 3))
    return level + slope * (yy + xx)[None, ..., None] + rng.normal(0, 1.0, (n, side, side, 3))


def _marked(photos: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class 0 unmarked, 1 a ±5-level 2×2 checkerboard, 2 ±5-level vertical stripes."""
    side = photos.shape[1]
    yy, xx = np.mgrid[:side, :side]
    marks = np.stack([0 * yy, 5 * (2 * ((yy + xx) % 2) - 1), 5 * (2 * (xx % 2) - 1)])
    return np.clip(np.rint(photos + marks[classes][..., None]), 0, 255).astype(np.uint8)


def test_training_separates_signals_and_installs_a_card(tmp_path, monkeypatch) -> None:
    """A hundred deterministic steps tell faint high-frequency marks (what a hidden signal is
    like) from none and from each other; the card installed keeps the classes and the digest
    of each model named, and the fp16 weights read back answer alike."""
    rng = np.random.default_rng(0)
    classes = np.arange(60) % 3
    crops = _marked(_smooth_photos(rng, 60, training.CROP), classes)
    torch.set_num_threads(1)
    net, steps = training.train(crops, classes, 3, minutes=1e9, steps=100, batch=16, progress=False)
    assert steps == 100
    test = _marked(_smooth_photos(rng, 12, 160), np.arange(12) % 3)
    right = sum(int(probabilities(net, t).argmax() == k % 3) for k, t in enumerate(test))
    assert right >= 11
    monkeypatch.setattr(training, "_digests", lambda names: {n: "x" + n for n in names})
    path = training.install(net, ["a", "b"], {"steps": steps}, tmp_path)
    loaded, card = fingerprint.load_fingerprint(path.parent)
    assert card["classes"] == ["none", "a", "b"] and card["digests"] == {"a": "xa", "b": "xb"}
    x = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.allclose(probabilities(loaded, x), probabilities(net, x), atol=0.02)  # fp16


SHIPPED = fingerprint.load_fingerprint()
needs_shipped = pytest.mark.skipif(
    SHIPPED is None or not {"exposure", "l0"} <= set(available_models()),
    reason="needs the shipped classifier and models",
)


@needs_shipped
def test_shipped_classifier_knows_every_candidate_at_its_weights() -> None:
    """Retraining a candidate model without retraining the classifier (python -m
    restorable.training.fingerprint --install) would quietly leave that model to the lift."""
    _, card = SHIPPED
    stale = [
        n for n in candidates() if card["digests"].get(n) != fingerprint.weights_digest(load(n).net)
    ]
    assert not stale, f"retrain the fingerprint classifier: {stale}"


@needs_shipped
def test_answers_only_for_models_it_knows() -> None:
    x = np.full((64, 64, 3), 128, np.uint8)
    l0 = load("l0")
    assert fingerprint.probabilities(x, {"l0": l0}).keys() == {"none", "l0"}
    changed = load("l0")
    with torch.no_grad():
        next(changed.net.parameters()).add_(1e-2)
    changed.net._restorable_digest = None
    assert fingerprint.probabilities(x, {"l0": changed}) == {}
    p = fingerprint.probabilities(x, {"l0": l0, "exposure": load("exposure")})
    assert abs(sum(p.values()) - 1) < 1e-6
    # the smallest picture identification takes (4 px) leaves one value per map: no answer
    assert fingerprint.probabilities(np.zeros((4, 4, 3), np.uint8), {"l0": l0}) == {}


@needs_shipped
def test_the_fingerprint_tells_exposure_jpeg_from_exposure() -> None:
    """Two siblings' edits both lift: on this bundled sample exposure out-lifts exposure-jpeg on
    exposure-jpeg's own edit (4.9 dB against 3.9), so the lift alone names the wrong sibling
    (restoring with it costs 10-30 dB); the classifier, sure of exposure-jpeg, names it."""
    from dataclasses import replace

    from restorable.files import read_image
    from restorable.realworld import central_crop, measure

    photo = central_crop(read_image(SAMPLES / "libjxl-testdata__cvo9xd_keong_macan_srgb8.jpg"))
    models = {n: load(n) for n in ("exposure", "exposure-jpeg", "wmf", "l0")}
    ev = measure(models["exposure-jpeg"].apply(photo), models)
    assert decide(replace(ev, fingerprint={})).name == "exposure"
    found = decide(ev)
    assert found.name == "exposure-jpeg" and found.fingerprint > 0.9
    assert identify(models["exposure-jpeg"].apply(photo), models).name == "exposure-jpeg"
