"""``restorable apply|restore --ray [ADDRESS]``: the same per-file work, spread over a Ray cluster.

driver                                   workers (one model each, loaded once)
  plan (input, output) pairs ──► Ray Data ──► read the file, apply/restore, write the output
  refuse clashes and existing outputs            (the plain CLI's own per-file function)
  print each result's notes and errors ◄─── one row per file: ok, its stderr, its error line
  "N done, M failed" and the failures again at the end

Why the plain CLI's own function: the outputs must be the files ``restorable apply`` would write
(byte for byte, with the same record), so each worker builds it exactly as ``cmd_apply`` or
``cmd_restore`` does, by running that command with :func:`restorable.batch.process_paths`
replaced by a stand-in that hands back the function instead of looping. Nothing about a model or
a setting is repeated here, so this stays right as those commands change.

Files are read and written by the workers, so the input and output folders must be on a
filesystem every node sees (NFS, a shared volume); only paths travel through Ray.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from restorable.errors import RestorableError

PerFile = Callable[[Path, Path], None]


def add_arguments(s: argparse.ArgumentParser) -> None:
    """The ``--ray`` options of ``apply`` and ``restore``."""
    s.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on Ray (pip install 'restorable[ray]'): a cluster's address (auto, "
        "HOST:6379, ray://HOST:10001), or none for RAY_ADDRESS or a local Ray on this machine",
    )
    s.add_argument(
        "--ray-workers",
        type=int,
        metavar="N",
        help="with --ray: how many workers, each holding the model (default: one per CPU of the "
        "cluster, or per GPU with --device cuda)",
    )


@contextlib.contextmanager
def _capturing() -> Iterator[dict]:
    """Replace the batch loop with a stand-in that records what a command would run."""
    import restorable.batch as batch

    captured: dict = {}

    def stand_in(inputs, output, fn, *, force, suffix=".png", desc=""):
        captured.update(fn=fn, suffix=suffix, desc=desc)
        return 0

    modules = [batch, sys.modules.get("restorable.cli")]
    saved = [(m, m.process_paths) for m in modules if m is not None and hasattr(m, "process_paths")]
    for m, _ in saved:
        m.process_paths = stand_in
    try:
        yield captured
    finally:
        for m, original in saved:
            m.process_paths = original


def per_file_function(args: argparse.Namespace) -> tuple[PerFile, str, str]:
    """(fn, output suffix, description) exactly as the plain command builds them: the model is
    loaded and the settings and quality checked here, before any file is touched."""
    with _capturing() as captured:
        args.fn(args)
    if "fn" not in captured:  # the command returned before its loop (it cannot today)
        raise RestorableError(f"{args.command}: nothing to run")
    return captured["fn"], captured["suffix"], captured["desc"]


def _plain_args(args: argparse.Namespace) -> argparse.Namespace:
    """The command's arguments without the Ray ones (what a worker rebuilds the command from)."""
    d = {k: v for k, v in vars(args).items() if k not in ("ray", "ray_workers")}
    return argparse.Namespace(**d)


def _one_file(fn: PerFile, src: Path, dst: Path) -> tuple[bool, str, str]:
    """Run one file as the plain loop does: (ok, what it printed to stderr, its error line)."""
    from restorable.batch import _error_line

    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log):
            fn(src, dst)
    except RestorableError as exc:
        return False, log.getvalue(), _error_line(exc, src)
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and "memory" not in str(exc).lower():
            raise
        return (
            False,
            log.getvalue(),
            _error_line(f"{src}: out of memory (try a smaller --tile)", src),
        )
    return True, log.getvalue(), ""


class _Worker:
    """A Ray Data actor: builds the command's per-file function (loading the model) once."""

    def __init__(self, args: argparse.Namespace):
        self.fn = per_file_function(args)[0]

    def __call__(self, rows: dict) -> dict:
        out: dict[str, list] = {"src": [], "ok": [], "log": [], "error": []}
        for src, dst in zip(rows["src"], rows["dst"], strict=True):
            ok, log, error = _one_file(self.fn, Path(src), Path(dst))
            out["src"].append(str(src))
            out["ok"].append(ok)
            out["log"].append(log)
            out["error"].append(error)
        return out


