"""One market per script, end to end, each checked against a reference rendering of its string.

OCR here reads only Latin and Chinese/Japanese, so the replaced text is checked by its ink instead: the
sign in each market version is pulled back onto the text's plate and compared with the string drawn
directly by Pillow (libraqm shaping, the script's own font) and with what broken set-up would draw
instead: letters unshaped and left to right (Arabic unjoined, Hebrew reversed, Devanagari without
conjuncts, Thai and Tamil marks unplaced), empty boxes from a font without the script, Latin without its
diacritics.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import cv2
import fontpkg
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from shotcraft.engines.classic import typeset
from shotcraft.engines.classic.localize import text_mask
from shotcraft.markets import localize
from shotcraft.media.read import VideoReader
from shotcraft.signals.text_tracks import find_text_tracks

from .conftest import SOURCE

pytest.importorskip("rapidocr")

#: market: (text, font family, direction)
MARKETS = {
    "fr": ("SOLDES D'ÉTÉ", "Noto Sans", "ltr"),
    "ru": ("РАСПРОДАЖА", "Noto Sans", "ltr"),
    "el": ("ΕΚΠΤΩΣΕΙΣ", "Noto Sans", "ltr"),
    "ar": ("تخفيضات الصيف", "Noto Sans Arabic", "rtl"),
    "he": ("מבצע קיץ", "Heebo", "rtl"),
    "hi": ("गर्मी सेल क्षत्र", "Noto Sans Devanagari", "ltr"),
    "th": ("ลดสูงสุดที่นี่", "Noto Sans Thai", "ltr"),  # stacked marks: tone over vowel
    "zh": ("夏季大促销", "CJK", "ltr"),
    "ko": ("여름 세일", "CJK", "ltr"),
    "ja": ("夏のセール", "CJK", "ltr"),
}
_CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2}


def _font(family: str, market: str, size: int, layout: ImageFont.Layout) -> ImageFont.FreeTypeFont:
    if family == "CJK":
        import noto_cjk_sans_otc

        return ImageFont.truetype(
            str(noto_cjk_sans_otc.FONT_PATH), size, index=_CJK_INDEX[market], layout_engine=layout
        )
    font = ImageFont.truetype(str(fontpkg.path(family)), size, layout_engine=layout)
    font.set_variation_by_axes(
        [700 if a["name"] in ("Weight", b"Weight") else a["default"] for a in font.get_variation_axes()]
    )
    return font


def _draw(text: str, font: ImageFont.FreeTypeFont, direction: str | None) -> np.ndarray:
    """Coverage of ``text`` cropped to its ink."""
    options = {"direction": direction} if direction else {}
    x0, y0, x1, y1 = font.getbbox(text, anchor="ls", **options)
    image = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
    ImageDraw.Draw(image).text((2 - x0, 2 - y0), text, font=font, fill=255, anchor="ls", **options)
    return _crop(np.asarray(image, np.float32) / 255)


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink > 0.3)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _score(seen: np.ndarray, drawn: np.ndarray) -> float:
    """Normalised correlation of two ink images, the drawing scaled to the seen ink's box; a little blur
    forgives stroke weight and sub-pixel placement, not letter shapes or order."""
    drawn = cv2.resize(drawn, seen.shape[::-1], interpolation=cv2.INTER_AREA)
    a, b = (cv2.GaussianBlur(x, (0, 0), 1.2).ravel() for x in (seen, drawn))
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def _wrong_renderings(market: str, text: str, family: str, size: int) -> dict[str, np.ndarray]:
    wrong = {}
    if typeset.needs_shaping(text):
        wrong["unshaped, left to right"] = _draw(
            text, _font(family, market, size, ImageFont.Layout.BASIC), None
        )
    if market == "fr":
        bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")
        wrong["no diacritics"] = _draw(bare, _font(family, market, size, ImageFont.Layout.RAQM), "ltr")
    else:
        # A font without the script draws empty boxes; Heebo has no CJK, Cyrillic, Greek, Thai, ...
        tofu_family = "Noto Sans" if family == "Heebo" else "Heebo"
        wrong["empty boxes"] = _draw(text, _font(tofu_family, market, size, ImageFont.Layout.RAQM), None)
    return wrong


@pytest.fixture(scope="module")
def versions(sign_clip: Path) -> dict[str, Path]:
    table = sign_clip.with_name("scripts.csv")
    table.write_text(
        "source," + ",".join(MARKETS) + f"\n{SOURCE}," + ",".join(t for t, _, _ in MARKETS.values()) + "\n",
        encoding="utf-8",
    )
    results = localize(sign_clip, sign_clip.parent / "scripts", list(MARKETS), table=table)
    assert {r.market: r.problems for r in results} == {m: [] for m in MARKETS}
    return {r.market: r.path for r in results}


@pytest.mark.parametrize("market", list(MARKETS))
def test_each_script_matches_its_reference_rendering(
    sign_clip: Path, versions: dict[str, Path], market: str
) -> None:
    text, family, direction = MARKETS[market]
    track = find_text_tracks(VideoReader(sign_clip), [SOURCE], every=8)[0]
    index = track.reference + 2
    frame = VideoReader(versions[market]).frame_at(index)
    ph, pw = track.plate.shape[:2]
    plate = cv2.warpPerspective(frame, track.plate_to_frame(index), (pw, ph), flags=cv2.WARP_INVERSE_MAP)
    # The new ink is fitted to the old ink's height, marks included, so it lies within the text's box.
    seen = _crop(text_mask(plate, track.box).astype(np.float32) / 255)
    size = 4 * seen.shape[0]  # draw large: the comparison scales the drawing down to the seen ink
    reference = _draw(text, _font(family, market, size, ImageFont.Layout.RAQM), direction)
    good = _score(seen, reference)
    assert good > 0.75, f"{market}: {good:.2f} against the reference"
    for what, drawing in _wrong_renderings(market, text, family, size).items():
        bad = _score(seen, drawing)
        assert good > bad + 0.1, f"{market}: {good:.2f} reference, {bad:.2f} {what}"


def test_mixed_scripts_get_a_font_per_run_in_reading_order() -> None:
    # A trilingual Israeli sign: Hebrew, then Arabic, then English, in one right-to-left line.
    text = "שלום سلام Hello"
    line = typeset.choose_fonts(text, "he")
    assert [(r.text, r.face.name) for r in line.visual_runs] == [
        ("Hello", "Noto Sans"), ("سلام ", "Noto Sans Arabic"), ("שלום ", "Heebo"),
    ]  # fmt: skip
    rendered = typeset.render_line(line, 120, (0, 0, 0), weight=700).alpha
    found = []
    for part, family, direction in [
        ("Hello", "Noto Sans", "ltr"),
        ("سلام", "Noto Sans Arabic", "rtl"),
        ("שלום", "Heebo", "rtl"),
    ]:
        drawn = _draw(part, _font(family, "he", 120, ImageFont.Layout.RAQM), direction)
        match = cv2.matchTemplate(rendered, drawn, cv2.TM_CCOEFF_NORMED)
        found.append((float(match.max()), int(np.unravel_index(match.argmax(), match.shape)[1])))
    assert all(score > 0.9 for score, _ in found), found
    # Left to right on the line: the English, the Arabic, then the Hebrew (which is read first).
    assert found[0][1] < found[1][1] < found[2][1], found
