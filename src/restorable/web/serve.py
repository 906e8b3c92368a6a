"""The ``restorable serve`` subcommand (registered by the main CLI via ``register_cli``).

::

    restorable serve [--port 7860] [--host 127.0.0.1]

Starts the web page (:mod:`restorable.web.app`) on this machine and prints its address. Gradio
is an optional extra: without it the command says how to install it. Nothing leaves the
machine: no analytics, no share link, no fonts or scripts from elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys

from restorable.errors import RestorableError

HELP = "open the web page: edit, restore and compare in the browser (local)"
DEFAULT_PORT = 7860
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


def launch(host: str = "127.0.0.1", port: int = DEFAULT_PORT, weights: str | None = None):
    """Build the page and start serving it without blocking; returns (blocks, url)."""
    import_gradio()
    from restorable.web.app import CSS, SAMPLES, Workspace, build_app, theme

    if not 0 < port < 65536:
        raise RestorableError(f"--port {port}: give a port between 1 and 65535")
    workspace = Workspace(weights)
    app = build_app(workspace)
    app.queue(default_concurrency_limit=1)  # one model run at a time: the CPU is the limit
    try:
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
            max_file_size="300mb",
            theme=theme(),
            css=CSS,
        )
    except OSError as exc:
        workspace.close()
        raise RestorableError(
            f"cannot serve on {host}:{port} ({exc}); try another --port"
        ) from None
    return app, url


def run_serve(args: argparse.Namespace) -> int:
    """Handler of ``serve``: serves until Ctrl-C; returns a process exit code."""
    app, url = launch(args.host, args.port, args.weights)
    print(f"restorable web page: {url}  (Ctrl-C stops it)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {args.host}: other machines can reach this page", flush=True)
    try:
        app.block_thread()
    finally:
        app.workspace.close()
    return 0


if __name__ == "__main__":
    from restorable.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
