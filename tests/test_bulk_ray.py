"""apply/restore --ray on a local Ray with 2 CPUs: the plain CLI's files, records and errors."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest

from restorable.cli import main

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")  # its own internals

SAMPLES = Path(__file__).parents[1] / "src" / "restorable" / "samples"


@pytest.fixture(scope="module")
def local_ray():
    from restorable import bulk_ray

    bulk_ray.connect(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def twenty(tmp_path_factory) -> Path:
    """20 different 72×96 photos (four crops of each bundled sample), and a file that is not
    an image, which both runs must report the same way."""
    from restorable.files import read_image, write_image

    folder = tmp_path_factory.mktemp("twenty")
    for i, p in enumerate(sorted(SAMPLES.glob("*.jpg"))):
        rgb = read_image(p)
        for j in range(4):
            y, x = 40 * j, 60 * j
            write_image(folder / f"p{i}{j}.png", rgb[y : y + 72, x : x + 96])
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _errors(text: str) -> list[str]:
    return sorted({line for line in text.splitlines() if line.startswith("error: ")})


def test_ray_writes_the_plain_cli_files_and_errors(local_ray, twenty: Path, tmp_path, capsys):
    runs = {}
    for how, extra in (("plain", []), ("ray", ["--ray", "--ray-workers", "2"])):
        edited, restored = tmp_path / how / "edited", tmp_path / how / "restored"
        capsys.readouterr()
        code_a = main(["apply", "--op", "l0", *extra, str(twenty), "-o", str(edited)])
        err_a = capsys.readouterr().err
        code_r = main(["restore", *extra, str(edited), "-o", str(restored)])
        err_r = capsys.readouterr().err
        runs[how] = (code_a, err_a, code_r, err_r, _digests(edited), _digests(restored))
    plain, viaray = runs["plain"], runs["ray"]
    assert plain[0] == viaray[0] == 1  # the broken file fails, the others are written
    assert plain[2] == viaray[2] == 0
    assert len(viaray[4]) == len(viaray[5]) == 20
    assert viaray[4] == plain[4]  # byte-identical edits (pixels and record)
    assert viaray[5] == plain[5]  # byte-identical restorations
    assert _errors(viaray[1]) == _errors(plain[1]) != []
    assert "broken.png" in _errors(viaray[1])[0] and "\n" not in _errors(viaray[1])[0]
    assert "20 done, 1 failed" in viaray[1]
    assert viaray[1].rstrip().endswith(_errors(plain[1])[0].removeprefix("error: "))  # summary
    # the plain CLI's refusal to overwrite, file by file, before any worker starts
    again = ["apply", "--ray", "--op", "l0", str(twenty), "-o", str(tmp_path / "ray" / "edited")]
    assert main(again) == 1
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err


def test_bad_settings_fail_before_ray_starts(twenty: Path, tmp_path, capsys, monkeypatch):
    """A bad quality or setting is the plain command's one-line error, with no cluster."""
    from restorable import bulk_ray

    monkeypatch.setattr(bulk_ray, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    out = tmp_path / "out"
    argv = ["apply", "--ray", "--op", "l0", "--quality", "101", str(twenty), "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_ray_options_only_on_apply_and_restore() -> None:
    from restorable.cli import build_parser

    p = build_parser()
    args = p.parse_args(["apply", "--op", "l0", "--ray", "ray://head:10001", "in", "-o", "out"])
    assert args.ray == "ray://head:10001"
    assert p.parse_args(["restore", "--ray", "-o", "out", "in"]).ray == ""  # no ADDRESS: local
    assert p.parse_args(["restore", "in", "-o", "out"]).ray is None
    with pytest.raises(SystemExit):
        p.parse_args(["reference", "--op", "l0", "--ray", "in", "-o", "out"])
    assert isinstance(args, argparse.Namespace)
