"""The web page (``restorable serve``): its functions, its CLI hook, and the page in a browser.

The browser test starts the real command on a free port, drives Debian's chromium with
Playwright (edit a sample with l0, download, restore the download, bad upload, a file whose
record carries HTML and a Markdown image, good upload) and checks that every request the page
made went to 127.0.0.1, none to the addresses in that record. It is skipped only when gradio,
playwright or chromium is missing; ``.ci/run`` installs all three. The same server then answers
under a foreign ``Host`` (refused), takes an over-quota upload (refused) and is stopped with
SIGTERM, which must remove its private folders. A second one, on 127.0.0.2 with ``--auth``,
must warn that it is reachable and ask for the password.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from restorable.errors import RestorableError
from restorable.evaluation.metrics import psnr
from restorable.files import read_image, read_meta
from restorable.web.app import SAMPLES, Workspace, edit_photo, restore_photo
from restorable.web.serve import INSTALL

SAMPLE = SAMPLES / "scikit-image__chelsea.jpg"  # the smallest bundled photo: 451x300
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def workspace():
    ws = Workspace()
    yield ws
    ws.close()


def test_edit_then_restore_png_carries_the_record(workspace):
    edit = edit_photo(workspace, SAMPLE, "l0")
    assert edit.path.suffix == ".png" and edit.edited.shape == edit.original.shape
    meta = read_meta(edit.path)
    assert meta["op"] == "l0" and meta["name"] == "l0" and len(meta["sha"]) == 12
    result = restore_photo(workspace, edit.path, original=SAMPLE)
    assert result.sheet is not None and result.sheet.dtype == np.uint8
    assert result.metrics["psnr"] > 35 and "PSNR" in result.message
    assert psnr(read_image(result.path), read_image(SAMPLE)) == result.metrics["psnr"]


def test_jpeg_edit_uses_the_jpeg_model_and_restore_reads_it(workspace):
    edit = edit_photo(workspace, SAMPLE, "l0", jpeg_quality=90)
    assert edit.path.suffix == ".jpg"
    assert read_meta(edit.path)["name"] == "l0-jpeg"
    assert "**l0\\-jpeg**" in restore_photo(workspace, edit.path).message  # Markdown-escaped


def test_a_stripped_cropped_file_is_identified_and_restored(workspace, tmp_path):
    """Re-saved without its record and cropped by a row and a column, as a website might: the
    page finds the model from the pixels and restores on the crop's grid, as the CLI does."""
    from PIL import Image

    edit = edit_photo(workspace, SAMPLE, "l0")
    stripped = tmp_path / "resaved.png"
    Image.fromarray(edit.edited[1:, 1:]).save(stripped)
    assert read_meta(stripped) is None
    result = restore_photo(workspace, stripped)
    assert "identified **l0**" in result.message and "warning" not in result.message
    assert "shifted grid" in result.message and "Grid on the page" in result.message
    photo = read_image(SAMPLE)[1:, 1:]
    found = read_image(result.path)
    assert psnr(photo[8:-8, 8:-8], found[8:-8, 8:-8]) > 35
    # the Grid choice: the crop's own grid gives the same picture, the uncropped one a worse
    same = read_image(restore_photo(workspace, stripped, "l0", grid="1,1").path)
    assert np.array_equal(same, found)
    naive = read_image(restore_photo(workspace, stripped, "l0", grid="0,0").path)
    inner = (slice(8, -8), slice(8, -8))
    assert psnr(photo[inner], naive[inner]) < psnr(photo[inner], found[inner]) - 3
    with pytest.raises(RestorableError, match="grid: expected two values"):
        restore_photo(workspace, stripped, "l0", grid="2,2")


def test_pixels_changed_after_apply_are_flagged(workspace, tmp_path):
    from restorable.files import write_image

    edit = edit_photo(workspace, SAMPLE, "l0")
    changed = edit.edited.copy()
    changed[100:140, 100:180] = 255  # a white box painted over the edit
    path = tmp_path / "touched.png"
    write_image(path, changed, meta=read_meta(edit.path))
    result = restore_photo(workspace, path)
    assert "**warning**" in result.message and "l0" in result.message


