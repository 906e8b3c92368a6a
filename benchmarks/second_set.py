"""The second evaluation set: photos unlike the training photos, from Debian packages the
project's photos never came from, plus the bundled samples (issue #31: a retrained model ships
only if it measures better on the validation split *and* on this set).

    second_set.csv ─► apt-get download PKG=VERSION ─► dpkg-deb -x ─► sha256 checked
        ─► EXIF-rotated, RGB, Lanczos to 1024 px at most, JPEG q95 4:4:4 (as shared/photos)
        ─► ~/.cache/restorable/second_set/PKG__NAME.jpg  (+ HELD_OUT: never a training folder)

    python benchmarks/second_set.py          # build it (about 35 MB of .debs, once)
    restorable eval --model l0 --photos ~/.cache/restorable/second_set --json l0.json

The versions are pinned and every original's sha256 is checked, so the set is the same photos
wherever it is built; a file already in the folder is kept (delete the folder to rebuild).
Tests never download: they check the manifest and the checking itself (tests/test_second_set.py).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from restorable.data.pairs import HELD_OUT_MARKER, default_cache_dir, resize_max_side
from restorable.data.split import SAMPLES_DIR
from restorable.errors import RestorableError

MANIFEST = Path(__file__).with_name("second_set.csv")
FIELDS = [
    "file",
    "package",
    "version",
    "path_in_package",
    "license",
    "tier",
    "note",
    "width",
    "height",
    "original_sha256",
]
MAX_SIDE = 1024  # as shared/photos (README there): the validation photos' stored size
SAMPLES = "restorable-samples"  # the bundled samples: copied from the package, not downloaded
# the packages the training photos came from, and those kept aside for others' checks
EXCLUDED_PACKAGES = {
    "gcompris-qt-data",
    "opencv-doc",
    "tuxpaint-data",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "scikit-image",
    "palapeli-data",
    "libjxl-testdata",
    "scikit-learn",
    "cimg-examples",
    "digikam-data",
    "matplotlib",
    "imgaug",
    "mahotas",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
}

# fetch(package, version, workdir) -> the folder the package's files were extracted to
Fetch = Callable[[str, str, Path], Path]


def read_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    """Run a tool; its failure becomes one line (the tool's last line of stderr)."""
    if shutil.which(cmd[0]) is None:
        raise RestorableError(f"{cmd[0]} not found: building the second set needs Debian's apt")
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "unsandboxed" not in ln]
        raise RestorableError(
            f"{what} failed: {lines[-1] if lines else 'exit ' + str(done.returncode)}"
        )


def apt_fetch(package: str, version: str, workdir: Path) -> Path:
    """``apt-get download`` the pinned version and extract it (no root, nothing installed)."""
    _run(
        ["apt-get", "download", f"{package}={version}"],
        workdir,
        f"apt-get download {package}={version} (a Debian 12 bookworm version)",
    )
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not debs:
        raise RestorableError(f"apt-get download {package}: no .deb appeared in {workdir}")
    root = workdir / package
    _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], workdir, f"dpkg-deb -x {debs[-1].name}")
    return root


def prepare(src: Path, dst: Path) -> tuple[int, int]:
    """Store a photo as the project's photos are stored: EXIF-rotated, RGB, Lanczos to
    ``MAX_SIDE`` at most, JPEG quality 95 without chroma subsampling (temp file, rename)."""
    with Image.open(src) as im:
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    out = Image.fromarray(resize_max_side(np.asarray(rgb), MAX_SIDE))
    tmp = dst.with_name(f".{dst.name}.tmp")
    out.save(tmp, "JPEG", quality=95, subsampling=0)
    tmp.replace(dst)
    return out.size


def _checked(row: dict[str, str], path: Path) -> Path:
    """``path`` if it is the manifest's file (sha256), else a one-line error."""
    if not path.is_file():
        raise RestorableError(f"{row['package']} {row['version']} has no {row['path_in_package']}")
    got = sha256_of(path)
    if got != row["original_sha256"]:
        raise RestorableError(
            f"{row['file']}: sha256 {got[:12]}… of {row['path_in_package']} is not the "
            f"manifest's {row['original_sha256'][:12]}… (another version of {row['package']}?)"
        )
    return path


def build(
    out: Path,
    rows: list[dict[str, str]] | None = None,
    fetch: Fetch = apt_fetch,
    samples: Path = SAMPLES_DIR,
    progress: bool = True,
) -> list[Path]:
    """Make ``out`` hold every photo of the manifest (those already there are kept) and the
    :data:`HELD_OUT_MARKER`; returns the photos' paths in manifest order."""
    rows = read_manifest() if rows is None else rows
    out.mkdir(parents=True, exist_ok=True)
    todo = [r for r in rows if not (out / r["file"]).is_file()]
    by_package: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in todo:
        by_package.setdefault((r["package"], r["version"]), []).append(r)
    bar = tqdm(total=len(todo), desc="second set", unit="photo", disable=not progress)
    for (package, version), group in by_package.items():
        with tempfile.TemporaryDirectory(prefix="second-set-") as tmp:
            if package == SAMPLES:
                root = samples
            else:
                bar.set_postfix_str(f"apt-get download {package}")
                root = fetch(package, version, Path(tmp))
            for r in group:
                src = _checked(r, root / r["path_in_package"].lstrip("/"))
                if package == SAMPLES:  # already stored as the project's photos are
                    shutil.copyfile(src, out / f".{r['file']}.tmp")
                    (out / f".{r['file']}.tmp").replace(out / r["file"])
                else:
                    size = prepare(src, out / r["file"])
                    if size != (int(r["width"]), int(r["height"])):
                        raise RestorableError(
                            f"{r['file']}: prepared at {size[0]}x{size[1]}, the manifest says "
                            f"{r['width']}x{r['height']}"
                        )
                bar.update()
    bar.close()
    (out / HELD_OUT_MARKER).write_text(
        "Every photo here is held out: an evaluation set (benchmarks/second_set.py), "
        "never training data.\n"
    )
    return [out / r["file"] for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=default_cache_dir() / "second_set",
        help="folder to fill (default: ~/.cache/restorable/second_set)",
    )
    args = ap.parse_args(argv)
    try:
        paths = build(args.out)
    except RestorableError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{len(paths)} photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
