"""End to end in headless Chromium: upload bikes.mp4, relight it with a rectangle lock painted on the
frame, watch progress reach 100 %, download the output and check its frames and fps.

The browser is Debian's ``chromium`` (``make browser`` installs it) driven by the ``playwright`` package;
nothing is downloaded at run time. The screenshots in ``docs/img/studio-*.png`` come from this test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from tests.studio.conftest import free_port, wait_for

from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
IN_CI = os.environ.get("CI", "").lower() == "true"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the install
    sync_playwright = None

if not IN_CI and (sync_playwright is None or not CHROMIUM.exists()):
    pytest.skip(
        "needs Debian's chromium and the playwright package (run `make browser`)", allow_module_level=True
    )


@pytest.fixture
def studio_url(store, secret, processes, tmp_path):
    import httpx

    port = free_port()
    store.close()
    processes.start(
        "serve",
        "--home",
        str(store.home),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        log=tmp_path / "serve.log",
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 60, "the studio server", interval=0.2)
    return base, secret


def test_relight_with_a_painted_lock_in_the_browser(studio_url, bikes, tmp_path):
    base, secret = studio_url
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        page.goto(f"{base}/#key={secret}")
        expect(page.locator("body[data-ready=true] #studio")).to_be_visible(timeout=30_000)
        assert "key=" not in page.url  # the key left the address bar once exchanged for the cookie

        page.set_input_files("#upload-input", str(bikes))
        expect(page.locator("#upload-status")).to_contain_text("stored bikes.mp4", timeout=30_000)
        page.click("#advise-btn")
        expect(page.locator("#advice h3")).to_contain_text("transform", timeout=30_000)
        page.screenshot(path=str(DOCS_IMG / "studio-clip.png"))

        page.click("#tabs button[data-tab=transform]")
        page.wait_for_function("document.querySelector('#lock-canvas').width === 640", timeout=30_000)
        page.check("#op-relight")
        page.select_option("#relight-preset", "night")
        box = page.locator("#lock-canvas").bounding_box()
        # Paint the lock over the left half of the frame, top to bottom (frame pixels 0..320 x 0..272).
        page.mouse.move(box["x"] + 1, box["y"] + 1)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] - 1, steps=5)
        page.mouse.up()
        expect(page.locator("#locks-list")).to_have_text(re.compile(r"^lock [0-2],[0-2] 3[12]\dx2[67]\d$"))
        page.click("#run-transform")
        expect(page.locator("#transform-progress-box progress")).to_be_visible()
        expect(page.locator("#transform-progress-box")).to_have_attribute(
            "data-state", "succeeded", timeout=180_000
        )
        expect(page.locator("#transform-progress-box .job-progress-text")).to_have_text("100 %")
        assert page.locator("#transform-progress-box progress").evaluate("p => p.value") == 100
        expect(page.locator("#download-link")).to_be_visible()
        page.wait_for_function("document.querySelector('#output-video').readyState >= 2", timeout=30_000)
        page.screenshot(path=str(DOCS_IMG / "studio-transform.png"))

        with page.expect_download() as download_info:
            page.click("#download-link")
        output = tmp_path / "download.mp4"
        download_info.value.save_as(output)

        page.click("#tabs button[data-tab=takes]")
        expect(page.locator("#takes-grid .card")).to_have_count(1)
        page.locator("#takes-grid .card button", has_text="Pick").click()
        expect(page.locator("#takes-grid .card.picked")).to_have_count(1)
        page.screenshot(path=str(DOCS_IMG / "studio-takes.png"))
        browser.close()

    video = probe(output).video
    assert video.frame_count == 250 and video.fps == 25
    # The lock kept the left half as in the source; the night relight changed the right half.
    out_frame = VideoReader(output).frame_at(125).astype(np.int16)
    src_frame = VideoReader(bikes).frame_at(125).astype(np.int16)
    locked = np.abs(out_frame[5:265, 5:310] - src_frame[5:265, 5:310]).mean()
    relit = np.abs(out_frame[:, 330:] - src_frame[:, 330:]).mean()
    assert locked < 3 < relit, (locked, relit)
