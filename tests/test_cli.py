"""The command line as a user meets it: apply then restore round trip through real files, the
operator recorded in the file, one-line errors with no traceback, alpha carried through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorable.cli import main
from restorable.evaluation.metrics import psnr
from restorable.files import read_image, read_meta
from restorable.models import load

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


@pytest.fixture(scope="module")
def weights(tiny_l0) -> Path:
    """A barely trained L0 model (2 steps): enough to exercise every path through the files."""
    return tiny_l0()


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.fromarray(read_image(SAMPLES / "scikit-image__chelsea.jpg")[:75, :101]).save(path)
    return path


def test_apply_restore_round_trip_png(weights: Path, photo: Path, tmp_path: Path) -> None:
    edited, restored = tmp_path / "edited.png", tmp_path / "restored.png"
    assert (
        main(["apply", "--op", "l0", "--weights", str(weights), str(photo), "-o", str(edited)]) == 0
    )
    meta = read_meta(edited)
    assert meta["op"] == "l0" and meta["model"] == "l0-v1" and len(meta["sha"]) == 12
    assert main(["restore", "--weights", str(weights), str(edited), "-o", str(restored)]) == 0
    model = load("l0", weights)
    original = read_image(photo)
    np.testing.assert_array_equal(read_image(edited), model.apply(original))
    np.testing.assert_array_equal(read_image(restored), model.restore(model.apply(original)))


def test_apply_jpeg_records_operator(weights: Path, photo: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited.jpg"
    argv = ["apply", "--op", "l0", "--weights", str(weights), "--quality", "90"]
    assert main([*argv, str(photo), "-o", str(edited)]) == 0
    assert read_meta(edited)["op"] == "l0"
    assert (
        main(["restore", "--weights", str(weights), str(edited), "-o", str(tmp_path / "r.png")])
        == 0
    )


def test_restore_without_record_needs_op(
    weights: Path, photo: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "r.png"
    assert main(["restore", "--weights", str(weights), str(photo), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--model" in err and "\n" not in err
    assert not out.exists()
    assert (
        main(["restore", "--op", "l0", "--weights", str(weights), str(photo), "-o", str(out)]) == 0
    )


def test_existing_output_needs_force_and_input_is_never_overwritten(
    weights: Path, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "edited.png"
    out.write_bytes(b"keep")
    argv = ["apply", "--op", "l0", "--weights", str(weights), str(photo)]
    assert main([*argv, "-o", str(out)]) != 0
    assert out.read_bytes() == b"keep"
    assert main([*argv, "-o", str(out), "--force"]) == 0
    before = photo.read_bytes()
    assert main([*argv, "-o", str(photo), "--force"]) != 0
    assert photo.read_bytes() == before


def test_alpha_is_carried_through(weights: Path, tmp_path: Path) -> None:
    rgba = np.dstack(
        [read_image(SAMPLES / "scikit-image__coffee.jpg")[:40, :48], np.zeros((40, 48), np.uint8)]
    )
    rgba[..., 3] = np.arange(48, dtype=np.uint8)[None, :] * 5
    src = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(src)
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    assert main(["apply", "--op", "l0", "--weights", str(weights), str(src), "-o", str(out)]) == 0
    assert main(["restore", "--weights", str(weights), str(out), "-o", str(back)]) == 0
    for path in (out, back):
        with Image.open(path) as im:
            assert im.mode == "RGBA"
            np.testing.assert_array_equal(np.asarray(im)[..., 3], rgba[..., 3])


def test_folder_continues_past_bad_files(
    weights: Path, photo: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(photo.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    code = main(["apply", "--op", "l0", "--weights", str(weights), str(folder), "-o", str(out)])
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    err = capsys.readouterr().err
    assert "1 done, 2 failed" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["reference", "--op", "nope", "x.png", "-o", "y.png"],
        ["apply", "--op", "wmf", "x.png", "-o", "y.png"],
        ["eval", "--op", "l0", "--photos", "/no/such/folder", "--weights", "/no/such/weights"],
    ],
)
def test_bad_requests_give_one_line_errors(argv: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "restorable.cli", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr


@pytest.mark.parametrize(
    "argv, says",
    [
        (["apply", "--op", "l0", "--quality", "150"], "--quality 150: give a JPEG quality"),
        (["reference", "--op", "l0", "--quality", "0"], "--quality 0: give a JPEG quality"),
        (["train", "--op", "l0", "--minutes", "-5"], "minutes -5: give a budget above 0"),
        (["train", "--op", "l0", "--batch", "0"], "batch 0: give at least 1"),
        (["train", "--all", "--ops", "l0", "--minutes", "0"], "--minutes 0: give a budget"),
    ],
)
def test_settings_out_of_range_are_refused_before_any_work(
    argv: list[str], says: str, photo: Path, tmp_path: Path, capsys
) -> None:
    """A real photo, so the error is the setting's, and nothing is written (trained 0 steps and
    wrote a model, once)."""
    out = tmp_path / "out"
    out.mkdir()
    if argv[0] in ("apply", "reference"):
        argv += [str(photo), "-o", str(out / "edited.jpg")]
    elif argv[1] == "--all":
        argv += ["--photos", str(photo.parent), "--out", str(out / "all")]
    else:
        argv += ["--photos", str(photo.parent), "--run-dir", str(out / "run")]
    assert main(argv) == 2
    assert says in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_every_command_has_help() -> None:
    for command in ["list", "reference", "apply", "restore", "train", "eval", "compare", "demo"]:
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0


def test_demo_runs_every_operator_and_writes_what_it_says(tmp_path: Path, capsys) -> None:
    from restorable.cli import demo_models
    from restorable.files import list_images
    from restorable.models import available_models
    from restorable.operators import operator_ids

    assert demo_models(available_models()) == sorted(operator_ids())  # the twelve OP models
    assert main(["demo", "--op", "l0", "-o", str(tmp_path / "demo")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:-1]]
    samples = list_images(Path(__file__).parents[1] / "src" / "restorable" / "samples")
    assert [r[1] for r in rows] == [p.name for p in samples]
    for row, src in zip(rows, samples, strict=True):
        original = read_image(src)
        edited = read_image(tmp_path / "demo" / f"{src.stem}.l0.png")
        restored = read_image(tmp_path / "demo" / f"{src.stem}.l0.restored.png")
        assert edited.shape == restored.shape == original.shape
        assert float(row[3].removesuffix("dB")) == pytest.approx(psnr(original, restored), abs=0.01)
        assert psnr(original, restored) > 35  # the shipped l0 restores its samples
        assert (tmp_path / "demo" / f"{src.stem}.l0.sheet.png").stat().st_size > 0


def test_list_names_every_operator_and_its_models(capsys) -> None:
    from restorable.models import models_by_op
    from restorable.operators import operator_ids

    assert main(["list"]) == 0
    rows = {
        line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:1] != " "
    }
    for op in operator_ids():
        assert rows[op].split()[-len(models_by_op()[op]) :] == models_by_op()[op]


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`restorable list | head -1`: the pipe closes before the listing is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "restorable.cli", "list", "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 1 and err == "", err


def test_precision_and_device_options(weights: Path, photo: Path, tmp_path: Path) -> None:
    edited, restored = tmp_path / "edited.png", tmp_path / "restored.png"
    argv = ["--weights", str(weights), "--precision", "fp32", "--device", "cpu"]
    assert main(["apply", "--op", "l0", *argv, str(photo), "-o", str(edited)]) == 0
    assert main(["restore", *argv, str(edited), "-o", str(restored)]) == 0
    model = load("l0", weights, precision="fp32")
    original = read_image(photo)
    np.testing.assert_array_equal(read_image(edited), model.apply(original))
    np.testing.assert_array_equal(read_image(restored), model.restore(model.apply(original)))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_device_cuda_without_a_gpu_is_a_one_line_error(photo: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "restorable.cli", "apply", "--op", "l0", "--device", "cuda"]
        + [str(photo), "-o", str(tmp_path / "out.png")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no CUDA GPU" in lines[0], proc.stderr
