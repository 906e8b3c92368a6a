"""Files back from the real world, with the shipped models on small crops of bundled samples:
no record (the model is identified from the pixels), cropped at any offset (restored on the
right Haar phase), changed after apply (a warning and a confidence map), WebP and real codecs."""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import restorable
from restorable.cli import main
from restorable.errors import RestorableError
from restorable.evaluation.metrics import psnr
from restorable.files import content_hash, read_image, write_image
from restorable.models import available_models, load
from restorable.realworld import (
    JPEG_TRACE,
    MIN_LIFT,
    PHASES,
    SHIFTED,
    Evidence,
    RestorableWarning,
    candidates,
    decide,
    error_map,
    find_phase,
    identify,
    jpeg_traces,
    lift_nulls,
    restore_at_phase,
    restore_file,
    thresholds,
)

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
HAVE_L0 = {"l0", "l0-jpeg"} <= set(available_models())
pytestmark = pytest.mark.skipif(not HAVE_L0, reason="needs the shipped l0 and l0-jpeg models")


@pytest.fixture(scope="module")
def models() -> dict:
    return {n: load(n) for n in candidates()}


def test_candidates_leave_out_learned_and_conditioned_models() -> None:
    """Their edits barely lift (learned) or they out-lift the model that made an edit (cond):
    identification tries every other model, the shipped OP and OP-jpeg of all twelve ops."""
    names = candidates()
    assert {"l0", "l0-jpeg", "wmf", "exposure-jpeg"} <= set(names)
    assert not [n for n in names if n.endswith("-learned") or n.endswith("-cond")]
    shipped = set(available_models())
    assert {n for n in shipped if n.endswith("-learned") or n.endswith("-cond")} <= shipped - set(
        names
    )


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    img = read_image(SAMPLES / "scikit-image__chelsea.jpg")
    return img[96:240, 136:280]  # 144 px of the cat's face: texture for L0 to remove


@pytest.fixture(scope="module")
def edited(models, photo) -> dict[str, np.ndarray]:
    return {n: models[n].apply(photo) for n in ("l0", "l0-jpeg")}


@pytest.mark.parametrize("name", ["l0", "l0-jpeg"])
def test_identify_names_the_model_from_the_pixels(models, edited, name) -> None:
    found = (identify if name == "l0" else restorable.identify)(edited[name], models=models)
    assert found.name == name and found.phase == (0, 0)
    assert found.margin > 1.0 and found.score > 3.0
    name_, score, margin = found  # unpacks as the API promises
    assert (name_, score, margin) == (found.name, found.score, found.margin)


def test_unedited_photo_fits_no_model(models, photo) -> None:
    with pytest.raises(RestorableError, match="no restorable model fits.*; pass --model if"):
        identify(photo, models)


@pytest.mark.parametrize("offset", [(1, 0), (0, 1), (1, 1), (3, 6), (8, 8)])
def test_crop_at_any_offset_restores_on_the_right_phase(models, photo, edited, offset) -> None:
    model, dy, dx = models["l0"], *offset
    whole = model.restore(edited["l0"])
    crop = edited["l0"][dy:, dx:]
    phase = find_phase(model, crop)
    assert phase == (dy % 2, dx % 2)
    restored = restore_at_phase(model, crop, phase)
    b = 8  # both restorations see reflected borders differently
    inner = (slice(b, -b), slice(b, -b))
    truth = photo[dy:, dx:][inner]
    assert psnr(truth, restored[inner]) > psnr(truth, whole[dy:, dx:][inner]) - 1.5
    if phase != (0, 0):  # the naive restore loses the hidden signal
        assert psnr(truth, model.restore(crop)[inner]) < psnr(truth, restored[inner]) - 3


def test_grid_prior_moves_the_grid_not_the_lift(models, edited, monkeypatch) -> None:
    """The grid a file is restored on weighs how unedited each phase's restoration looks (the
    fingerprint classifier's p(none)): GRID_PRIOR · ln p per phase, 0 without a classifier.
    A classifier sure that only the (1, 1) restoration is unedited moves an uncropped l0
    edit's grid there, while the lift (how clearly the signal shows) stays the consistency's."""
    from restorable import fingerprint
    from restorable import realworld as rw

    model, y = models["l0"], edited["l0"]
    phase, gain = rw.phase_search(model, y)
    assert phase == (0, 0) and gain > MIN_LIFT
    seen = []

    def fake(square):
        seen.append(square)
        return 0.9 if len(seen) == 4 else 1e-30  # PHASES order: (1, 1) is the fourth

    monkeypatch.setattr(fingerprint, "unedited_probability", fake)
    terms = rw.grid_prior(model, y)
    assert terms[(1, 1)] == pytest.approx(rw.GRID_PRIOR * np.log(0.9))
    assert terms[(0, 0)] == pytest.approx(rw.GRID_PRIOR * np.log(1e-30))
    assert rw.grid_prior(model, y, prior=0.0) == dict.fromkeys(PHASES, 0.0)
    seen.clear()
    moved, gain2 = rw.phase_search(model, y)
    assert moved == (1, 1) and gain2 == pytest.approx(gain)
    monkeypatch.setattr(fingerprint, "unedited_probability", lambda square: None)
    assert rw.grid_prior(model, y) == dict.fromkeys(PHASES, 0.0)  # no classifier: no say


