"""The web page (``restorable serve``): its functions, its CLI hook, and the page in a browser.

The browser test starts the real command on a free port, drives Debian's chromium with
Playwright (edit a sample with l0, download, restore the download, bad upload, good upload) and
checks that every request the page made went to 127.0.0.1. It is skipped only when gradio,
playwright or chromium is missing; ``.ci/run`` installs all three.
"""

from __future__ import annotations

import os
import shutil
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
    assert "l0-jpeg" in restore_photo(workspace, edit.path).message


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
    photo = read_image(SAMPLE)[1:, 1:]
    assert psnr(photo[8:-8, 8:-8], read_image(result.path)[8:-8, 8:-8]) > 35


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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``restorable serve`` on a free port, in its own process; yields (process, url)."""
    missing = _browser_tools_missing()
    if missing:
        pytest.skip(missing)
    env = dict(os.environ, GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")))
    cmd = [sys.executable, "-m", "restorable.cli", "serve", "--port", str(_free_port())]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    url, deadline = None, time.monotonic() + 120
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("restorable web page: "):
            url = line.split()[3]
    if url is None:
        proc.kill()
        pytest.fail(f"restorable serve did not start: {proc.stdout.read()}")
    yield proc, url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


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

    proc, url = server
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

            # ... and a good request afterwards still works
            _upload(page, "restore-file", edited)
            page.locator("#restore").click()
            page.locator("#restore-download a[download]").wait_for(timeout=60_000)
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
