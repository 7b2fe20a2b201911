"""End to end in headless Chromium, one browser session through every screen of the studio:

1. upload bikes.mp4, ask the advisor, relight it with a rectangle lock painted on the frame, watch progress
   reach 100 %, download the output and check its frames, fps and the lock;
2. scrub the keyframe timeline of a small clip, add an edited still there, restyle by that keyframe and
   check the output hits the still at its time;
3. localize a signage clip into two markets from a small text table;
4. compare the two market takes side by side and pick one;
5. invent two takes with a tiny random model (seeds recorded);
6. the project's sequence: every take under what it was made from;
7. switch to a new project and back.

The browser is Debian's ``chromium`` (``make browser`` installs it) driven by the ``playwright`` package;
nothing is downloaded at run time. The screenshots in ``docs/img/studio-*.png`` come from this test: it writes
them there only with ``SHOTCRAFT_REFRESH_DOCS=1`` (otherwise into the test's temporary folder), so a test run
never rewrites the docs' tracked pictures.
"""

from __future__ import annotations

import io
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.studio.conftest import INVENT_MODEL, serve_studio, skip_without_browser, wait_in_page

from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
REFRESH_DOCS = os.environ.get("SHOTCRAFT_REFRESH_DOCS") == "1"

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

#: Long enough for a job on 2 busy shared cores; a job that takes longer has a problem worth seeing.
JOB_TIMEOUT_MS = 180_000


@pytest.fixture
def studio_url(store, secret, processes, tmp_path, invent_env):
    store.close()
    return serve_studio(processes, store.home, tmp_path / "serve.log"), secret


class Studio:
    """The page and the API behind it, with the steps every flow repeats."""

    def __init__(self, page: Page, base: str, secret: str, folder: Path, pictures: Path):
        import httpx

        self.page, self.folder, self.pictures = page, folder, pictures
        self.api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30)

    def tab(self, name: str) -> None:
        self.page.click(f"#tabs button[data-tab={name}]")

    def upload(self, clip: Path) -> None:
        self.tab("clip")
        self.page.set_input_files("#upload-input", str(clip))
        expect(self.page.locator("#upload-status")).to_contain_text(f"stored {clip.name}", timeout=30_000)

    def wait_for_job(self, box: str) -> None:
        expect(self.page.locator(f"{box} progress")).to_be_visible()
        expect(self.page.locator(box)).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT_MS)
        expect(self.page.locator(f"{box} .job-progress-text")).to_have_text("100 %")

    def download(self, take_id: str) -> Path:
        path = self.folder / f"{take_id}.mp4"
        path.write_bytes(self.api.get(f"/api/takes/{take_id}/content").content)
        return path

    def shot(self, name: str, videos: str | None = None, at: float = 0.3) -> None:
        """Screenshot (into docs/img when refreshing the docs). ``videos`` (a selector) are paused at ``at`` seconds and shown without
        their controls for the picture, so it shows their frames rather than a loading spinner."""
        if not videos:
            self._save(name)
            return
        self.page.evaluate(
            """([sel, at]) => Promise.all([...document.querySelectorAll(sel)].map((v) => new Promise((done) => {
                v.pause(); v.addEventListener("seeked", done, { once: true });
                v.currentTime = Math.min(at, (v.duration || 1) - 0.01); })))""",
            [videos, at],
        )
        wait_in_page(
            self.page, "sel => [...document.querySelectorAll(sel)].every(v => v.readyState >= 2)", videos
        )
        controls = f"on => document.querySelectorAll({videos!r}).forEach(v => {{ v.controls = on; }})"
        self.page.evaluate(controls, False)
        self._save(name)
        self.page.evaluate(controls, True)

    def _save(self, name: str) -> None:
        # A 256-colour palette keeps the docs' pictures small (about a third of the full-colour size).
        picture = Image.open(io.BytesIO(self.page.screenshot())).convert("RGB")
        picture.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
            self.pictures / f"studio-{name}.png", optimize=True
        )


def test_every_studio_screen_in_one_browser_session(studio_url, chromium, bikes, clip_factory, tmp_path):
    base, secret = studio_url
    pictures = DOCS_IMG if REFRESH_DOCS else tmp_path
    pictures.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/#key={secret}")
    expect(page.locator("body[data-ready=true] #studio")).to_be_visible(timeout=30_000)
    assert "key=" not in page.url  # the key left the address bar once exchanged for the cookie
    studio = Studio(page, base, secret, tmp_path, pictures)
    try:
        relight_with_a_painted_lock(studio, bikes)
        restyle_by_a_keyframe_on_the_timeline(studio, clip_factory)
        localize_into_two_markets(studio, tmp_path)
        compare_and_pick(studio)
        invent_two_takes(studio)
        the_sequence(studio)
        switch_projects(studio)
    except Exception:
        # What the server and its worker said is the first thing to read when a flow fails.
        print((tmp_path / "serve.log").read_text(errors="replace")[-6000:])
        raise
    finally:
        studio.api.close()
        context.close()
    assert errors == [], errors


