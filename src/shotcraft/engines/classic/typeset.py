"""Text rendering for market versions: fonts that ship in registry packages, script coverage, shaping.

Fonts come from PyPI packages the ``localize`` extra installs (Noto Sans for Latin, Greek and Cyrillic,
Noto Sans Arabic, the Noto Sans CJK collection), plus DejaVu Sans where the system has it (Hebrew and
other gaps). A string is set in the first font whose character map covers every character of it, so
a string no installed font covers fails with :class:`UnsupportedScript` naming the script, instead of
drawing empty boxes. Shaping and bidirectional layout (Arabic joins, right-to-left order) come from
Pillow's libraqm layout engine.

>>> face = pick_face("夏のセール", language="ja")
>>> face.name
'Noto Sans CJK JP'
>>> layer = render_line("Sommer", face, 32, (255, 255, 255))
>>> bool(layer.alpha.shape[0] > 20 and layer.alpha.max() == 1.0)
True
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from shotcraft.engines.base import EngineUnavailable
from shotcraft.spec import SpecError

#: Where Debian's DejaVu fonts live; used only as a last fallback (it covers Hebrew, Armenian, Georgian).
_SYSTEM_FALLBACKS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),)

#: Face index in the Noto Sans CJK collection for each CJK language (the regional glyph variants).
_CJK_FACE = {"ja": 0, "ko": 1, "zh": 2, "zh-hans": 2, "zh-cn": 2, "zh-hant": 3, "zh-tw": 3, "zh-hk": 4}

#: Scripts whose letters change shape with their neighbours or run right to left: they need libraqm.
_COMPLEX_SCRIPTS = ("ARABIC", "HEBREW", "SYRIAC", "THAANA", "NKO", "DEVANAGARI", "BENGALI", "TAMIL", "THAI")


class UnsupportedScript(SpecError):
    """No installed font covers every character of a string."""


@dataclass(frozen=True)
class FontFace:
    """One face of one font file: ``index`` picks the face in a collection (``.ttc``)."""

    name: str
    path: Path
    index: int = 0

    @functools.cached_property
    def codepoints(self) -> frozenset[int]:
        from fontTools.ttLib import TTFont

        with TTFont(str(self.path), fontNumber=self.index, lazy=True) as font:
            return frozenset(font.getBestCmap())

    def covers(self, text: str) -> bool:
        return all(ord(ch) in self.codepoints for ch in text if _needs_glyph(ch))


@dataclass
class TextLayer:
    """A rendered line: ``alpha`` is coverage in [0, 1], ``colour`` the fill; ``ink`` is the inked box
    ``(x0, y0, x1, y1)`` inside the layer."""

    alpha: np.ndarray
    colour: tuple[int, int, int]
    ink: tuple[int, int, int, int]


def _needs_glyph(ch: str) -> bool:
    # Spaces, joiners and direction marks are layout controls, not glyphs a font must draw.
    return not (ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc"))


def script_of(ch: str) -> str:
    """A character's script as Unicode names it (the first word of its name): ``LATIN``, ``ARABIC``, ..."""
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")):
        return name.split()[0]
    return name.split()[0] if name else f"U+{ord(ch):04X}"


@functools.cache
def installed_faces() -> tuple[FontFace, ...]:
    """The faces this install can set text in, in the order they are tried (CJK's JP face stands in
    for the collection; :func:`pick_face` switches regional face by language)."""
    faces: list[FontFace] = []
    try:
        import fontpkg

        for family in ("Noto Sans", "Noto Sans Arabic"):
            try:
                faces.append(FontFace(family, Path(fontpkg.path(family))))
            except fontpkg.FontpkgError:
                continue
    except ImportError:
        pass
    try:
        import noto_cjk_sans_otc

        faces.append(FontFace("Noto Sans CJK JP", Path(str(noto_cjk_sans_otc.FONT_PATH)), 0))
    except ImportError:
        pass
    faces.extend(FontFace(p.stem, p) for p in _SYSTEM_FALLBACKS if p.is_file())
    return tuple(faces)


def pick_face(text: str, language: str | None = None) -> FontFace:
    """The first installed face that covers every character of ``text``; CJK text gets the regional
    face for ``language`` (``ja``, ``ko``, ``zh``, ``zh-TW``, ...).

    Raises :class:`UnsupportedScript` naming the scripts no font covers, and
    :class:`~shotcraft.engines.base.EngineUnavailable` when the text needs complex shaping and Pillow
    was built without libraqm.
    """
    faces = installed_faces()
    if not faces:
        raise EngineUnavailable(
            "no fonts are installed for localization: install shotcraft with the 'localize' extra"
        )
    for face in faces:
        if face.covers(text):
            break
    else:
        missing = sorted(
            {
                script_of(ch)
                for ch in text
                if _needs_glyph(ch) and not any(ord(ch) in f.codepoints for f in faces)
            }
        )
        detail = ", ".join(missing) if missing else "a mix of scripts that no single font holds"
        raise UnsupportedScript(f"no installed font covers {text!r} ({detail})")
    if face.name.startswith("Noto Sans CJK") and language:
        index = _CJK_FACE.get(language.lower(), _CJK_FACE.get(language.lower().split("-")[0], 0))
        regional = ("JP", "KR", "SC", "TC", "HK")[index]
        face = FontFace(f"Noto Sans CJK {regional}", face.path, index)
    if needs_shaping(text) and not features.check("raqm"):
        raise EngineUnavailable(
            f"{text!r} needs complex text shaping, but this Pillow has no libraqm: install a Pillow wheel from PyPI"
        )
    return face


