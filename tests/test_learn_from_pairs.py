"""A restorable version of any edit, learned from before/after pairs: matched by name, checked,
trained, installed in the user's folder (``RESTORABLE_HOME``) where load, apply, restore (by the
file's record), list and eval find it; one-line errors for pairs that cannot be learned from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from restorable.cli import main
from restorable.errors import RestorableError
from restorable.files import read_image, read_meta, write_image
from restorable.models import available_models, load, user_models_dir
from restorable.training.from_pairs import check_name, learn_from_pairs

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"
TINY = {
    "steps": 2,
    "batch": 2,
    "crop": 32,
    "warmup": 1,
    "threads": 1,
    "max_side": 64,
    "estimate_minutes": 0.02,  # the grade estimate's fit: a second
}
TINY_NET = {"blocks": 2, "width": 8, "psi_width": 8}


def grade(img: np.ndarray) -> np.ndarray:
    """A colour grade: warmer, more contrast (the 'edit' the model learns)."""
    x = img.astype(np.float32) / 255
    x = np.clip((x - 0.5) * 1.2 + 0.5, 0, 1) * np.array([1.05, 1.0, 0.9], np.float32)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def make_pairs(folder: Path, n: int = 6) -> tuple[Path, Path]:
    before, after = folder / "before", folder / "after"
    before.mkdir(parents=True)
    after.mkdir()
    samples = sorted(SAMPLES.glob("*.jpg"))
    for i in range(n):
        img = read_image(samples[i % len(samples)])[8 * i : 8 * i + 48, 8 * i : 8 * i + 56]
        write_image(before / f"img{i}.jpg", img, quality=95)
        write_image(after / f"img{i}.png", grade(img))  # other extension: matched by stem
    return before, after


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pairs")
    mp = pytest.MonkeyPatch()
    mp.setenv("RESTORABLE_HOME", str(tmp / "home"))
    before, after = make_pairs(tmp)
    over = {**TINY, "net": TINY_NET}
    learn_from_pairs(
        before, after, "warm", run_dir=tmp / "run", overrides=over, minutes=None, progress=False
    )
    yield tmp
    mp.undo()


def test_learned_edit_is_installed_and_round_trips(home: Path) -> None:
    assert (home / "home" / "models" / "warm.safetensors").exists()
    assert user_models_dir() == home / "home" / "models"
    assert "warm" in available_models() and "l0" in available_models()  # shipped, then user's
    m = load("warm")
    assert m.op == "warm" and not m.net.cfg.guided
    record = m.card.training["pairs"]
    assert record["count"] == 6 and record["held_out"] == ["img0"]  # every tenth, from the first
    img = read_image(SAMPLES / "scikit-image__astronaut.jpg")[:40, :40]
    edited = m.apply(img)
    back = m.restore(edited)
    assert back.shape == img.shape and np.abs(back.astype(int) - img).mean() < 8


def test_cli_apply_restore_list_eval(home: Path, tmp_path: Path, capsys) -> None:
    photo = tmp_path / "p.png"
    write_image(photo, read_image(SAMPLES / "scikit-image__coffee.jpg")[:40, :48])
    edited, restored = tmp_path / "e.png", tmp_path / "r.png"
    assert main(["apply", "--op", "warm", str(photo), "-o", str(edited)]) == 0
    assert read_meta(edited)["name"] == "warm"
    assert main(["restore", str(edited), "-o", str(restored)]) == 0  # the record names it
    assert read_image(restored).shape == (40, 48, 3)
    capsys.readouterr()
    assert main(["list"]) == 0
    assert "warm" in capsys.readouterr().out.split("pairs:")[-1]
    assert main(["eval", "--op", "warm", "--json", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["photos"] == 1 and result["per_photo"][0]["photo"] == "img0.jpg"
    assert 10 < result["mean"]["png"]["approx_psnr"] < 60  # against the held-back AFTER
    assert 10 < result["identity_approx_psnr"] < 60
    # ψ reads the grade estimate; eval says how close it comes alone
    assert result["per_photo"][0]["estimate_psnr"] == result["estimate_psnr"]
    assert 10 < result["estimate_psnr"] < 80


def test_cli_train_pairs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RESTORABLE_HOME", str(tmp_path / "home"))
    before, after = make_pairs(tmp_path, n=4)
    (tmp_path / "cfg.json").write_text(json.dumps({**TINY, "net": TINY_NET}))
    argv = ["train", "--pairs", str(before), str(after), "--name", "grade2"]
    argv += ["--config", str(tmp_path / "cfg.json"), "--run-dir", str(tmp_path / "run")]
    assert main(argv) == 0
    assert "installed into" in capsys.readouterr().out
    assert load("grade2").card.training["pairs"]["count"] == 4


def _error(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_pairs_errors_are_one_line(tmp_path: Path, capsys) -> None:
    before, after = make_pairs(tmp_path, n=5)
    train = ["train", "--pairs", str(before), str(after), "--name"]
    (after / "img3.png").rename(after / "other.png")
    err = _error(train + ["mine"], capsys)
    assert "img3.jpg" in err and "no image of the same name" in err
    (after / "other.png").rename(after / "img3.png")
    img = read_image(after / "img2.png")
    write_image(after / "img2.png", img[:-8], force=True)  # cropped: not aligned
    err = _error(train + ["mine"], capsys)
    assert "img2.jpg is 56x48" in err and "56x40" in err and "same size" in err
    write_image(after / "img2.png", img, force=True)
    for i in (3, 4):
        (before / f"img{i}.jpg").unlink()
        (after / f"img{i}.png").unlink()
    assert "at least 4" in _error(train + ["mine"], capsys)
    for name in ("l0", "l0-jpeg", "llf-cond", "../x"):
        with pytest.raises(RestorableError):
            check_name(name)
    assert "name of an operator or a shipped model" in _error(train + ["llf"], capsys)
    err = _error(["train", "--pairs", str(before), str(after)], capsys)
    assert "--name" in err
