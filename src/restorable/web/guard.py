"""What stands between the page and a hostile file or request.

::

    request ──HostCheck──► UploadQuota ──► Gradio's app
               │               └─ POST .../upload over the quota: 413 / 411, one line
               └─ Host not this machine's name: 400 (DNS rebinding)

    message from a file (names, record fields) ──markdown_text / html_text──► the page, as text

A file is untrusted input: its record names a model, its name is the uploader's choice, and both
reach the page's status line (Gradio renders it as Markdown with HTML allowed, so an
``<img src=...>`` in a record would make the browser fetch that address) and its error toasts
(HTML). A page on localhost is also reachable from any web site the user visits, through DNS
rebinding (a name of the attacker's that resolves to 127.0.0.1): the browser then sends the
attacker's name as ``Host``, which :class:`HostCheck` refuses.

The middlewares are plain ASGI, handed to Gradio's FastAPI app as ``app_kwargs["middleware"]``
(the app is built inside ``launch``, so ``add_middleware`` afterwards would be too late).
"""

from __future__ import annotations

import html
import ipaddress
import re
import socket
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
UPLOAD_PATH = "/gradio_api/upload"

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark


def markdown_text(text: object) -> str:
    """``text`` as Markdown that shows exactly these characters: every ASCII punctuation mark
    backslash-escaped (CommonMark allows it for all of them), line breaks made spaces. So no
    tag, image, link, autolink (``http\\://`` no longer matches), emphasis or heading can form,
    whatever a file's name or record holds."""
    return _PUNCT.sub(r"\\\1", _CONTROL.sub(" ", str(text)))


def html_text(text: object) -> str:
    """``text`` escaped for a place that renders HTML (Gradio's error toast)."""
    return html.escape(_CONTROL.sub(" ", str(text)), quote=True)


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header: without the port, IPv6 brackets or a final dot, lowercase
    (``[::1]:7860`` -> ``::1``, ``LocalHost.:80`` -> ``localhost``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        name = host.split(":", 1)[0]
    else:
        name = host  # a bare IPv6 address, or no port
    return name.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHosts:
    """The ``Host`` names the page answers: this machine's loopback names, plus what ``--host``
    says. A name given to ``--host`` is allowed as given. A wildcard (``0.0.0.0``, ``::``) lets
    other machines in under any address, so it also allows any IP address written as such and
    this machine's own host names: DNS rebinding needs a name the attacker controls, never an
    address typed by the user."""

    def __init__(self, listen: str = "127.0.0.1", extra: Iterable[str] = ()):
        self.names = set(LOOPBACK_NAMES) | {host_name(n) for n in extra}
        listen_name = host_name(listen)
        self.any_ip = listen_name in WILDCARDS
        if self.any_ip:
            self.names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        else:
            self.names.add(listen_name)

    def __contains__(self, host_header: str | None) -> bool:
        name = host_name(host_header or "")
        return bool(name) and (name in self.names or (self.any_ip and _is_ip(name)))


async def _reply(send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class HostCheck:
    """ASGI middleware: 400 for an HTTP request, and a closed socket for a WebSocket, whose
    ``Host`` is not in ``allowed`` (an :class:`AllowedHosts`)."""

    def __init__(self, app, allowed: AllowedHosts):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket") and _header(scope, b"host") not in self.allowed:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _reply(
                send, 400, "invalid Host header: this page answers only under its own address"
            )
            return
        await self.app(scope, receive, send)


class _Over(Exception):
    pass


class UploadQuota:
    """ASGI middleware on Gradio's upload route: at most ``max_bytes`` of body and ``max_files``
    files per request. Gradio's own ``max_file_size`` bounds each file, not a request, which may
    carry up to 1000 files. The body size is checked from ``Content-Length`` before any byte is
    read (a request without one is refused: browsers and gradio_client send it); the files are
    counted as the body streams in, by the multipart boundaries, and the request is cut off at
    one too many."""

    def __init__(self, app, max_bytes: int, max_files: int):
        self.app = app
        self.max_bytes = max_bytes
        self.max_files = max_files

    def message(self) -> str:
        return (
            f"upload refused: at most {self.max_files} files and {self.max_bytes / 1e6:g} MB "
            "per request"
        )

    async def __call__(self, scope, receive, send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/").endswith(UPLOAD_PATH)
        ):
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is None or not length.strip().isdigit():
            await _reply(send, 411, "upload refused: the request must give its Content-Length")
            return
        if int(length) > self.max_bytes:
            await _reply(send, 413, self.message())
            return
        ctype = _header(scope, b"content-type") or ""
        match = re.search(r'boundary="?([^";]+)"?', ctype)
        delimiter = b"--" + match.group(1).encode("latin-1") if match else None
        state = {"tail": b"", "parts": 0, "started": False}

        async def counted_receive():
            message = await receive()
            if delimiter and message["type"] == "http.request":
                data = state["tail"] + message.get("body", b"")
                state["parts"] += data.count(delimiter)
                state["tail"] = data[-(len(delimiter) - 1) :]
                # the last delimiter closes the body ("--b--"), so n files make n + 1
                if state["parts"] > self.max_files + 1:
                    raise _Over
            return message

        async def watched_send(message):
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _Over:  # raised from counted_receive, through Gradio's upload handler
            if state["started"]:
                raise
            await _reply(send, 413, self.message())