def _worker_class(args: argparse.Namespace) -> type:
    """_Worker bound to ``args``: the arguments travel with the class, not as constructor
    arguments in Ray's object store (which a restarted actor could no longer reach)."""

    class Worker(_Worker):
        def __init__(self):
            super().__init__(args)

    return Worker


def connect(address: str = "", num_cpus: int | None = None):
    """Join the cluster at ``address`` (or RAY_ADDRESS, or start a local Ray with ``num_cpus``,
    default all); quiet logs. Returns the ``ray`` module."""
    try:
        import ray
    except ImportError:
        raise RestorableError("--ray needs the Ray extra: pip install 'restorable[ray]'") from None
    if not ray.is_initialized():

        local = not (address or os.environ.get("RAY_ADDRESS"))
        env = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
        try:
            ray.init(
                address=address or None,
                logging_level="ERROR",
                log_to_driver=False,  # each file's notes come back with its result
                # workers import restorable as the driver does (a source tree on PYTHONPATH)
                runtime_env={"env_vars": env} if env else None,
                **({"include_dashboard": False, "num_cpus": num_cpus} if local else {}),
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise RestorableError(f"--ray {address or '(local)'}: {exc}") from None
    return ray


def run(args: argparse.Namespace) -> int:
    """``restorable apply|restore --ray``: the exit code of the plain command on the same files
    (0 all done, 1 any failed), the same outputs, notes and one-line errors."""
    from tqdm import tqdm

    from restorable.batch import EXIT_FAILED, EXIT_OK, _check_output, _plan

    plain = _plain_args(args)
    _, suffix, desc = per_file_function(plain)  # bad settings fail here, before any work
    jobs, failed = _plan(plain.inputs, Path(plain.output), suffix)
    many = len(jobs) + failed > 1
    all_inputs = [path for path, _ in jobs]
    claimed: dict[Path, Path] = {}
    todo: list[dict[str, str]] = []
    failures: list[str] = []
    for src, dst in jobs:
        try:
            _check_output(src, dst, all_inputs, claimed, plain.force)
        except RestorableError as exc:
            failures.append(_print_error(exc, src))
        else:
            todo.append({"src": str(src), "dst": str(dst)})
    failed += len(failures)
    done = 0
    if todo:
        ray = connect(args.ray)
        gpu = str(plain.device).startswith("cuda")
        resources = ray.cluster_resources()
        workers = args.ray_workers or int(resources.get("GPU" if gpu else "CPU", 1)) or 1
        workers = max(1, min(workers, len(todo)))
        if gpu:
            plain.device = "cuda"  # Ray gives each worker its own GPU, visible as the first
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # after ray.data set its own
        ds = ray.data.from_items(todo).map_batches(
            _worker_class(plain),
            batch_size=1,  # one photo per call: the work is per file, and balances best so
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=0 if gpu else 1,
            num_gpus=1 if gpu else 0,
        )
        bar = tqdm(
            total=len(todo),
            desc=f"{desc} (ray)",
            unit="image",
            file=sys.stderr,
            leave=False,
            disable=not many,
        )
        try:
            for row in ds.iter_rows():
                if row["log"]:
                    tqdm.write(row["log"].rstrip("\n"), file=sys.stderr)
                if row["ok"]:
                    done += 1
                else:
                    failed += 1
                    failures.append(row["error"])
                    tqdm.write(f"error: {row['error']}", file=sys.stderr)
                bar.update()
        finally:
            bar.close()
    if many:
        print(f"{done} done, {failed} failed", file=sys.stderr)
    if many and failures:
        print(f"failed ({len(failures)}):", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _print_error(exc: BaseException | str, src: Path) -> str:
    from restorable.batch import _error_line

    line = _error_line(exc, src)
    print(f"error: {line}", file=sys.stderr)
    return line
