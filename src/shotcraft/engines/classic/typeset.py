"""Text rendering for market versions: fonts that ship in registry packages, script coverage, shaping.

Fonts come from PyPI packages the ``localize`` extra installs: Noto Sans (Latin, Greek, Cyrillic), Noto
Sans Arabic, Heebo (Hebrew), Noto Sans Devanagari, Thai and Tamil, and the Noto Sans CJK collection;
DejaVu Sans is a last fallback where the system has it (Armenian, Georgian). :func:`choose_fonts` splits
a line into *runs*: one face for the whole line where the face made for its script covers every
character (so a brand name inside Arabic text keeps the Arabic face's Latin), else one face per script.
A character no installed font covers fails with :class:`UnsupportedScript` naming its script, instead
of drawing empty boxes. Shaping within a run (Arabic joins, Devanagari conjuncts, Thai marks) comes from
Pillow's libraqm layout engine; the order of runs follows the Unicode bidirectional algorithm's
levels (digits and Latin inside right-to-left text read left to right).

>>> line = choose_fonts("夏のセール", "ja")
>>> [run.face.name for run in line.runs]
['Noto Sans CJK JP']
>>> [(run.text, run.face.name) for run in choose_fonts("שלום سلام", "he").visual_runs]
[('سلام', 'Noto Sans Arabic'), ('שלום ', 'Heebo')]
>>> layer = render_line(choose_fonts("Sommer"), 32, (255, 255, 255))
>>> bool(layer.alpha.shape[0] > 20 and layer.alpha.max() == 1.0)
True
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from shotcraft.errors import EngineUnavailable
from shotcraft.spec import SpecError

#: Font packages (fontpkg family name) and the scripts each is the first choice for.
_REGISTRY_FAMILIES = (
    ("Noto Sans", ("LATIN", "GREEK", "CYRILLIC")),
    ("Noto Sans Arabic", ("ARABIC",)),
    ("Heebo", ("HEBREW",)),
    ("Noto Sans Devanagari", ("DEVANAGARI",)),
    ("Noto Sans Thai", ("THAI",)),
    ("Noto Sans Tamil", ("TAMIL",)),
)
_CJK_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO")

#: Where Debian's DejaVu fonts live; used only as a last fallback (it covers Armenian, Georgian, ...).
_SYSTEM_FALLBACKS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),)

#: Face index in the Noto Sans CJK collection for each CJK language (the regional glyph variants).
_CJK_FACE = {"ja": 0, "ko": 1, "zh": 2, "zh-hans": 2, "zh-cn": 2, "zh-hant": 3, "zh-tw": 3, "zh-hk": 4}

#: Scripts whose letters change shape with their neighbours or run right to left: they need libraqm.
_COMPLEX_SCRIPTS = ("ARABIC", "HEBREW", "SYRIAC", "THAANA", "NKO", "DEVANAGARI", "BENGALI", "TAMIL", "THAI")

#: Scripts a font is chosen for; other characters (digits, punctuation, marks) go with their neighbours.
_SCRIPTS = frozenset(s for _, scripts in _REGISTRY_FAMILIES for s in scripts) | set(_CJK_SCRIPTS)


class UnsupportedScript(SpecError):
    """No installed font covers a character of a string."""


@dataclass(frozen=True)
class FontFace:
    """One face of one font file: ``index`` picks the face in a collection (``.ttc``); ``scripts`` are
    the scripts it is the first choice for."""

    name: str
    path: Path
    index: int = 0
    scripts: tuple[str, ...] = field(default=(), compare=False)

    @functools.cached_property
    def codepoints(self) -> frozenset[int]:
        return _codepoints(self.path, self.index)

    def covers(self, text: str) -> bool:
        return all(ord(ch) in self.codepoints for ch in text if _needs_glyph(ch))


@functools.cache
def _codepoints(path: Path, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


@dataclass(frozen=True)
class Run:
    """Part of a line set in one face at one bidirectional level (odd: right to left)."""

    text: str
    face: FontFace
    level: int

    @property
    def direction(self) -> str:
        return "rtl" if self.level % 2 else "ltr"


@dataclass(frozen=True)
class Line:
    """One line of text with its fonts chosen: ``runs`` in logical (typed) order."""

    text: str
    runs: tuple[Run, ...]
    language: str | None = None

    @property
    def visual_runs(self) -> tuple[Run, ...]:
        """The runs left to right as drawn (Unicode bidirectional rule L2 over run levels)."""
        runs = list(self.runs)
        levels = [r.level for r in runs]
        odd = [lv for lv in levels if lv % 2]
        for level in range(max(levels, default=0), (min(odd) if odd else max(levels, default=0) + 1) - 1, -1):
            i = 0
            while i < len(runs):
                if levels[i] < level:
                    i += 1
                    continue
                j = i
                while j < len(runs) and levels[j] >= level:
                    j += 1
                runs[i:j], levels[i:j] = runs[i:j][::-1], levels[i:j][::-1]
                i = j
        return tuple(runs)


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
    for the collection; :func:`choose_fonts` switches regional face by language)."""
    faces: list[FontFace] = []
    try:
        import fontpkg

        for family, scripts in _REGISTRY_FAMILIES:
            try:
                faces.append(FontFace(family, Path(fontpkg.path(family)), 0, scripts))
            except fontpkg.FontpkgError:
                continue
    except ImportError:
        pass
    try:
        import noto_cjk_sans_otc

        faces.append(FontFace("Noto Sans CJK JP", Path(str(noto_cjk_sans_otc.FONT_PATH)), 0, _CJK_SCRIPTS))
    except ImportError:
        pass
    faces.extend(FontFace(p.stem, p) for p in _SYSTEM_FALLBACKS if p.is_file())
    return tuple(faces)


