"""The ``restorable serve`` subcommand (registered by the main CLI via ``register_cli``).

::

    restorable serve [--port 7860] [--host 127.0.0.1] [--auth USER:PASSWORD]

Starts the web page (:mod:`restorable.web.app`) on this machine and prints its address. Gradio
is an optional extra: without it the command says how to install it. Nothing leaves the
machine: no analytics, no share link, no fonts or scripts from elsewhere.

The page under load and attack (docs/reliability-web.md):

- only requests whose ``Host`` is this machine's own name are answered (DNS rebinding), and the
  upload route takes a bounded request (:mod:`restorable.web.guard`);
- Apply and Restore share one concurrency limit and the queue is bounded (:data:`QUEUE_SIZE`);
- Gradio's cache and our outputs live in a folder of the server's own (mode 0700), removed on
  exit, SIGTERM included;
- listening on anything but loopback prints that the page has no password unless ``--auth``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from restorable.errors import RestorableError

HELP = "open the web page: edit, restore and compare in the browser (local)"
DEFAULT_PORT = 7860
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_FILE_MB = 300  # one upload: a 100 MP PNG (the most read_image takes) is ~300 MB or less
# One upload request: one file of the page's (it sends one per request), a few for a client;
# Gradio's own limit is per file, and it takes up to 1000 files in one request.
MAX_UPLOAD_FILES = 4
MAX_UPLOAD_BYTES = (MAX_FILE_MB + 1) * 10**6  # one full-size file and the form around it
# The queue. Memory is taken by the running job, not the waiting ones. Apply and Restore share
# one concurrency limit (app.HEAVY_CONCURRENCY = 1). Measured peak of one job through the page's
# own functions (docs/reliability-web.md): 12 MP apply 1.4 GB, restore with the original (PSNR,
# SSIM, sheet) 1.8 GB; 24 MP 2.0 and 2.3 GB; linear in the pixels, so ~6 GB at 100 MP, the most
# read_image takes. Memory would allow 3 at once on the 24 GB machine (3 x 6 GB + the server's
# ~1 GB = 19 GB; 4 would be 25 GB), but one job already uses every core, so 1: a second at once
# would only slow both. A waiting job holds its uploads on disk, in the private temp folder (at
# most 2 files of MAX_FILE_MB), and a place in line: QUEUE_SIZE x 0.6 GB = 9.6 GB of disk at
# most, and the last in line waits QUEUE_SIZE jobs (16 x ~1.5 s for a 0.3 MP sample on the
# shared 2-core machine; 16 x ~26 s at 12 MP). Beyond it Gradio answers "the queue is full".
QUEUE_SIZE = 16
INSTALL = (
    "the web page needs Gradio, an optional extra: "
    'pip install -e ".[web]" -c constraints.txt'
)


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers``; its handler is ``args.fn``."""
    p = subparsers.add_parser("serve", help=HELP, description=HELP)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 7860)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--weights", help="folder with <model>.safetensors/.json (default: shipped)")
    p.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="ask for this user name and password (Gradio's login page); for --host other "
        "than this machine",
    )
    p.set_defaults(fn=run_serve)
    return p