def test_bad_files_get_one_line_messages_with_the_upload_name(workspace, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(RestorableError, match=r"^broken\.png: corrupt image file"):
        restore_photo(workspace, bad)
    # an unedited photo: no record, and no model's hidden signal in its pixels
    with pytest.raises(RestorableError, match="no restorable model fits.*choose the model"):
        restore_photo(workspace, SAMPLE)
    with pytest.raises(RestorableError, match="upload a photo"):
        edit_photo(workspace, None, "l0")


def test_serve_without_gradio_says_how_to_install(monkeypatch, capsys):
    from restorable.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert main(["serve", "--port", "7999"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the web page needs Gradio") and "\n" not in err
    assert 'pip install -e ".[web]"' in err


def test_the_core_cli_does_not_import_gradio():
    code = "import sys, restorable.cli as c; c.build_parser(); print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- the page in a real browser ----------------------------------------------------------


def _browser_tools_missing() -> str | None:
    for module in ("gradio", "playwright.sync_api"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed ({INSTALL.split(': ', 1)[1]})"
    if not os.access(CHROMIUM, os.X_OK):
        return "chromium is not installed (apt-get install chromium)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_serve(temp: Path, *args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """``restorable serve ARGS`` on a free port with ``GRADIO_TEMP_DIR=temp``, in its own
    process; returns (process, url, the lines it printed up to the url)."""
    env = dict(os.environ, GRADIO_TEMP_DIR=str(temp))
    cmd = [sys.executable, "-m", "restorable.cli", "serve", "--port", str(_free_port()), *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    url, lines, deadline = None, [], time.monotonic() + 120
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("restorable web page: "):
            url = line.split()[3]
    if url is None:
        proc.kill()
        pytest.fail(f"restorable serve did not start: {''.join(lines)}{proc.stdout.read()}")
    return proc, url, lines


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``restorable serve`` on a free port, in its own process; yields (process, url, the
    folder given as GRADIO_TEMP_DIR)."""
    missing = _browser_tools_missing()
    if missing:
        pytest.skip(missing)
    temp = tmp_path_factory.mktemp("gradio")
    proc, url, _ = _start_serve(temp)
    yield proc, url, temp
    _stop(proc)


def _record_naming(path: Path, name: str) -> Path:
    """A PNG of the sample whose record names the model ``name``: what a crafted file holds."""
    from restorable.files import write_image

    # a small crop: the record is ignored and the pixels are searched for a model (quickly)
    pixels = read_image(SAMPLE)[:128, :128]
    write_image(path, pixels, meta={"op": "l0", "model": "v1", "name": name})
    return path


HOSTILE = ("<img src=http://127.0.0.1:9/x>", "![x](http://127.0.0.1:9/y)")


def _upload(page, elem_id: str, path: Path) -> None:
    box = page.locator(f"#{elem_id}")
    clear = box.get_by_label("Clear")
    if clear.count():
        clear.first.click()
    box.locator("input[type=file]").set_input_files(str(path))
    box.locator(f'[aria-label="{path.name}"]').wait_for()


def _download(page, elem_id: str, dst: Path) -> Path:
    link = page.locator(f"#{elem_id} a[download]")
    link.wait_for(timeout=90_000)
    with page.expect_download() as info:
        link.click()
    info.value.save_as(dst)
    return dst


def test_page_edit_download_restore_and_survive_a_bad_file(server, tmp_path):
    from playwright.sync_api import sync_playwright

    proc, url, _ = server
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)

            # Edit: upload a bundled sample, apply l0 (the default), download the PNG
            _upload(page, "edit-photo", SAMPLE)
            page.locator("#apply").click()
            edited = _download(page, "edit-download", tmp_path / "edited.png")
            assert read_meta(edited)["op"] == "l0"
            page.locator("#edit-slider img").first.wait_for()
            shot = os.environ.get("RESTORABLE_WEB_SCREENSHOT")
            if shot:
                page.wait_for_timeout(1500)  # let the slider's images settle
                page.screenshot(path=shot)

            # Restore: the downloaded file, with the original for PSNR / SSIM
            page.get_by_role("tab", name="Restore").click()
            _upload(page, "restore-file", edited)
            _upload(page, "restore-original", SAMPLE)
            page.locator("#restore").click()
            restored = _download(page, "restore-download", tmp_path / "restored.png")
            assert psnr(read_image(restored), read_image(SAMPLE)) > 35
            page.locator("#restore-status").get_by_text("PSNR").wait_for()
            page.locator("#restore-sheet img").wait_for()

            # a corrupt upload: the CLI's one-line message on the page, the server lives on
            bad = tmp_path / "broken.png"
            bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
            _upload(page, "restore-file", bad)
            page.locator("#restore").click()
            page.get_by_text("broken.png: corrupt image file").first.wait_for(timeout=30_000)
            assert proc.poll() is None

            # a record carrying HTML or a Markdown image: shown as text, never fetched
            for i, name in enumerate(HOSTILE):
                _upload(page, "restore-file", _record_naming(tmp_path / f"evil{i}.png", name))
                page.locator("#restore").click()
                # the record is ignored, so the model is identified from the pixels: 10-30 s on
                # an idle 2-core machine, over a minute beside a training run
                page.get_by_text(re.compile(r"127\.0\.0\.1:9")).first.wait_for(timeout=240_000)
            page.wait_for_timeout(500)
            assert page.locator("img[src*='127.0.0.1:9'], a[href*='127.0.0.1:9']").count() == 0

            # ... and a good request afterwards still works
            _upload(page, "restore-file", edited)
            page.locator("#restore").click()
            page.locator("#restore-download a[download]").wait_for(timeout=240_000)
            page.locator("#restore-status").get_by_text("edited.restored.png").wait_for()
        finally:
            browser.close()
    assert requests
    foreign = [
        u
        for u in requests
        if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"
    ]
    assert not foreign, f"requests left the machine: {foreign}"
    assert not [u for u in requests if urlparse(u).port == 9], "the page fetched a record's URL"


def test_only_this_machine_names_are_answered(server):
    """DNS rebinding: a page of evil.example.com whose name now resolves to 127.0.0.1 reaches
    the server with ``Host: evil.example.com``; only this machine's own names get an answer."""
    import httpx

    _, url, _ = server
    port = urlparse(url).port
    for host in ("evil.example.com", f"evil.example.com:{port}", "127.0.0.1.evil.example.com"):
        r = httpx.get(url, headers={"Host": host})
        assert r.status_code == 400 and "Host" in r.text, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert httpx.get(url, headers={"Host": host}).status_code == 200, host


def test_uploads_have_a_quota_per_request(server, tmp_path):
    """Gradio bounds each file (300 MB), not a request: at most 4 files and 301 MB in one."""
    import httpx

    from restorable.web.serve import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES

    _, url, _ = server
    upload = url.rstrip("/") + "/gradio_api/upload"
    one = [("files", ("a.png", b"x" * 100, "image/png"))]
    r = httpx.post(upload, files=one)
    assert r.status_code == 200 and len(r.json()) == 1
    many = one * (MAX_UPLOAD_FILES + 1)
    r = httpx.post(upload, files=many)
    assert r.status_code == 413 and r.text.startswith("upload refused: at most 4 files")
    # a body announced over the quota is refused before a byte of it is read
    parts = urlparse(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        s.sendall(
            f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {MAX_UPLOAD_BYTES + 1}\r\n\r\n".encode()
        )
        assert s.recv(200).startswith(b"HTTP/1.1 413")


def test_auth_and_a_warning_when_other_machines_can_reach_it(tmp_path):
    """Listening beyond 127.0.0.1 (here 127.0.0.2, still this machine) the command says that
    other machines can reach the page; ``--auth`` puts Gradio's login in front of it."""
    import httpx

    missing = _browser_tools_missing()
    if missing:
        pytest.skip(missing)
    proc, url, lines = _start_serve(tmp_path, "--host", "127.0.0.2", "--auth", "ana:s3:cret")
    try:
        deadline = time.monotonic() + 30
        while not any(line.startswith("warning: listening on 127.0.0.2") for line in lines):
            assert time.monotonic() < deadline, lines
            lines.append(proc.stdout.readline())
        assert "--auth password" in lines[-1]
        with httpx.Client(base_url=url) as client:
            assert client.get("/config").status_code == 401
            bad = client.post("/login", data={"username": "ana", "password": "nope"})
            assert bad.status_code == 400
            good = client.post("/login", data={"username": "ana", "password": "s3:cret"})
            assert good.status_code == 200 and client.get("/config").status_code == 200
    finally:
        _stop(proc)


def test_sigterm_removes_the_private_folders(server):
    """Gradio's cache and the outputs live in one folder of the server's own, mode 0700, inside
    GRADIO_TEMP_DIR; SIGTERM (what a service manager sends) removes it. Runs last: it stops the
    module's server."""
    proc, _, temp = server
    (private,) = temp.glob("restorable-gradio-*")
    (outputs,) = private.glob("restorable-web-*")
    assert private.stat().st_mode & 0o777 == 0o700
    assert outputs.stat().st_mode & 0o777 == 0o700
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "its files are removed" in proc.stdout.read()
    assert not private.exists() and list(temp.iterdir()) == []