def needs_shaping(text: str) -> bool:
    """Whether ``text`` holds a script that joins letters or runs right to left."""
    return any(script_of(ch) in _COMPLEX_SCRIPTS for ch in text if _needs_glyph(ch))


@functools.lru_cache(maxsize=64)
def load_font(face: FontFace, size: int, weight: int | None = None) -> ImageFont.FreeTypeFont:
    """A Pillow font for ``face`` at ``size`` px; ``weight`` (100-900) sets a variable font's axis."""
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    font = ImageFont.truetype(str(face.path), max(1, size), index=face.index, layout_engine=layout)
    if weight is not None:
        try:
            axes = font.get_variation_axes()
        except OSError:  # a static font: it has the one weight it has
            return font
        values = []
        for axis in axes:
            name = axis["name"]
            name = name.decode() if isinstance(name, bytes) else name
            default = axis.get("default", axis["minimum"])
            values.append(min(max(weight, axis["minimum"]), axis["maximum"]) if name == "Weight" else default)
        font.set_variation_by_axes(values)
    return font


def measure(
    text: str, font: ImageFont.FreeTypeFont, language: str | None = None
) -> tuple[int, int, int, int]:
    """The inked box ``(x0, y0, x1, y1)`` of ``text`` drawn at the origin (left-baseline anchor)."""
    return font.getbbox(text, anchor="ls", language=language)


def fit_size(
    text: str,
    face: FontFace,
    box: tuple[float, float],
    ink_height: float,
    *,
    weight: int | None = None,
    language: str | None = None,
) -> int:
    """The font size whose ink is ``ink_height`` tall (the source text's), shrunk so the line fits
    ``box`` = (width, height)."""
    probe_size = 100
    x0, y0, x1, y1 = measure(text, load_font(face, probe_size, weight), language)
    ink_w, ink_h = max(1, x1 - x0), max(1, y1 - y0)
    scale = min(ink_height / ink_h, box[0] / ink_w, box[1] / ink_h)
    return max(4, int(probe_size * scale))


def render_line(
    text: str,
    face: FontFace,
    size: int,
    colour: tuple[int, int, int],
    *,
    weight: int | None = None,
    language: str | None = None,
    stroke: int = 0,
    canvas: tuple[int, int] | None = None,
) -> TextLayer:
    """Render one shaped line centred on a canvas (by default one that fits the ink plus a margin).

    ``stroke`` > 0 adds an outline of that many pixels to the coverage (for subtitles, drawn under the
    fill by :func:`render_outlined`).
    """
    font = load_font(face, size, weight)
    x0, y0, x1, y1 = font.getbbox(text, anchor="mm", language=language, stroke_width=stroke)
    pad = 2 + stroke
    if canvas is None:
        canvas = (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    w, h = canvas
    # Centre the ink (not the advance box) so scripts with tall or deep glyphs sit in the middle.
    origin = (w / 2 - (x0 + x1) / 2, h / 2 - (y0 + y1) / 2)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).text(
        origin,
        text,
        font=font,
        fill=255,
        anchor="mm",
        language=language,
        stroke_width=stroke,
        stroke_fill=255,
    )
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    ink = (
        round(origin[0] + x0),
        round(origin[1] + y0),
        round(origin[0] + x1),
        round(origin[1] + y1),
    )
    return TextLayer(alpha=alpha, colour=colour, ink=ink)


def composite(image: np.ndarray, layer: TextLayer, at: tuple[int, int]) -> None:
    """Blend ``layer`` onto ``image`` (RGB uint8, modified in place) with its top-left at ``at``."""
    x, y = at
    h, w = layer.alpha.shape
    H, W = image.shape[:2]
    sx0, sy0 = max(0, -x), max(0, -y)
    dx0, dy0 = max(0, x), max(0, y)
    dx1, dy1 = min(W, x + w), min(H, y + h)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    a = layer.alpha[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0, None]
    region = image[dy0:dy1, dx0:dx1].astype(np.float32)
    colour = np.asarray(layer.colour, dtype=np.float32)
    image[dy0:dy1, dx0:dx1] = np.clip(region * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


def render_outlined(
    text: str,
    face: FontFace,
    size: int,
    *,
    fill: tuple[int, int, int] = (255, 255, 255),
    outline: tuple[int, int, int] = (0, 0, 0),
    language: str | None = None,
) -> list[TextLayer]:
    """An outlined line (outline layer first, then the fill) on one shared canvas, for subtitles."""
    stroke = max(1, size // 14)
    under = render_line(text, face, size, outline, language=language, stroke=stroke)
    canvas = under.alpha.shape[1], under.alpha.shape[0]
    over = render_line(text, face, size, fill, language=language, canvas=canvas)
    return [under, over]