def choose_fonts(text: str, language: str | None = None) -> Line:
    """Split ``text`` into runs, each with a face that covers it; CJK runs get the regional face for
    ``language`` (``ja``, ``ko``, ``zh``, ``zh-TW``, ...).

    Raises :class:`UnsupportedScript` naming the scripts no font covers, and
    :class:`~shotcraft.errors.EngineUnavailable` when the text needs complex shaping and Pillow
    was built without libraqm.
    """
    faces = installed_faces()
    if not faces:
        raise EngineUnavailable(
            "no fonts are installed for localization: install shotcraft with the 'localize' extra"
        )
    glyphs = [ch for ch in text if _needs_glyph(ch)]
    missing = sorted({script_of(ch) for ch in glyphs if not any(ord(ch) in f.codepoints for f in faces)})
    if missing:
        raise UnsupportedScript(f"no installed font covers {text!r} ({', '.join(missing)})")
    if needs_shaping(text) and not features.check("raqm"):
        raise EngineUnavailable(
            f"{text!r} needs complex text shaping, but this Pillow has no libraqm: install a Pillow wheel from PyPI"
        )
    chosen = _faces_per_character(text, faces)
    levels = bidi_levels(text)
    runs: list[Run] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or (chosen[i], levels[i]) != (chosen[start], levels[start]):
            runs.append(Run(text[start:i], _regional(chosen[start], language), levels[start]))
            start = i
    return Line(text, tuple(runs), language)


def _regional(face: FontFace, language: str | None) -> FontFace:
    if not face.name.startswith("Noto Sans CJK") or not language:
        return face
    index = _CJK_FACE.get(language.lower(), _CJK_FACE.get(language.lower().split("-")[0], 0))
    regional = ("JP", "KR", "SC", "TC", "HK")[index]
    return FontFace(f"Noto Sans CJK {regional}", face.path, index, face.scripts)