def relight_with_a_painted_lock(studio: Studio, bikes: Path) -> None:
    page = studio.page
    studio.upload(bikes)
    page.click("#advise-btn")
    expect(page.locator("#advice h3")).to_contain_text("transform", timeout=30_000)
    studio.shot("clip")

    studio.tab("transform")
    expect(page.locator("#lock-canvas")).to_have_attribute("width", "640", timeout=30_000)
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
    studio.wait_for_job("#transform-progress-box")
    assert page.locator("#transform-progress-box progress").evaluate("p => p.value") == 100
    expect(page.locator("#download-link")).to_be_visible()
    studio.shot("transform", videos="#tab-transform video", at=5.0)

    with page.expect_download() as download_info:
        page.click("#download-link")
    output = studio.folder / "download.mp4"
    download_info.value.save_as(output)
    video = probe(output).video
    assert video.frame_count == 250 and video.fps == 25
    # The lock kept the left half as in the source; the night relight changed the right half.
    out_frame = VideoReader(output).frame_at(125).astype(np.int16)
    src_frame = VideoReader(bikes).frame_at(125).astype(np.int16)
    locked = np.abs(out_frame[5:265, 5:310] - src_frame[5:265, 5:310]).mean()
    relit = np.abs(out_frame[:, 330:] - src_frame[:, 330:]).mean()
    assert locked < 3 < relit, (locked, relit)

    studio.tab("takes")
    expect(page.locator("#takes-grid .card")).to_have_count(1)
    page.locator("#takes-grid .card button", has_text="Pick").click()
    expect(page.locator("#takes-grid .card.picked")).to_have_count(1)
    studio.shot("takes")


def restyle_by_a_keyframe_on_the_timeline(studio: Studio, clip_factory) -> None:
    page = studio.page
    clip = clip_factory(
        "street.mp4", frames=25, width=240, height=136, fps=Fraction(25), footage="bikes", audio_channels=2
    )
    # The edited still: the source frame at 0.48 s (frame 12) with its colours turned, as an artist would
    # hand back a graded keyframe.
    source_frame = VideoReader(clip).frame_at(12)
    edited = np.clip(source_frame[..., ::-1].astype(np.int16) * 1.2 + 20, 0, 255).astype(np.uint8)
    still = studio.folder / "graded.png"
    Image.fromarray(edited).save(still)

    studio.upload(clip)  # the new clip becomes the transform's source
    studio.tab("transform")
    expect(page.locator("#lock-canvas")).to_have_attribute("width", "240", timeout=30_000)
    expect(page.locator("#locks-list")).to_have_text("")  # locks belong to the previous source
    page.locator("#timeline").fill("480")  # 0.48 s of the clip's 1 s: frame 12
    expect(page.locator("#timeline-time")).to_have_text("0.48 s")
    page.set_input_files("#keyframe-input", str(still))
    expect(page.locator("#keyframe-list li")).to_have_count(1)
    expect(page.locator("#keyframe-list li")).to_contain_text("0.48 s · graded.png")
    expect(page.locator("#keyframe-track .kf")).to_have_count(1)
    page.uncheck("#op-relight")
    page.check("#op-restyle")
    page.locator("#op-restyle").evaluate("box => box.closest('details').open = true")
    page.select_option("#restyle-look", "")  # restyle by the keyframes
    page.click("#run-transform")
    studio.wait_for_job("#transform-progress-box")
    studio.shot("keyframes", videos="#tab-transform video", at=0.48)

    take_id = page.locator("#download-link").get_attribute("href").split("/")[-2]
    take = studio.api.get(f"/api/takes/{take_id}").json()
    assert [op["op"] for op in take["spec"]["operations"]] == ["restyle"]
    assert take["spec"]["keyframes"][0]["at"]["seconds"] == 0.48
    output = VideoReader(studio.download(take_id)).frame_at(12).astype(np.int16)
    to_edit = np.abs(output - edited).mean()
    to_source = np.abs(output - source_frame.astype(np.int16)).mean()
    assert to_edit < 6 and to_source > 20, (to_edit, to_source)  # the output hits the edited still