def test_identify_finds_the_phase_of_a_cropped_edit(models, edited) -> None:
    found = identify(edited["l0-jpeg"][1:, 3:], models)
    assert found.name == "l0-jpeg" and found.phase == (1, 1)


def _save_edit(path: Path, img: np.ndarray, name: str, sha: str | None = None) -> Path:
    meta = {"op": "l0", "model": f"{name}-v1", "name": name, "sha": sha or content_hash(img)}
    return write_image(path, img, meta=meta, force=True)


def test_unchanged_png_restores_without_warning(edited, tmp_path: Path) -> None:
    path = _save_edit(tmp_path / "e.png", edited["l0"], "l0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = restore_file(path)
    assert result.source == "record" and result.changed is False and result.phase == (0, 0)


def test_changed_png_warns_and_the_map_shows_where(models, photo, edited, tmp_path: Path) -> None:
    img = edited["l0"].copy()
    sha = content_hash(img)
    img[40:80, 40:80] = photo[40:80, 40:80]  # pasted from elsewhere: no hidden signal
    path = _save_edit(tmp_path / "e.png", img, "l0", sha)
    with pytest.warns(RestorableWarning, match="pixels differ"):
        result = restore_file(path)
    assert result.changed is True
    err = error_map(models["l0"], img, restored=result.image)
    assert err[45:75, 45:75].mean() > 3 * err[90:, 90:].mean()


def test_cli_warns_and_writes_a_confidence_map(photo, edited, tmp_path: Path, capsys) -> None:
    img = edited["l0"].copy()
    sha = content_hash(img)
    img[40:80, 40:80] = photo[40:80, 40:80]
    path = _save_edit(tmp_path / "e.png", img, "l0", sha)
    out, cmap = tmp_path / "r.png", tmp_path / "map.png"
    assert main(["restore", str(path), "-o", str(out), "--confidence-map", str(cmap)]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert len(lines) == 1
    heat = read_image(cmap)[..., 0].astype(float)
    assert heat[45:75, 45:75].mean() > 3 * heat[90:, 90:].mean()


def test_cli_notes_a_crop_with_the_signal_it_found(edited, tmp_path: Path, capsys) -> None:
    img = edited["l0"]
    path = _save_edit(tmp_path / "e.png", img[1:, :], "l0", content_hash(img))  # one row cut
    with pytest.warns(RestorableWarning):
        result = restore_file(path)
    assert result.phase == (1, 0) and result.lift >= MIN_LIFT
    assert main(["restore", str(path), "-o", str(tmp_path / "r.png")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "shifted grid (1, 0) (cropped?, phase lift" in notes[0]
    assert "faint" not in notes[0]


def test_cli_grid_overrides_the_grid_found(models, edited, tmp_path: Path, capsys) -> None:
    """--grid restores on the grid the user names (the file's own, 0,0, when the search was
    misled), exactly as restore_at_phase there; a bad value is one line, before any work; an
    identified file restored on a shifted grid is told how to undo it."""
    model, img = models["l0"], edited["l0"]
    path = tmp_path / "cut.png"
    write_image(path, img[1:, 1:])  # no record: identified from the pixels
    out = tmp_path / "r.png"
    assert main(["restore", str(path), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no usable record; identified l0" in err
    note = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert len(note) == 1 and "shifted grid (1, 1)" in note[0] and "--grid 0,0" in note[0]
    for grid, phase in [("0,0", (0, 0)), ("1,1", (1, 1)), ("0, 1", (0, 1))]:
        dst = tmp_path / f"g{phase[0]}{phase[1]}.png"
        assert main(["restore", str(path), "-o", str(dst), "--model", "l0", "--grid", grid]) == 0
        assert np.array_equal(read_image(dst), restore_at_phase(model, img[1:, 1:], phase))
    assert "note:" not in capsys.readouterr().err  # the grid was the user's: nothing to say
    for bad in ["2,0", "0", "a,b", "0,0,0"]:
        with pytest.raises(SystemExit) as exit_:
            main(["restore", str(path), "-o", str(tmp_path / "x.png"), "--grid", bad])
        assert exit_.value.code == 2
        assert "--grid: expected two values, each 0 or 1" in capsys.readouterr().err
    with pytest.raises(RestorableError, match="grid must be two values"):
        restore_file(path, "l0", grid=(2, 0))
    assert not (tmp_path / "x.png").exists()


def test_cli_says_a_png_model_does_not_survive_jpeg(edited, tmp_path: Path, capsys) -> None:
    """A PNG edit re-saved as JPEG (4:2:0, as websites do) and restored with --op: the note
    names the cause and the model to use, not a crop that never happened."""
    path = tmp_path / "resaved.jpg"
    Image.fromarray(edited["l0"]).save(path, quality=92, subsampling=2)
    assert main(["restore", str(path), "--op", "l0", "-o", str(tmp_path / "r.png")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "model for PNG output" in notes[0] and "l0-jpeg" in notes[0]
    assert "shifted grid" not in notes[0]
    assert restore_file(path, "l0-jpeg").grid_note() is None  # the right model: nothing to say


def test_jpeg_record_is_not_compared_with_its_own_pixels(edited, tmp_path: Path) -> None:
    path = tmp_path / "e.jpg"
    meta = {"op": "l0", "model": "l0-jpeg-v1", "name": "l0-jpeg", "sha": "0" * 12}
    write_image(path, edited["l0-jpeg"], quality=90, meta=meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = restore_file(path)
    assert result.changed is None and result.name == "l0-jpeg"


def test_cli_identifies_a_stripped_file(edited, photo, tmp_path: Path, capsys) -> None:
    stripped = tmp_path / "stripped.png"
    Image.fromarray(edited["l0"][1:, :]).save(stripped)  # no record, cropped by one row
    out = tmp_path / "r.png"
    assert main(["restore", str(stripped), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "identified l0 " in err and "dB" in err
    assert psnr(photo[1:][8:-8, 8:-8], read_image(out)[8:-8, 8:-8]) > 35


def test_cli_says_in_one_line_when_nothing_fits(photo, tmp_path: Path, capsys) -> None:
    src = tmp_path / "photo.png"
    Image.fromarray(photo).save(src)
    assert main(["restore", str(src), "-o", str(tmp_path / "r.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--model" in err and "\n" not in err


def test_webp_input_is_restored(edited, photo, tmp_path: Path) -> None:
    path = tmp_path / "e.webp"
    Image.fromarray(edited["l0"]).save(path, lossless=True)
    result = restore_file(path)
    assert result.source == "pixels" and result.name == "l0"
    assert psnr(photo, result.image) > 35


@pytest.mark.skipif(shutil.which("cwebp") is None, reason="cwebp not installed")
def test_cwebp_output_is_read_and_identified(edited, photo, tmp_path: Path) -> None:
    png, webp = tmp_path / "e.png", tmp_path / "e.webp"
    Image.fromarray(edited["l0-jpeg"]).save(png)
    subprocess.run(["cwebp", "-quiet", "-q", "90", str(png), "-o", str(webp)], check=True)
    result = restore_file(webp, "l0-jpeg")
    assert psnr(photo, result.image) > 30


def test_jpeg_traces_tell_a_decoded_jpeg_and_its_quality(edited) -> None:
    """An edit saved as PNG shows no JPEG peak; the same edit through JPEG q90 (4:2:0) peaks at
    q90, well above the threshold the identification rule uses."""
    img = edited["l0-jpeg"]
    clean, _ = jpeg_traces(img)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    trace, quality = jpeg_traces(np.asarray(Image.open(buf).convert("RGB")))
    assert clean < JPEG_TRACE < trace and quality == 90


def _evidence(lifts: dict[str, tuple[float, tuple[int, int], float]], traces: float = 0.0):
    """Evidence whose model ``n`` scores ``base`` dB at every phase but ``phase``, where it
    scores ``base + lift`` (``lifts[n] = (lift, phase, base)``)."""
    full = {
        n: {p: base + (gain if p == phase else 0.0) for p in PHASES}
        for n, (gain, phase, base) in lifts.items()
    }
    op = {n: n.removesuffix("-jpeg") for n in lifts}
    return Evidence(full=full, op=op, jpeg={n: n.endswith("-jpeg") for n in lifts}, traces=traces)


def test_decide_reads_a_jpeg_file_with_the_jpeg_models_only() -> None:
    """A model for PNG output cannot have left its signal in a decoded JPEG: whatever it lifts,
    with JPEG traces the OP-jpeg model that lifts is named; without, the larger lift wins."""
    lifts = {"exposure": (4.0, (0, 0), 45.0), "rgf-jpeg": (2.5, (0, 0), 40.0)}
    assert decide(_evidence(lifts, traces=0.0), nulls={}).name == "exposure"
    assert decide(_evidence(lifts, traces=JPEG_TRACE + 1), nulls={}).name == "rgf-jpeg"
    with pytest.raises(RestorableError, match="no restorable model fits"):
        weak = {"exposure": (4.0, (0, 0), 45.0), "rgf-jpeg": (0.5, (0, 0), 40.0)}
        decide(_evidence(weak, traces=JPEG_TRACE + 1), nulls={})


def test_decide_discounts_a_lift_at_a_shifted_phase_only_by_a_little() -> None:
    """Two models lift alike, one at (0, 0) (an uncropped file's phase), one at a shifted phase:
    the first is named; a clearly larger lift at a shifted phase (a crop) still wins there."""
    assert SHIFTED > 0
    near = {"wls": (2.0, (0, 0), 30.0), "rtv": (2.0 + SHIFTED / 2, (1, 1), 30.0)}
    assert decide(_evidence(near), nulls={}).name == "wls"
    far = {"wls": (2.0, (0, 0), 30.0), "rtv": (2.0 + 2 * SHIFTED, (1, 1), 30.0)}
    found = decide(_evidence(far), nulls={})
    assert found.name == "rtv" and found.phase == (1, 1)


def test_decide_names_the_sibling_that_lifts_more_not_the_more_consistent() -> None:
    """A wls edit: wls-jpeg (trained to tolerate errors) is more consistent at every phase but
    lifts less; wls made the edit and is named. Reversed lifts name wls-jpeg. Nothing is named
    below the threshold."""
    lifts = {"wls": (5.0, (0, 0), 36.0), "wls-jpeg": (1.8, (0, 0), 40.0), "l0": (1.0, (0, 1), 30.0)}
    found = decide(_evidence(lifts), nulls={})
    assert found.name == "wls" and found.consistency == 41.0
    swapped = {**lifts, "wls": (1.8, (0, 0), 36.0), "wls-jpeg": (5.0, (0, 0), 34.0)}
    assert decide(_evidence(swapped), nulls={}).name == "wls-jpeg"
    with pytest.raises(RestorableError, match="no restorable model fits"):
        decide(_evidence({"l0": (MIN_LIFT - 0.1, (0, 0), 36.0)}), nulls={})


def test_decide_holds_each_model_to_its_own_null() -> None:
    """With per-model nulls, a model that stays near 0 dB of lift on unedited photos is named at a
    lift the one threshold for all would reject, over a near-identity model that lifts 1.9 dB on
    unedited photos and 2 dB here (the one threshold names that one: the larger lift)."""
    nulls = {"png": {"rgf": 0.4, "retouch": 1.9}, "jpeg": {}}
    lifts = {"rgf": (1.2, (0, 0), 40.0), "retouch": (2.0, (0, 0), 60.0)}
    assert 1.2 < MIN_LIFT < 2.0
    assert decide(_evidence(lifts), nulls={}).name == "retouch"  # one threshold: the larger lift
    found = decide(_evidence(lifts), nulls=nulls)
    assert found.name == "rgf"
    with pytest.raises(RestorableError, match="retouch"):  # rgf's signal gone: nothing fits
        decide(_evidence({**lifts, "rgf": (0.3, (0, 0), 40.0)}), nulls=nulls)
    # an uncalibrated model (a user's) keeps the one threshold
    assert thresholds(["mine"], nulls["png"], MIN_LIFT) == {"mine": MIN_LIFT}


def test_shipped_nulls_cover_every_candidate_model() -> None:
    """data/lift_nulls.json (benchmarks/identify_nulls.py --write) has a null for every shipped
    model identification tries, for PNG and, for the OP-jpeg models, for JPEG."""
    nulls = lift_nulls()
    names = candidates()
    assert set(names) <= set(nulls["png"])
    assert {n for n in names if n.endswith("-jpeg")} <= set(nulls["jpeg"])
    assert all(0 <= v < 5 for kind in nulls.values() for v in kind.values())