def _faces_per_character(text: str, faces: tuple[FontFace, ...]) -> list[FontFace]:
    """The face for each character of ``text`` (all covered by some face).

    The face made for the line's main script sets the whole line where it covers it; otherwise each
    script's letters get their own face, and digits, punctuation, marks and spaces go with the letters
    before them (or after, at the start), so a combining mark never leaves its base letter.
    """
    scripts = Counter(script_of(ch) for ch in text if script_of(ch) in _SCRIPTS)
    own = {s: f for f in reversed(faces) for s in f.scripts}
    # Latin, Greek and Cyrillic letters are common inside other scripts' text (brands, units), so any
    # other script present is the main one.
    native = [s for s, _ in scripts.most_common() if s not in ("LATIN", "GREEK", "CYRILLIC")]
    main = native[0] if native else (scripts.most_common(1)[0][0] if scripts else None)
    if main in own and own[main].covers(text):
        return [own[main]] * len(text)
    chosen: list[FontFace | None] = []
    for ch in text:
        script = script_of(ch)
        if script in own and ord(ch) in own[script].codepoints:
            chosen.append(own[script])
        elif chosen and chosen[-1] is not None and (not _needs_glyph(ch) or ord(ch) in chosen[-1].codepoints):
            chosen.append(chosen[-1])
        else:
            chosen.append(None)
    # Leading neutrals take the face after them; those no neighbour covers take the first face that does.
    following: FontFace | None = None
    for i in range(len(text) - 1, -1, -1):
        if (
            chosen[i] is None
            and following is not None
            and (not _needs_glyph(text[i]) or ord(text[i]) in following.codepoints)
        ):
            chosen[i] = following
        if chosen[i] is None:
            chosen[i] = next((f for f in faces if ord(text[i]) in f.codepoints), faces[0])
        following = chosen[i]
    return chosen  # type: ignore[return-value]


def bidi_levels(text: str) -> list[int]:
    """Each character's embedding level by the Unicode bidirectional algorithm (without explicit
    embeddings or isolates, which typed sign text does not use): even reads left to right.

    The paragraph direction is the first strong letter's. European digits after right-to-left text and
    any digits in a right-to-left paragraph read left to right inside it.

    >>> bidi_levels("abc")
    [0, 0, 0]
    >>> bidi_levels("שלום 25")
    [1, 1, 1, 1, 1, 2, 2]
    """
    kinds = [unicodedata.bidirectional(ch) for ch in text]
    base = next((1 if k in ("R", "AL") else 0 for k in kinds if k in ("L", "R", "AL")), 0)
    # W1: marks take their base's type; W3: Arabic letters are right to left.
    resolved: list[str] = []
    for k in kinds:
        k = (resolved[-1] if resolved else ("R" if base else "L")) if k == "NSM" else k
        resolved.append("R" if k == "AL" else k)
    # W2/W7: European digits after Arabic letters are Arabic numbers, after left-to-right letters (or at
    # the start of a left-to-right paragraph) they are L.
    last_strong = "AL" if base else "L"
    for i, k in enumerate(resolved):
        if kinds[i] in ("L", "R", "AL"):
            last_strong = kinds[i]
        elif k == "EN" and last_strong != "R":
            resolved[i] = "L" if last_strong == "L" else "AN"
    # W4/W5: separators between digits and currency/percent signs next to them join the number.
    for i, k in enumerate(resolved):
        if k in ("ES", "CS") and 0 < i < len(text) - 1 and resolved[i - 1] == resolved[i + 1] in ("EN", "AN"):
            resolved[i] = resolved[i - 1]
    for i, k in enumerate(resolved):
        if k == "ET" and ("EN" in resolved[max(0, i - 1) : i] or "EN" in resolved[i + 1 : i + 2]):
            resolved[i] = "EN"
    # N1/N2: neutrals between two runs of one direction take it (digits count as R), else the paragraph's.
    strong = ["L" if k == "L" else "R" if k in ("R", "EN", "AN") else None for k in resolved]
    for i, s in enumerate(strong):
        if s is not None:
            continue
        before = next((strong[j] for j in range(i - 1, -1, -1) if strong[j]), "R" if base else "L")
        after = next((strong[j] for j in range(i + 1, len(text)) if strong[j]), "R" if base else "L")
        resolved[i] = before if before == after else ("R" if base else "L")
    # I1/I2: levels from the resolved types.
    levels = []
    for k in resolved:
        if base == 0:
            levels.append(1 if k == "R" else 2 if k in ("EN", "AN") else 0)
        else:
            levels.append(2 if k in ("L", "EN", "AN") else 1)
    return levels


def needs_shaping(text: str) -> bool:
    """Whether ``text`` holds a script that joins letters or runs right to left."""
    return any(script_of(ch) in _COMPLEX_SCRIPTS for ch in text if _needs_glyph(ch))


