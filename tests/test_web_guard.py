"""What stands between the page and a hostile file or request, without a server: messages
escaped as text, the ``Host`` names answered, ``--auth`` and the warning, the shared limit.

(The same guards on a running server, and in a browser, are in tests/test_web.py.)
"""

from __future__ import annotations

import html
import re

import pytest

from restorable.errors import RestorableError
from restorable.files import read_image, write_image
from restorable.web.app import SAMPLES, Workspace, error_text, md_emphasised, restore_photo
from restorable.web.guard import AllowedHosts, host_name, html_text, markdown_text
from restorable.web.serve import exposure_warning, parse_auth

SAMPLE = SAMPLES / "scikit-image__chelsea.jpg"
HOSTILE = [
    "<img src=http://127.0.0.1:9/x>",
    "![x](http://127.0.0.1:9/y)",
    "[link](http://127.0.0.1:9/z) <http://127.0.0.1:9/w> http://127.0.0.1:9/v www.evil.example",
    "**bold** _em_ `code` # heading\n\n# heading <script>alert(1)</script> &lt;img&gt;",
    "$$\\href{http://127.0.0.1:9}{x}$$ | table | ~~strike~~ \\<img src=x>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_text_renders_as_exactly_the_text(text):
    """Rendered as CommonMark (markdown-it, as strict as Gradio's marked on escapes), the
    escaped text is one paragraph of these characters: no element but <p>, nothing to fetch."""
    markdown_it = pytest.importorskip("markdown_it")
    escaped = markdown_text(text)
    assert "\n" not in escaped
    assert not re.search(r"(?<!\\)[<\[!(*_`#$]", escaped.replace("\\\\", ""))
    rendered = markdown_it.MarkdownIt("commonmark").render(escaped).strip()
    assert rendered.startswith("<p>") and rendered.endswith("</p>")
    inner = rendered[3:-4]
    assert "<" not in inner, rendered
    assert html.unescape(inner) == re.sub(r"\n+", " ", text)  # line breaks made spaces


def test_html_text_for_the_error_toast():
    assert html_text("<img src=http://127.0.0.1:9/x>") == "&lt;img src=http://127.0.0.1:9/x&gt;"
    assert html_text('a "b"\n<c>') == "a &quot;b&quot; &lt;c&gt;"


def test_a_crafted_record_reaches_the_page_as_text(tmp_path):
    """A PNG whose record names ``<img src=...>`` as its model: the page's error is that name
    as text (however the record is refused, the error must not become an element)."""
    ws = Workspace()
    try:
        for i, name in enumerate(HOSTILE[:2]):
            path = tmp_path / f"evil{i}.png"
            write_image(path, read_image(SAMPLE), meta={"op": "l0", "model": "v1", "name": name})
            with pytest.raises(RestorableError) as caught:
                restore_photo(ws, path)
            shown = error_text(caught.value)
            assert "<" not in shown and ">" not in shown
            if "<img" in str(caught.value):
                assert "&lt;img src=http://127.0.0.1:9/x&gt;" in shown
    finally:
        ws.close()


def test_emphasis_survives_the_escaping():
    def summary(emphasis: str) -> str:
        return f"identified {emphasis}l0-jpeg{emphasis} from the pixels (lift 3.1 dB)"

    assert md_emphasised(summary) == (
        "identified **l0\\-jpeg** from the pixels \\(lift 3\\.1 dB\\)"
    )


@pytest.mark.parametrize(
    "header,name",
    [
        ("127.0.0.1:7860", "127.0.0.1"),
        ("[::1]:7860", "::1"),
        ("::1", "::1"),
        ("LocalHost.:80", "localhost"),
        ("evil.example.com:7860", "evil.example.com"),
        ("", ""),
    ],
)
def test_host_name(header, name):
    assert host_name(header) == name


def test_allowed_hosts():
    loop = AllowedHosts("127.0.0.1")
    for ok in ("127.0.0.1:7860", "localhost", "localhost:1", "[::1]:7860"):
        assert ok in loop
    for bad in ("evil.example.com", "localhost.evil.example.com", "192.168.1.5:7860", "", None):
        assert bad not in loop
    named = AllowedHosts("photos.lan")
    assert "photos.lan:7860" in named and "127.0.0.1" in named and "evil.example" not in named
    anywhere = AllowedHosts("0.0.0.0")
    assert "192.168.1.5:7860" in anywhere and "[fe80::1]:7860" in anywhere
    assert "evil.example.com" not in anywhere


def test_auth_values_and_the_exposure_warning(capsys):
    from restorable.cli import main

    assert parse_auth("ana:s3:cret") == ("ana", "s3:cret")
    assert parse_auth(None) is None
    for bad in ("ana", "ana:", ":pw", " :pw"):
        with pytest.raises(RestorableError, match=r"^--auth: give USER:PASSWORD"):
            parse_auth(bad)
    # from the command line: one line, exit code 2, and no server started
    assert main(["serve", "--port", "7999", "--auth", "nopassword"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --auth: give USER:PASSWORD") and "\n" not in err

    assert exposure_warning("127.0.0.1", None) is None
    assert exposure_warning("localhost", None) is None
    warning = exposure_warning("0.0.0.0", None)
    assert warning.startswith("warning: listening on 0.0.0.0") and "no authentication" in warning
    assert "--auth" in warning
    assert "no authentication" not in exposure_warning("0.0.0.0", "ana:pw")


def test_apply_and_restore_share_one_limit_and_the_queue_is_bounded():
    """The model runs share one concurrency group, so an Apply and a Restore never run at
    once; and the queue has a size."""
    pytest.importorskip("gradio")
    from restorable.web.app import HEAVY, build_app
    from restorable.web.serve import QUEUE_SIZE, bounded_queue

    ws = Workspace()
    try:
        app = bounded_queue(build_app(ws))
        assert app._queue.max_size == QUEUE_SIZE
        heavy = [fn for fn in app.fns.values() if fn.concurrency_id == HEAVY]
        assert {fn.name for fn in heavy} == {"on_apply", "on_restore"}
        assert all(fn.concurrency_limit == 1 for fn in heavy)
        assert len(app.fns) > len(heavy)  # the light events (lists, visibility) stay apart
    finally:
        ws.close()


def test_freed_memory_can_be_given_back_here():
    """The server's memory stays flat under load only if glibc's malloc can be tuned and
    trimmed (restorable.web.memory); on Linux CI it must be."""
    import sys

    from restorable.web import memory

    if sys.platform.startswith("linux"):
        assert memory._libc() is not None
    memory.trim()
