"""The second evaluation set (benchmarks/second_set.py): its manifest says where every photo
comes from and under which licence, none of it is a training photo, and the builder refuses a
file that is not the pinned one. Nothing here downloads: a fake package stands in for apt."""

from __future__ import annotations

import csv
import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorable.data.pairs import HELD_OUT_MARKER, photo_paths
from restorable.data.split import SAMPLE_PHOTOS, SAMPLES_DIR, load_split
from restorable.errors import RestorableError

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import second_set  # noqa: E402

ROWS = second_set.read_manifest()
TRAINING_MANIFEST = ROOT.parent / "shared" / "photos" / "MANIFEST.csv"


def test_manifest_is_well_formed() -> None:
    with second_set.MANIFEST.open(newline="") as f:
        assert next(csv.reader(f)) == second_set.FIELDS
    assert 20 <= len(ROWS) <= 40
    files = [r["file"] for r in ROWS]
    assert len(set(files)) == len(files)
    for r in ROWS:
        assert re.fullmatch(r"[0-9a-f]{64}", r["original_sha256"]), r["file"]
        assert r["license"].strip() and r["tier"] in {"A", "B"}, r["file"]
        assert 0 < int(r["width"]) <= second_set.MAX_SIDE >= int(r["height"]) > 0, r["file"]
        if r["package"] != second_set.SAMPLES:
            assert r["file"] == f"{r['package']}__{Path(r['path_in_package']).stem}.jpg"
            assert r["path_in_package"].startswith("/usr/share/") and r["version"][0].isdigit()
    packages = {r["package"] for r in ROWS} - {second_set.SAMPLES}
    assert len(packages) >= 2, "photos from more than one package"


def test_no_training_package_no_training_photo() -> None:
    packages = {r["package"] for r in ROWS}
    assert not packages & second_set.EXCLUDED_PACKAGES
    assert not {r["file"] for r in ROWS} & set(load_split()["train"])
    if TRAINING_MANIFEST.is_file():  # the photos' own manifest (beside the repository)
        with TRAINING_MANIFEST.open(newline="") as f:
            training = list(csv.DictReader(f))
        assert not {r["package"] for r in training} & (packages - {second_set.SAMPLES})
        assert not {r["original_sha256"] for r in training} & {r["original_sha256"] for r in ROWS}


def test_samples_are_the_bundled_validation_photos_with_their_licences() -> None:
    samples = [r for r in ROWS if r["package"] == second_set.SAMPLES]
    assert sorted(r["file"] for r in samples) == sorted(SAMPLE_PHOTOS)
    licences = (SAMPLES_DIR / "LICENSES.md").read_text()
    for r in samples:
        path = SAMPLES_DIR / r["path_in_package"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == r["original_sha256"]
        assert Image.open(path).size == (int(r["width"]), int(r["height"]))
        line = next(ln for ln in licences.splitlines() if ln.startswith(f"| {r['file']} "))
        assert line.rstrip(" |").endswith(r["license"])
        assert r["file"] in load_split()["val"]


def _fake_package(tmp_path: Path) -> tuple[list[dict[str, str]], second_set.Fetch, list[str]]:
    """A package holding one 1200x600 PNG, its manifest row, and a fetch that records calls."""
    root = tmp_path / "pkg"
    src = root / "usr/share/backgrounds/wide.png"
    src.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (600, 1200, 3), dtype=np.uint8)).save(src)
    row = {
        "file": "fake-backgrounds__wide.jpg",
        "package": "fake-backgrounds",
        "version": "1.0-1",
        "path_in_package": "/usr/share/backgrounds/wide.png",
        "license": "CC0-1.0",
        "tier": "A",
        "note": "",
        "width": "1024",
        "height": "512",
        "original_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
    }
    calls: list[str] = []

    def fetch(package: str, version: str, workdir: Path) -> Path:
        calls.append(f"{package}={version}")
        return root

    return [row], fetch, calls


def test_build_prepares_like_the_validation_photos_and_keeps_what_is_done(
    tmp_path: Path,
) -> None:
    rows, fetch, calls = _fake_package(tmp_path)
    out = tmp_path / "set"
    (photo,) = second_set.build(out, rows, fetch, progress=False)
    assert calls == ["fake-backgrounds=1.0-1"]
    with Image.open(photo) as im:
        assert (im.format, im.size, im.mode) == ("JPEG", (1024, 512), "RGB")
    assert (out / HELD_OUT_MARKER).is_file()
    before = photo.stat().st_mtime_ns
    second_set.build(out, rows, fetch, progress=False)
    assert calls == ["fake-backgrounds=1.0-1"] and photo.stat().st_mtime_ns == before


def test_build_rejects_a_file_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    rows, fetch, _ = _fake_package(tmp_path)
    rows[0]["original_sha256"] = "0" * 64
    with pytest.raises(RestorableError, match="sha256 .* is not the manifest's"):
        second_set.build(tmp_path / "set", rows, fetch, progress=False)
    assert not (tmp_path / "set" / rows[0]["file"]).exists()
    rows[0]["path_in_package"] = "/usr/share/backgrounds/gone.png"
    with pytest.raises(RestorableError, match="has no /usr/share/backgrounds/gone.png"):
        second_set.build(tmp_path / "set", rows, fetch, progress=False)


def test_without_apt_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no dpkg-deb
    with pytest.raises(SystemExit) as e:
        second_set.main(["--out", str(tmp_path / "set")])
    assert str(e.value).startswith("error: apt-get not found") and "\n" not in str(e.value)


def test_a_held_out_folder_is_measured_whole_and_never_trained_on(tmp_path: Path) -> None:
    for i in range(12):
        Image.new("RGB", (16, 16), (i, i, i)).save(tmp_path / f"p{i:02}.png")
    assert len(photo_paths(tmp_path, "val")) == 2  # a user's folder: every tenth
    (tmp_path / HELD_OUT_MARKER).write_text("held out\n")
    assert len(photo_paths(tmp_path, "val")) == 12
    with pytest.raises(RestorableError, match="held out for evaluation"):
        photo_paths(tmp_path, "train")


def test_results_table_shows_the_second_set_beside_validation(tmp_path: Path) -> None:
    import json

    import results_table

    def result(restore: float, photos: list[str]) -> dict:
        png = {"approx_psnr": 30.0, "restore_psnr": restore}
        return {
            "op": "llf",
            "model": "llf-v1",
            "photos": len(photos),
            "mean": {"png": png},
            "per_photo": [{"photo": p, "png": png} for p in photos],
        }

    (tmp_path / "llf.json").write_text(json.dumps(result(38.0, ["a.jpg"])))
    assert results_table.second_set_table(tmp_path).count("\n") == 1  # no set measured: header
    (tmp_path / "second_set").mkdir()
    (tmp_path / "second_set" / "llf.json").write_text(
        json.dumps(result(36.5, ["new.jpg", SAMPLE_PHOTOS[0]]))
    )
    row = results_table.second_set_table(tmp_path).splitlines()[-1]
    assert row == (
        "| llf | 30.00 / 38.00 | 30.00 / 36.50 | -1.50 dB (more than 1 dB below) "
        "| 30.00 / 36.50 | 2 (1) |"
    )