@functools.lru_cache(maxsize=64)
def load_font(face: FontFace, size: int, weight: int | None = None) -> ImageFont.FreeTypeFont:
    """A Pillow font for ``face`` at ``size`` px; ``weight`` (100-900) sets a variable font's axis."""
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    font = ImageFont.truetype(str(face.path), max(1, size), index=face.index, layout_engine=layout)
    if weight is not None and has_weight_axis(face):
        values = []
        for axis in font.get_variation_axes():
            name = axis["name"]
            name = name.decode() if isinstance(name, bytes) else name
            default = axis.get("default", axis["minimum"])
            values.append(min(max(weight, axis["minimum"]), axis["maximum"]) if name == "Weight" else default)
        font.set_variation_by_axes(values)
    return font


@functools.cache
def has_weight_axis(face: FontFace) -> bool:
    """Whether ``face`` is a variable font with a weight axis (else it has the one weight it has)."""
    font = ImageFont.truetype(str(face.path), 10, index=face.index)
    try:
        axes = font.get_variation_axes()
    except OSError:  # a static font
        return False
    return any(a["name"] in ("Weight", b"Weight") for a in axes)


def measure(
    line: Line, size: int, weight: int | None = None, embolden: float = 0.0
) -> tuple[int, int, int, int]:
    """The inked box ``(x0, y0, x1, y1)`` of ``line`` drawn with its pen at the origin on the baseline."""
    x0, y0, x1, y1 = _layout(line, size, weight, 0, embolden)[1]
    return round(x0), round(y0), round(x1), round(y1)


def _layout(
    line: Line, size: int, weight: int | None, stroke: float, embolden: float = 0.0
) -> tuple[list[tuple[float, Run, ImageFont.FreeTypeFont, dict, float]], tuple[float, float, float, float]]:
    """Each run's pen position on a shared baseline (left to right), its outline width, and the union
    of their ink. ``embolden`` (a fraction of ``size``) thickens every stroke by that much: drawn as an
    outline of half that width in the glyphs' own colour round each glyph."""
    raqm = features.check("raqm")
    placed = []
    pen = 0.0
    box = [np.inf, np.inf, -np.inf, -np.inf]
    outline = stroke + embolden * size / 2
    for run in line.visual_runs:
        font = load_font(run.face, size, weight)
        options = {"direction": run.direction, "language": line.language} if raqm else {}
        x0, y0, x1, y1 = font.getbbox(run.text, anchor="ls", stroke_width=outline, **options)
        if x1 > x0 and y1 > y0:
            box = [min(box[0], pen + x0), min(box[1], y0), max(box[2], pen + x1), max(box[3], y1)]
        placed.append((pen, run, font, options, outline))
        pen += font.getlength(run.text, **options)
    if not np.isfinite(box[0]):
        box = [0.0, 0.0, 0.0, 0.0]
    return placed, (box[0], box[1], box[2], box[3])


def fit_size(
    line: Line,
    box: tuple[float, float],
    ink_height: float,
    *,
    weight: int | None = None,
    embolden: float = 0.0,
) -> int:
    """The font size whose ink is ``ink_height`` tall (the source text's), shrunk so the line fits
    ``box`` = (width, height)."""
    probe_size = 100
    x0, y0, x1, y1 = measure(line, probe_size, weight, embolden)
    ink_w, ink_h = max(1, x1 - x0), max(1, y1 - y0)
    scale = min(ink_height / ink_h, box[0] / ink_w, box[1] / ink_h)
    return max(4, int(probe_size * scale))