def import_gradio():
    """Gradio, imported with its telemetry off; a one-line RestorableError if not installed."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import gradio
    except ImportError:
        raise RestorableError(INSTALL) from None
    return gradio


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``--auth USER:PASSWORD`` as Gradio's ``auth=(user, password)``; a one-line error if the
    value is not that (the password may hold ':', the user may not)."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise RestorableError("--auth: give USER:PASSWORD, both non-empty (e.g. --auth ana:s3cret)")
    return user, password


class PrivateTemp:
    """A fresh folder of this server's own (mode 0700, ``tempfile.mkdtemp``) for Gradio's cache
    of uploads and outputs, made Gradio's by ``GRADIO_TEMP_DIR`` before Gradio makes anything.
    Gradio's default is ``/tmp/gradio``, shared by every user and server of the machine, with
    files others can read. Made inside ``GRADIO_TEMP_DIR`` when that is set already."""

    def __init__(self) -> None:
        self.previous = os.environ.get("GRADIO_TEMP_DIR")
        parent = self.previous or None
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="restorable-gradio-", dir=parent))
        os.environ["GRADIO_TEMP_DIR"] = str(self.path)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if os.environ.get("GRADIO_TEMP_DIR") == str(self.path):
            if self.previous is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = self.previous


def bounded_queue(app):
    """The page's queue: light events (lists, visibility) one at a time each, the model runs
    one at a time together (their shared group, app.HEAVY), at most QUEUE_SIZE waiting."""
    return app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)


def launch(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    weights: str | None = None,
    auth: str | None = None,
):
    """Build the page and start serving it without blocking; returns (blocks, url). The blocks
    carry ``workspace`` and ``private_temp``: :func:`shutdown` removes both."""
    if not 0 < port < 65536:
        raise RestorableError(f"--port {port}: give a port between 1 and 65535")
    credentials = parse_auth(auth)
    private = PrivateTemp()  # before gradio is imported: some of its modules read it then
    workspace = None
    try:
        import_gradio()
        from starlette.middleware import Middleware

        from restorable.web import memory
        from restorable.web.app import CSS, SAMPLES, Workspace, build_app, theme
        from restorable.web.guard import AllowedHosts, HostCheck, UploadQuota

        memory.tune()  # a long-running server of large arrays: see restorable.web.memory
        workspace = Workspace(weights, parent=private.path)
        app = build_app(workspace)
        bounded_queue(app)
        middleware = [
            Middleware(HostCheck, allowed=AllowedHosts(host)),
            Middleware(UploadQuota, max_bytes=MAX_UPLOAD_BYTES, max_files=MAX_UPLOAD_FILES),
        ]
        _, url, _ = app.launch(
            server_name=host,
            server_port=port,
            share=False,
            inbrowser=False,
            prevent_thread_lock=True,
            quiet=True,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            footer_links=[],
            allowed_paths=[str(SAMPLES)],
            max_file_size=f"{MAX_FILE_MB}mb",
            auth=credentials,
            app_kwargs={"middleware": middleware},
            theme=theme(),
            css=CSS,
        )
    except OSError as exc:
        _clean(workspace, private)
        raise RestorableError(
            f"cannot serve on {host}:{port} ({exc}); try another --port"
        ) from None
    except BaseException:
        _clean(workspace, private)
        raise
    app.private_temp = private
    return app, url


def _clean(workspace, private: PrivateTemp) -> None:
    if workspace is not None:
        workspace.close()
    private.remove()


def shutdown(app) -> None:
    """Stop serving and remove every file the server made: its outputs and Gradio's cache."""
    try:
        app.close(verbose=False)
    finally:
        _clean(app.workspace, app.private_temp)


def exposure_warning(host: str, auth: str | None) -> str | None:
    """What to say when the page listens beyond this machine (``None`` on loopback)."""
    if host in LOOPBACK:
        return None
    if auth:
        return (
            f"warning: listening on {host}: other machines can reach this page; it asks for "
            "the --auth password, sent over plain HTTP"
        )
    return (
        f"warning: listening on {host}: other machines can reach this page, and it has no "
        "authentication (anyone who reaches it can use this machine's CPU and disk); "
        "add --auth USER:PASSWORD"
    )


def run_serve(args: argparse.Namespace) -> int:
    """Handler of ``serve``: serves until Ctrl-C or SIGTERM, then removes its files; returns a
    process exit code."""
    app, url = launch(args.host, args.port, args.weights, args.auth)
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        print(f"restorable web page: {url}  (Ctrl-C stops it)", flush=True)
        warning = exposure_warning(args.host, args.auth)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        running = app.workspace.running
        shutdown(app)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("restorable web page stopped; its files are removed", flush=True)
    if running:
        # A job still runs in a worker thread, inside torch: leaving through the interpreter's
        # shutdown would end in "terminate called without an active exception" (SIGABRT).
        # Everything of ours is cleaned up already, so leave at once.
        print("(a job in progress was abandoned)", flush=True)
        sys.stderr.flush()
        os._exit(0)
    return 0

