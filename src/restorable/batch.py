"""The loop every file-processing command shares.

inputs (files, folders) ──► [(in_path, out_path), ...] ──► fn(in, out) per pair ──► exit code
                              one file:  out = output          bad file: "error: ..." and on
                              otherwise: out = output/stem+suffix     summary "N done, M failed"
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from restorable.errors import RestorableError
from restorable.files import check_not_input, list_images

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def process_paths(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    fn: Callable[[Path, Path], None],
    *,
    force: bool,
    suffix: str = ".png",
    desc: str,
) -> int:
    """Run ``fn(in_path, out_path)`` for every image in ``inputs``; return the exit code.

    ``inputs`` are image files or folders (a folder stands for the images directly inside it,
    see :func:`restorable.files.list_images`). With one input file, ``output`` is the output
    file (or an existing folder to put it in); otherwise ``output`` is a folder, created if
    missing, and each output is named after its input's stem with ``suffix``.

    ``fn`` reads, computes and writes one image, raising RestorableError for a bad input; it
    should write with ``write_image(out, ..., force=force, inputs=[in_path])``. Before calling
    it this loop refuses an output that is an input, that two inputs would share, or that
    exists without ``force``. A bad file prints one line ``error: <msg>`` to stderr and the loop
    goes on; with more than one file a tqdm bar and a summary line "N done, M failed" go to
    stderr. Returns 0 if all succeeded, 1 if any failed, 130 on Ctrl-C (outputs already written
    stay; the one in progress is never half-written, because write_image is atomic).
    """
    created = not Path(output).exists()
    jobs, failed = _plan(inputs, Path(output), suffix)
    all_inputs = [path for path, _ in jobs]
    many = len(jobs) + failed > 1
    done = 0
    bar = tqdm(jobs, desc=desc, unit="image", file=sys.stderr, disable=not many, leave=False)
    claimed: dict[Path, Path] = {}
    try:
        for in_path, out_path in bar:
            try:
                _check_output(in_path, out_path, all_inputs, claimed, force)
                fn(in_path, out_path)
            except RestorableError as exc:
                failed += 1
                _error(exc, in_path)
            except (MemoryError, RuntimeError) as exc:
                if not isinstance(exc, MemoryError) and "memory" not in str(exc).lower():
                    raise
                failed += 1
                _error(f"{in_path}: out of memory (try a smaller --tile)", in_path)
            else:
                done += 1
    except KeyboardInterrupt:
        bar.close()
        _remove_if_unused(Path(output), created and not done)
        left = len(jobs) - done - failed
        print(f"interrupted: {done} done, {failed} failed, {left} not started", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.close()
    _remove_if_unused(Path(output), created and not done)
    if many:
        print(f"{done} done, {failed} failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _plan(
    inputs: list[str | os.PathLike], output: Path, suffix: str
) -> tuple[list[tuple[Path, Path]], int]:
    """(input, output) pairs, and how many inputs already failed (missing, empty folder)."""
    paths = [Path(p) for p in inputs]
    if not paths:
        raise RestorableError("no input images given")
    if len(paths) == 1 and not paths[0].is_dir():
        out = output / (paths[0].stem + suffix) if output.is_dir() else output
        return [(paths[0], out)], 0

    if output.exists() and not output.is_dir():
        raise RestorableError(
            f"{output}: is a file; with several inputs or a folder, -o must be a folder"
        )
    found, failed = [], 0
    for path in paths:
        if path.is_dir():
            images = list_images(path)
            if not images:
                failed += 1
                _error(f"{path}: no images found in this folder", path)
            found += images
        else:
            found.append(path)  # missing or bad files fail when read, in order
    if not found:
        return [], failed  # nothing to write: no output folder either
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RestorableError(f"{output}: cannot create folder ({exc.strerror or exc})") from None
    return [(p, output / (p.stem + suffix)) for p in found], failed


def _remove_if_unused(folder: Path, created_and_unused: bool) -> None:
    """Remove the output folder this run created when nothing was written into it (every
    input failed): a failed run leaves nothing behind. Only an empty folder is removed."""
    if created_and_unused and folder.is_dir():
        try:
            folder.rmdir()
        except OSError:  # not empty (something else wrote there meanwhile): leave it
            pass


def _check_output(
    in_path: Path, out_path: Path, inputs: list[Path], claimed: dict[Path, Path], force: bool
) -> None:
    check_not_input(out_path, inputs)
    key = out_path.resolve()
    if key in claimed:
        raise RestorableError(
            f"{in_path}: its output {out_path} is already written for {claimed[key]}"
        )
    claimed[key] = in_path
    if out_path.exists() and not force:
        raise RestorableError(f"{out_path}: already exists (use --force to overwrite)")


def _error_line(exc: BaseException | str, in_path: Path) -> str:
    """The one line a failed file reports (without "error: "), naming the file once."""
    msg = " ".join(str(exc).split())
    return msg if str(in_path) in msg else f"{in_path}: {msg}"


def _error(exc: BaseException | str, in_path: Path) -> None:
    tqdm.write(f"error: {_error_line(exc, in_path)}", file=sys.stderr)