def render_line(
    line: Line,
    size: int,
    colour: tuple[int, int, int],
    *,
    weight: int | None = None,
    embolden: float = 0.0,
    stroke: int = 0,
    canvas: tuple[int, int] | None = None,
) -> TextLayer:
    """Render one shaped line centred on a canvas (by default one that fits the ink plus a margin).

    ``weight`` sets variable fonts' weight axis; ``embolden`` thickens every stroke by that fraction of
    ``size`` (how a face with one weight is set bolder). ``stroke`` > 0 adds an outline of that many
    pixels to the coverage (for subtitles, drawn under the fill by :func:`render_outlined`).
    """
    placed, (x0, y0, x1, y1) = _layout(line, size, weight, stroke, embolden)
    pad = 2 + int(np.ceil(stroke + embolden * size / 2))
    if canvas is None:
        canvas = (int(np.ceil(x1 - x0)) + 2 * pad, int(np.ceil(y1 - y0)) + 2 * pad)
    w, h = canvas
    # Centre the ink (not the advance box) so scripts with tall or deep glyphs sit in the middle.
    origin = (round(w / 2 - (x0 + x1) / 2), round(h / 2 - (y0 + y1) / 2))
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for pen, run, font, options, outline in placed:
        draw.text(
            (origin[0] + pen, origin[1]), run.text, font=font, fill=255, anchor="ls",
            stroke_width=outline, stroke_fill=255, **options,
        )  # fmt: skip
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    ink = (
        int(np.floor(origin[0] + x0)),
        int(np.floor(origin[1] + y0)),
        int(np.ceil(origin[0] + x1)),
        int(np.ceil(origin[1] + y1)),
    )
    return TextLayer(alpha=alpha, colour=colour, ink=ink)


def stroke_width(coverage: np.ndarray, upscale: int = 1) -> float:
    """The typical stroke width of the letters in ``coverage`` (ink in [0, 1], or a 0/255 mask), in
    pixels of the image as given: twice the median distance to the letters' edge along their centre
    lines (the middle half of them, averaged: distances on a pixel grid come in steps), counted at
    ``upscale`` times the resolution."""
    ink = coverage.astype(np.float32) / (255.0 if coverage.dtype == np.uint8 else 1.0)
    if upscale > 1:
        ink = cv2.resize(ink, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    mask = (ink > 0.5).astype(np.uint8)
    if not mask.any():
        return 0.0
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    ridge = (distance > 0) & (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)))
    on_ridge = distance[ridge]
    low, high = np.percentile(on_ridge, (25, 75))
    middle = on_ridge[(on_ridge >= low) & (on_ridge <= high)]
    # A run of n set pixels has its centre n/2 + 1/2 from the first unset one.
    return max(0.0, 2 * float(middle.mean()) - 1) / upscale


def match_stroke(line: Line, size: int, target: float) -> tuple[int | None, float]:
    """The ``(weight, embolden)`` that set ``line`` at ``size`` px with strokes ``target`` px wide.

    Variable faces move along their weight axis (100-900); where that is not enough, or the line's
    faces have one weight (Noto Sans CJK ships Regular only), strokes are thickened (``embolden``, see
    :func:`render_line`). A line mixing faces is matched as a whole.
    """
    # Measured at 96 px or more: a whole-pixel distance grid on small glyphs is too coarse to steer by.
    scale = max(1.0, 96 / max(size, 1))
    big = round(size * scale)

    def stroke(weight: int | None, embolden: float) -> float:
        return stroke_width(render_line(line, big, (0, 0, 0), weight=weight, embolden=embolden).alpha) / scale

    weight: int | None = None
    if any(has_weight_axis(run.face) for run in line.runs):
        low, high = 100, 900
        for _ in range(7):
            middle = (low + high) // 2
            low, high = (middle, high) if stroke(middle, 0.0) < target else (low, middle)
        weight = low if abs(stroke(low, 0.0) - target) <= abs(stroke(high, 0.0) - target) else high
    embolden = 0.0
    if stroke(weight, 0.0) < target - 0.25:
        low_e, high_e = 0.0, 0.25
        for _ in range(8):
            middle_e = (low_e + high_e) / 2
            low_e, high_e = (middle_e, high_e) if stroke(weight, middle_e) < target else (low_e, middle_e)
        embolden = (low_e + high_e) / 2
    return weight, embolden


def draw_layer(image: np.ndarray, layer: TextLayer, at: tuple[int, int]) -> None:
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
    line: Line,
    size: int,
    *,
    fill: tuple[int, int, int] = (255, 255, 255),
    outline: tuple[int, int, int] = (0, 0, 0),
) -> list[TextLayer]:
    """An outlined line (outline layer first, then the fill) on one shared canvas, for subtitles."""
    stroke = max(1, size // 14)
    under = render_line(line, size, outline, stroke=stroke)
    canvas = under.alpha.shape[1], under.alpha.shape[0]
    over = render_line(line, size, fill, canvas=canvas)
    return [under, over]