def localize_into_two_markets(studio: Studio, folder: Path) -> None:
    from shotcraft.markets import signage_frames

    page = studio.page
    clip = make_clip(
        folder / "signage.mp4", frames=12, width=320, height=180, fps=25, audio_channels=2,
        content=signage_frames("SALE", 12, 320, 180),
    )  # fmt: skip
    studio.upload(clip)
    studio.tab("localize")
    expect(page.locator("#localize-source")).to_have_value(re.compile(r"^asset:"))
    assert page.locator("#localize-source option:checked").inner_text() == "clip signage.mp4"
    page.fill("#localize-markets", "de, fr")
    page.locator("#localize-markets").dispatch_event("change")
    expect(page.locator("#localize-table thead th")).to_have_text(["source text", "de", "fr"])
    row = page.locator("#localize-table tbody tr").first
    row.locator("input[data-col=source]").fill("SALE")
    row.locator("input[data-market=de]").fill("RABATT")
    row.locator("input[data-market=fr]").fill("SOLDES")
    page.click("#localize-add-row")  # an empty second row is allowed and ignored
    expect(page.locator("#localize-table tbody tr")).to_have_count(2)
    page.click("#run-localize")
    studio.wait_for_job("#localize-progress-box")
    cards = page.locator("#localize-takes-grid .card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("localize:de")
    expect(cards.nth(1)).to_contain_text("localize:fr")
    studio.shot("localize", videos="#tab-localize video")

    for card in (cards.nth(0), cards.nth(1)):
        take = studio.api.get(f"/api/takes/{card.get_attribute('data-take')}").json()
        assert take["spec"]["replacements"] == {"SALE": {"de": "RABATT", "fr": "SOLDES"}}
        assert take["frame_count"] == 12 and take["lineage"][0]["name"] == "signage.mp4"


def compare_and_pick(studio: Studio) -> None:
    page = studio.page
    studio.tab("takes")
    grid = page.locator("#takes-grid .card")
    expect(grid).to_have_count(4)  # relit bikes, restyled street, two market versions
    expect(grid.filter(has_text="localize:de").locator(".title")).to_have_text("localize · de")
    # The two market versions in the before/after viewer, wiped across one picture.
    grid.filter(has_text="localize:de").locator("button", has_text="Before / after").click()
    expect(page.locator("#viewer-a option:checked")).to_have_text("clip signage.mp4")
    fr = grid.filter(has_text="localize:fr").get_attribute("data-take")
    page.select_option("#viewer-a", f"take:{fr}")
    page.select_option("#viewer-mode", "wipe")
    wait_in_page(
        page, "() => [...document.querySelectorAll('#viewer-stage video')].every(v => v.readyState >= 2)"
    )
    page.click("#viewer-play")
    wait_in_page(page, "() => [...document.querySelectorAll('#viewer-stage video')].every(v => !v.paused)")
    page.click("#viewer-play")
    grid.filter(has_text="localize:fr").locator("button", has_text="Pick").click()
    expect(page.locator("#takes-grid .card.picked")).to_have_count(2)  # the relit take and the fr version
    studio.shot("compare", videos="#tab-takes video")


def invent_two_takes(studio: Studio) -> None:
    page = studio.page
    studio.tab("invent")
    expect(page.locator("#run-invent")).to_be_enabled()
    page.fill("#invent-prompt", "a red car in the rain")
    page.fill("#invent-takes", "2")
    page.fill("#invent-duration", "0.5")
    page.fill("#invent-width", "32")
    page.fill("#invent-height", "32")
    page.fill("#invent-seed", "21")
    page.select_option("#invent-quality", "final")
    page.click("#run-invent")
    studio.wait_for_job("#invent-progress-box")
    cards = page.locator("#invent-takes-grid .card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("seed 21")
    expect(cards.nth(1)).to_contain_text("seed 22")
    studio.shot("invent", videos="#invent-takes-grid video")
    take = studio.api.get(f"/api/takes/{cards.nth(1).get_attribute('data-take')}").json()
    assert (take["model"], take["frame_count"], take["fps"]) == (INVENT_MODEL, 9, "16")


def the_sequence(studio: Studio) -> None:
    studio.tab("sequence")
    expect(studio.page.locator("#sequence-tree [data-take]")).to_have_count(
        6
    )  # every take, each in its place
    studio.page.locator("#tab-sequence").evaluate("t => t.scrollIntoView({ block: 'start' })")
    studio.shot("sequence")


def switch_projects(studio: Studio) -> None:
    page = studio.page
    first = page.locator("#project-select").input_value()
    page.fill("#new-project-name", "second")
    page.click("#new-project")
    expect(page.locator("#project-select option")).to_have_count(2)
    expect(page.locator("#project-select option:checked")).to_have_text("second")
    studio.tab("takes")
    expect(page.locator("#takes-grid .card")).to_have_count(0)
    studio.tab("clip")
    expect(page.locator("#assets li")).to_have_count(0)
    for player in ("#source-video", "#localize-video"):  # nothing of the first project stays on screen
        assert page.locator(player).get_attribute("src") is None
    page.select_option("#project-select", first)
    expect(page.locator("#assets li")).to_have_count(4)  # bikes, street, the keyframe still, signage
    studio.tab("takes")
    expect(page.locator("#takes-grid .card")).to_have_count(6)
    page.reload()  # the studio opens on the project last chosen
    expect(page.locator("body[data-ready=true] #studio")).to_be_visible(timeout=30_000)
    assert page.locator("#project-select").input_value() == first
