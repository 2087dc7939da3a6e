"""`painter serve` in a real browser: the system's headless Chromium, driven by Playwright
(its Python package only; it never downloads a browser of its own). Skips with a reason
when either is missing.

The page is served by waitress on a free loopback port, as `painter serve` does, with the
session's tiny CycleGAN; PAINTER_SERVE_MODEL=RUN_DIR|stylizer serves another model, and
PAINTER_SERVE_SCREENSHOT=PATH saves the page as it stands once both photos are painted
(how docs/serve_screenshot.png was taken: README, "Serve a model")."""

from __future__ import annotations

import io
import os
import re
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE, chromium

PHOTOS = sorted((SAMPLE / "photo_jpg").glob("*.jpg"))[:2]


def _start(model):
    """(url, served model, stop) of `model` served by waitress on a free loopback port."""
    from painter.serve.app import create_app
    from painter.serve.model import load_served_model
    from painter.serve.server import make_server
    from painter.serve.worker import ModelWorker

    served = load_served_model(model, log=lambda m: None)
    worker = ModelWorker(served.painters).start()
    server = make_server(create_app(served, worker), "127.0.0.1", 0, threads=8)
    threading.Thread(target=server.run, name="waitress", daemon=True).start()

    def stop():
        server.close()
        worker.stop()

    return f"http://127.0.0.1:{server.effective_port}", served, stop


@pytest.fixture
def live_server(request):
    model = os.environ.get("PAINTER_SERVE_MODEL") or request.getfixturevalue("tiny_run")
    url, served, stop = _start(model)
    try:
        yield url, served
    finally:
        stop()


def _launch(playwright):
    return playwright.chromium.launch(
        executable_path=chromium(),
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])


def _jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


@pytest.mark.slow  # a browser's start and two round trips: about 5 s on 2 cores
def test_two_photos_painted_in_chromium_and_downloaded(live_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (pip install -e '.[test]')")
    chromium()
    url, served = live_server
    with sync_api.sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
            problems, paint_responses = [], []
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("request", lambda r: None if re.match(rf"({re.escape(url)}/|blob:|data:)", r.url)
                    else problems.append(f"external fetch: {r.url}"))
            page.on("response", lambda r: r.url.endswith("/api/paint") and paint_responses.append(r))
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready=true]")
            assert page.inner_text("h1") == served.name
            assert page.inner_text("#model-family") == served.family

            # The keyboard reaches the file input first, then the options.
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == "file"

            page.set_input_files("#file", [str(p) for p in PHOTOS])
            # A locator, not wait_for_function: the page's CSP forbids the eval() that needs.
            sync_api.expect(page.locator("#results li[data-state=done]")).to_have_count(
                2, timeout=120_000)
            assert page.evaluate("[...document.querySelectorAll('img.painting')]"
                                 ".map(i => [i.naturalWidth, i.naturalHeight])") == [[256, 256]] * 2
            assert sorted(r.status for r in paint_responses) == [200, 200]
            # Each painting as the page offers it: its download link (the API's JPEG bytes).
            paintings = {}
            for index in range(2):
                with page.expect_download() as download:
                    page.click(f"a.download >> nth={index}")
                saved = tmp_path / download.value.suggested_filename
                download.value.save_as(saved)
                paintings[saved.name] = saved.read_bytes()
            assert sorted(paintings) == sorted(f"{p.stem}_painted.jpg" for p in PHOTOS)
            assert (sorted(int(r.headers["content-length"]) for r in paint_responses)
                    == sorted(len(data) for data in paintings.values()))
            for photo in PHOTOS:
                painting = _jpeg(paintings[f"{photo.stem}_painted.jpg"])
                assert painting.shape == (256, 256, 3)
                assert np.abs(painting.astype(int) - _jpeg(photo.read_bytes())).mean() > 2

            if os.environ.get("PAINTER_SERVE_SCREENSHOT"):
                page.screenshot(path=os.environ["PAINTER_SERVE_SCREENSHOT"], full_page=True)

            with page.expect_download() as download:
                page.click("#zip")
            download.value.save_as(tmp_path / "all.zip")
            with zipfile.ZipFile(tmp_path / "all.zip") as archive:
                assert archive.testzip() is None
                assert {n: archive.read(n) for n in archive.namelist()} == paintings
            assert problems == []
        finally:
            browser.close()


@pytest.mark.slow  # a browser's start: about 4 s on 2 cores
def test_paint_me_one_for_a_latent_model(tmp_path):
    from test_serve import untrained_run

    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (pip install -e '.[test]')")
    chromium()
    url, served, stop = _start(untrained_run(tmp_path, "noise_gan"))
    try:
        with sync_api.sync_playwright() as playwright:
            browser = _launch(playwright)
            try:
                page = browser.new_page(accept_downloads=True)
                page.goto(url + "/")
                page.wait_for_selector("body[data-ready=true]")
                assert page.is_hidden("#photos") and page.is_visible("#latents")
                # From the keyboard: the seed field, then Enter submits.
                page.focus("#seed")
                page.keyboard.press("Control+A")
                page.keyboard.type("42")
                page.keyboard.press("Enter")
                sync_api.expect(page.locator("#results li[data-state=done]")).to_have_count(
                    1, timeout=60_000)
                with page.expect_download() as download:
                    page.click("a.download")
                assert download.value.suggested_filename == "seed_42.jpg"
                download.value.save_as(tmp_path / "seed_42.jpg")
                assert _jpeg((tmp_path / "seed_42.jpg").read_bytes()).shape == (256, 256, 3)
            finally:
                browser.close()
    finally:
        stop()
