"""process_paths: the shared file loop of the CLI commands."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorable.batch import process_paths
from restorable.errors import RestorableError
from restorable.files import read_image, write_image


def _photo(value: int = 100) -> np.ndarray:
    img = np.full((16, 24, 3), value, np.uint8)
    img[4:8, 4:12] = 255 - value
    return img


def _write(path: Path, value: int = 100) -> Path:
    Image.fromarray(_photo(value)).save(path)
    return path


def _invert(force: bool):
    def fn(in_path: Path, out_path: Path) -> None:
        write_image(out_path, 255 - read_image(in_path), force=force, inputs=[in_path])

    return fn


def _run(inputs, output, force=False, fn=None):
    fn = fn or _invert(force)
    return process_paths([str(p) for p in inputs], str(output), fn, force=force, desc="test")


def test_single_file_to_file(tmp_path, capsys):
    src = _write(tmp_path / "a.jpg")
    assert _run([src], tmp_path / "out.png") == 0
    assert read_image(tmp_path / "out.png").shape == (16, 24, 3)
    assert capsys.readouterr().err == ""


def test_single_file_into_existing_folder(tmp_path):
    src = _write(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    assert _run([src], tmp_path / "out") == 0
    assert (tmp_path / "out" / "a.png").exists()


def test_folder_continues_past_a_bad_file(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.png", 10)
    (folder / "b.png").write_text("not a picture")
    _write(folder / "c.jpg", 200)
    assert _run([folder], tmp_path / "out") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "a.png"), 255 - _photo(10))
    err = capsys.readouterr().err
    assert "error: " in err and "b.png: not an image file" in err
    assert err.rstrip().endswith("2 done, 1 failed")


def test_several_files_make_the_output_folder(tmp_path, capsys):
    a, b = _write(tmp_path / "a.png"), _write(tmp_path / "b.png")
    assert _run([a, b, tmp_path / "missing.png"], tmp_path / "new" / "out") == 1
    assert sorted(p.name for p in (tmp_path / "new" / "out").iterdir()) == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert "missing.png: no such file" in err and "2 done, 1 failed" in err


def test_refuses_to_write_onto_an_input(tmp_path, capsys):
    src = _write(tmp_path / "a.png")
    before = src.read_bytes()
    assert _run([src], src, force=True) == 1
    assert _run([tmp_path], tmp_path, force=True) == 1  # folder onto itself
    assert src.read_bytes() == before
    assert "input file" in capsys.readouterr().err


def test_existing_output_needs_force(tmp_path, capsys):
    src = _write(tmp_path / "a.png")
    out = _write(tmp_path / "out.png", 7)
    assert _run([src], out) == 1
    assert "--force" in capsys.readouterr().err
    np.testing.assert_array_equal(read_image(out), _photo(7))
    assert _run([src], out, force=True) == 0
    np.testing.assert_array_equal(read_image(out), 255 - _photo())


def test_two_inputs_with_one_output_name(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.png")
    _write(folder / "a.jpg")
    assert _run([folder], tmp_path / "out") == 1
    assert "already written for" in capsys.readouterr().err


def test_empty_folder_fails(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _run([tmp_path / "empty"], tmp_path / "out") == 1
    assert "no images found" in capsys.readouterr().err


def test_output_must_be_a_folder_for_several_inputs(tmp_path):
    a, b = _write(tmp_path / "a.png"), _write(tmp_path / "b.png")
    with pytest.raises(RestorableError, match="must be a folder"):
        _run([a, b], a)


def test_ctrl_c_exits_130_and_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in "abc":
        _write(folder / f"{name}.png")
    seen = []

    def interrupted_save(self, fp, *args, **kwargs):
        fp.write(b"half a PNG")
        raise KeyboardInterrupt

    def fn(in_path, out_path):
        seen.append(in_path.name)
        if len(seen) == 2:  # Ctrl-C half-way through saving the second image
            monkeypatch.setattr(Image.Image, "save", interrupted_save)
        _invert(False)(in_path, out_path)

    assert _run([folder], tmp_path / "out", fn=fn) == 130
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]
    assert "interrupted: 1 done, 0 failed, 2 not started" in capsys.readouterr().err
