"""Localize one market version: replace tracked on-screen text with its translation, burn subtitles.

For each tracked string (:mod:`shotcraft.signals.text_tracks`) one *replacement patch* is built on the
track's rectified plate (:func:`build_replacement`): the old text's matte is read off the plate
(:mod:`.text_matte`: letters with their coverage and marks, the sign's surface round them, the ink's
colour in the strokes' cores, the strokes' width); the letters are taken off by refilling them from the
surface (its shading carried in, its own grain copied in blocks); and the translation is set on the
clean plate in that ink colour, at the old ink's height, with the old stroke width (a variable face's
weight axis, else synthetic bolding), only on the sign's surface. One patch per track, moved with the
sign, is what keeps the removal temporally stable: nothing is filled per frame, so nothing flickers.

Each frame the old text is found again before anything is drawn (:func:`_place`): looked for round
where it was found on the frames before (or where the track puts it), aligned by ECC on the sign's
surface, and refused where it is not seen or jumps more than a text height; then nothing is drawn on
that frame. The patch is warped there with its brightness matched to the sign itself (the fill's grain
moved, not resampled, so it stays as strong as the board's). Where something passes in front of the
sign, the frame no longer looks like the sign's reference plate there (:func:`visible_mask`): the patch
goes under it, so the occluder stays in front. Text read only while it ran past the frame's edge is
left as it is, with a notice. All of this happens on the frame as displayed (a clip's rotation tag
applied, so text is read and set upright), and each finished frame is turned back to storage
orientation.

Translations come from a table (CSV or JSON, see :func:`load_table`) and/or the operation's explicit
``replacements``; the latter win.

>>> op = LocalizeOp(markets=["de"], replacements={"SALE": {"de": "RABATT"}}, market="de")
>>> market_strings(op, "de")
{'SALE': 'RABATT'}
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.engines.classic import text_matte, typeset
from shotcraft.errors import read_user_text
from shotcraft.media.subtitles import Cue, cue_at, read_subtitles
from shotcraft.progress import Progress, no_progress
from shotcraft.signals.text_tracks import APPEARANCE_MATCH, TextTrack, appearance, find_text_tracks
from shotcraft.spec import LocalizeOp, SpecError

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

#: Frames between OCR samples, per second of video (more often on faster footage).
OCR_PER_SECOND = 3
#: Grey levels (0-255, after brightness matching) by which the frame must differ from the sign's
#: reference plate for a pixel to count as covered by something in front of the sign.
OCCLUSION_DIFFERENCE = 40
#: Normalised correlation at which the reference plate's text box is taken to be found in a frame.
FOUND_TEXT = 0.75
#: ECC correlation above which the fine alignment of the sign is trusted over the coarse one.
LOCK_ON = 0.8
_SOURCE_COLUMNS = ("source", "text", "original", "src")


@dataclass(frozen=True)
class TranslationTable:
    """``entries[source][market]`` = text; ``rows[source]`` is where it was written (for messages);
    ``broken`` describes rows that could not be read and were skipped (every market notes them)."""

    markets: tuple[str, ...]
    entries: dict[str, dict[str, str]]
    rows: dict[str, str]
    broken: tuple[str, ...] = ()


def load_table(path: str | Path) -> TranslationTable:
    """Read a translation table.

    CSV: a header row naming a source column (``source``, or else the first column) and one column per
    market; then one row per string. JSON: ``{"source text": {"de": "...", "ja": "..."}}`` or a list of
    ``{"source": "...", "de": "...", ...}`` rows. Rows that cannot be read are skipped and described in
    ``broken``; an empty cell is a missing translation for that market only.
    """
    path = Path(path)
    text = read_user_text(path, "translation table")
    if path.suffix.lower() == ".json":
        return _json_table(path.name, text)
    return _csv_table(path.name, text)


def _csv_table(name: str, text: str) -> TranslationTable:
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise SpecError(f"translation table {name} is empty")
    header = [cell.strip() for cell in rows[0]]
    lowered = [h.lower() for h in header]
    source_col = next((lowered.index(c) for c in _SOURCE_COLUMNS if c in lowered), 0)
    markets = tuple(h for i, h in enumerate(header) if i != source_col and h)
    if not markets:
        raise SpecError(f"translation table {name}: the header {header} names no market columns")
    entries: dict[str, dict[str, str]] = {}
    where: dict[str, str] = {}
    broken: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            broken.append(f"row {number} of {name} has {len(row)} fields but the header has {len(header)}")
            continue
        source = row[source_col].strip() if source_col < len(row) else ""
        if not source:
            broken.append(f"row {number} of {name} has no source text")
            continue
        cells = {h: row[i].strip() for i, h in enumerate(header) if i != source_col and i < len(row)}
        _add(entries, where, broken, source, {m: t for m, t in cells.items() if t}, f"row {number} of {name}")
    return TranslationTable(markets, entries, where, tuple(broken))


def _json_table(name: str, text: str) -> TranslationTable:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"translation table {name} is not valid JSON: {exc}") from None
    items: list[tuple[str, object]]
    if isinstance(data, dict):
        items = [
            (f"entry {key!r}", {"source": key, **v} if isinstance(v, dict) else v) for key, v in data.items()
        ]
    elif isinstance(data, list):
        items = [(f"item {i + 1}", v) for i, v in enumerate(data)]
    else:
        raise SpecError(f"translation table {name} should hold a mapping or a list of rows")
    entries: dict[str, dict[str, str]] = {}
    where: dict[str, str] = {}
    broken: list[str] = []
    markets: list[str] = []
    for label, item in items:
        if not isinstance(item, dict) or not all(isinstance(v, str) for v in item.values()):
            broken.append(f"{label} of {name} is not a mapping of market to text")
            continue
        source = str(item.get("source", "")).strip()
        if not source:
            broken.append(f"{label} of {name} has no source text")
            continue
        cells = {m.strip(): t.strip() for m, t in item.items() if m != "source"}
        markets.extend(m for m in cells if m not in markets)
        _add(entries, where, broken, source, {m: t for m, t in cells.items() if t}, f"{label} of {name}")
    return TranslationTable(tuple(markets), entries, where, tuple(broken))


def _add(
    entries: dict[str, dict[str, str]],
    where: dict[str, str],
    broken: list[str],
    source: str,
    texts: dict[str, str],
    label: str,
) -> None:
    if source in entries:
        broken.append(f"{label} repeats the source text {source!r} of {where[source]}")
        return
    entries[source], where[source] = texts, label


@functools.lru_cache(maxsize=8)
def _cached_table(path: Path, mtime_ns: int) -> TranslationTable:
    return load_table(path)


def market_strings(op: LocalizeOp, market: str, notices: list[str] | None = None) -> dict[str, str]:
    """Source text → this market's text, from the table and the explicit replacements.

    Raises one :class:`~shotcraft.spec.SpecError` listing every problem for this market: a market the
    table does not have, strings without a translation for it, and translations that no installed font
    can set (:class:`~shotcraft.engines.classic.typeset.UnsupportedScript`). Table rows that cannot be
    read concern no market in particular: they are skipped and described in ``notices``.
    """
    problems: list[str] = []
    strings: dict[str, str] = {}
    if op.table is not None:
        table = _cached_table(Path(op.table), Path(op.table).stat().st_mtime_ns)
        if notices is not None:
            notices.extend(f"skipped: {row}" for row in table.broken)
        if market not in table.markets:
            problems.append(
                f"market {market!r} is not in translation table {Path(op.table).name} "
                f"(it has {', '.join(table.markets)})"
            )
        else:
            for source, texts in table.entries.items():
                if market in texts:
                    strings[source] = texts[market]
                elif source not in op.replacements or market not in op.replacements[source]:
                    problems.append(f"{table.rows[source]} has no {market!r} text for {source!r}")
    for source, texts in op.replacements.items():
        if market in texts:
            strings[source] = texts[market]
        elif op.table is None:
            problems.append(f"replacement for {source!r} has no {market!r} text")
    if not strings and not problems and market not in op.subtitles:
        problems.append(f"market {market!r} has no text to replace and no subtitles")
    for target in dict.fromkeys(strings.values()):
        try:
            typeset.choose_fonts(target, market)
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return strings


@dataclass
class _Replacement:
    """A track's finished patch on its plate, and the plate's surround brightness to match against."""

    track: TextTrack
    patch: np.ndarray  # float32 RGB, plate-sized, without the fill's grain
    grain: np.ndarray  # float32 RGB, plate-sized: the fill's grain (0 elsewhere), added after warping
    alpha: np.ndarray  # float32 [0, 1], plate-sized
    ring: np.ndarray  # bool, plate pixels used for brightness matching: the sign, clear of its rim
    smooth: np.ndarray  # float32 blurred RGB plate, for telling where something covers the sign
    surface: np.ndarray  # bool, the sign's surface round the text: only it is compared and drawn on
    #: (frame index, plate-to-frame homography) of the last frames the old text was found on, newest last.
    found: list[tuple[int, np.ndarray]] = field(default_factory=list)


def text_mask(plate: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The letters of the text in ``box`` on a plate, as a 0/255 mask (see :mod:`.text_matte`)."""
    return text_matte.analyse(plate, box).letters


def build_replacement(track: TextTrack, target: str, market: str) -> _Replacement:
    """Take the source text off the track's plate and set ``target`` in its place, in the source's ink
    colour, ink height and stroke width, on the sign's own surface only."""
    plate = track.plate
    h = track.box[3]
    source = text_matte.analyse(plate, track.box)
    ink = source.ink_box
    ink_height = float(ink[3] - ink[1])
    grow = max(2, round(h / 10))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    covered = cv2.dilate((source.coverage > 0.05).astype(np.uint8) * 255, kernel)
    covered[~source.surface] = 0
    clean, grain = text_matte.clean_plate(plate, source, covered)

    line = typeset.choose_fonts(target, market)
    room = _room(source.surface, ink)
    size = typeset.fit_size(line, room, ink_height, weight=400)
    weight, embolden = typeset.match_stroke(line, size, source.stroke)
    size = typeset.fit_size(line, room, ink_height, weight=weight, embolden=embolden)
    layer = typeset.render_line(line, size, source.ink, weight=weight, embolden=embolden)
    # Centre the new ink where the old ink was centred.
    lx0, ly0, lx1, ly1 = layer.ink
    cx, cy = (ink[0] + ink[2]) / 2, (ink[1] + ink[3]) / 2
    at = (round(cx - (lx0 + lx1) / 2), round(cy - (ly0 + ly1) / 2))
    written = np.zeros(covered.shape, np.float32)
    lh, lw = layer.alpha.shape
    written_view = written[max(0, at[1]) : at[1] + lh, max(0, at[0]) : at[0] + lw]
    written_view[...] = layer.alpha[
        max(0, -at[1]) : max(0, -at[1]) + written_view.shape[0],
        max(0, -at[0]) : max(0, -at[0]) + written_view.shape[1],
    ]
    # Nothing is drawn off the sign's surface: a board edge close to the letters stays the board's.
    written *= source.surface
    ink_colour = np.asarray(source.ink, np.float32)
    patch = (clean * (1 - written[..., None]) + ink_colour * written[..., None]).astype(np.float32)
    grain *= 1 - written[..., None]
    edited = np.maximum(covered.astype(np.float32) / 255, cv2.dilate(written, kernel))
    alpha = np.maximum(edited, cv2.GaussianBlur(edited, (0, 0), max(1.0, grow / 2))) * source.surface
    smooth = cv2.GaussianBlur(plate.astype(np.float32), (0, 0), _blur_sigma(h))
    ring = _sign_pixels(source.surface, h)
    return _Replacement(track, patch, grain, alpha.astype(np.float32), ring, smooth, source.surface)


def _room(surface: np.ndarray, ink: tuple[int, int, int, int]) -> tuple[float, float]:
    """The width and height the new line may take: the run of the sign's surface across the old ink's
    middle row and down its middle column, less a margin of a tenth of the ink's height each side."""
    x0, y0, x1, y1 = ink
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    margin = 0.1 * (y1 - y0)

    def run(values: np.ndarray, at: int, lo: int, hi: int) -> float:
        # The stretch of surface through ``at``, at least the old ink's own extent.
        left = at
        while left > 0 and values[left - 1]:
            left -= 1
        right = at
        while right < len(values) - 1 and values[right + 1]:
            right += 1
        return max(hi - lo, right + 1 - left - 2 * margin)

    return run(surface[cy], cx, x0, x1), run(surface[:, cx], cy, y0, y1)


def _sign_pixels(surface: np.ndarray, text_height: int) -> np.ndarray:
    """The plate pixels that set the patch's brightness in each frame: the sign's surface, its letters
    included (the frame shows the same sign there, so pixel by pixel the ratio is the sign's change of
    light), kept clear of its rim by the reach of the blur they are compared through.

    The scene round the sign must stay out: it does not dim or brighten with the sign, and a patch
    matched to it lands brighter or darker than the sign round it, so the filled-in old letters show as
    a ghost of their own shape (and where the sign's own margin is thin, a band just outside the edit
    is mostly that scene).
    """
    reach = int(np.ceil(2 * _blur_sigma(text_height)))
    inner = cv2.erode(
        surface.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    )
    if inner.any():
        return inner > 0
    return surface if surface.any() else np.ones_like(surface)


def _blur_sigma(text_height: int) -> float:
    return max(1.0, text_height / 16)


def visible_mask(rep: _Replacement, seen: np.ndarray) -> np.ndarray:
    """Where on the plate the sign is visible in this frame (1) rather than covered by something in
    front of it (0), from ``seen``, the frame's pixels pulled back onto the plate.

    The frame and the reference plate are compared in colour (dark text and a dark occluder differ in
    hue) after matching each channel's overall level; differences thinner than a fifth of the text height
    are taken for edge misregistration, not an occluder.
    """
    h = rep.track.box[3]
    cur = cv2.GaussianBlur(seen.astype(np.float32), (0, 0), _blur_sigma(h))
    ref = rep.smooth
    ring = rep.ring & (ref.min(axis=2) > 16)
    gain = np.median(cur[ring] / ref[ring], axis=0) if ring.any() else np.ones(3, np.float32)
    # Off the sign's surface the scene behind the sign moves on its own: no evidence of an occluder.
    covered = ((np.abs(cur - gain * ref).max(axis=2) > OCCLUSION_DIFFERENCE) & rep.surface).astype(np.uint8)
    size = max(3, h // 5) | 1
    covered = cv2.morphologyEx(
        covered, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    )
    if not covered.any():
        return np.ones(covered.shape, np.float32)
    # Grow past the occluder's soft edge, then feather so the new text fades out at it.
    covered = cv2.dilate(covered, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return 1.0 - cv2.GaussianBlur(covered.astype(np.float32), (0, 0), max(1.0, size / 4))


def _box_centre(rep: _Replacement, to_frame: np.ndarray) -> np.ndarray:
    """Where the plate's text box centre lands in the frame."""
    x, y, w, h = rep.track.box
    return cv2.perspectiveTransform(np.array([[[x + w / 2, y + h / 2]]], np.float64), to_frame)[0, 0]


def _text_height(rep: _Replacement, to_frame: np.ndarray) -> float:
    """The plate's text box height in the frame."""
    x, y, w, h = rep.track.box
    ends = cv2.perspectiveTransform(np.array([[[x + w / 2, y], [x + w / 2, y + h]]], np.float64), to_frame)[0]
    return float(np.linalg.norm(ends[1] - ends[0]))


def _predicted(rep: _Replacement, index: int, tracked: np.ndarray) -> np.ndarray:
    """Where the old text should be on frame ``index``: where it was found on the frame before, moved on
    as it moved between the two frames before that; the track's own placement when it was not found
    just before. The points the tracker follows round a fast, blurred sign can slide onto the scene
    behind it; the text found frame by frame does not."""
    found = [(i, h) for i, h in rep.found if i >= index - 2]
    if not found or found[-1][0] != index - 1:
        return tracked
    last = found[-1][1]
    if len(found) == 2:
        gap = index - 1 - found[0][0]
        dx, dy = (_box_centre(rep, last) - _box_centre(rep, found[0][1])) / gap
        return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64) @ last
    return last


def _place(rep: _Replacement, source: np.ndarray, index: int) -> np.ndarray | None:
    """The plate-to-frame homography that puts the replacement on the old text in frame ``index``; None
    where the old text is not seen there (then nothing is drawn).

    The old text is looked for round where it should be (:func:`_predicted`) and aligned there
    (:func:`_lock_on`). Text partly covered (a pole in front) may not correlate as a whole: then the
    predicted placement stands if the text is seen there strip by strip (the covered strips drop
    out), or else the track's own. A placement that jumps more than a text height from the prediction
    is a different thing that looks alike (a car's lit roof): it is refused.
    """
    tracked = rep.track.plate_to_frame(index)
    if tracked is None:
        return None
    grey = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
    predicted = _predicted(rep, index, tracked)
    placed = _lock_on(rep, grey, predicted)
    for guess in (predicted, tracked):
        if placed is None and _seen_in_strips(rep, grey, guess) >= APPEARANCE_MATCH:
            placed = guess
    if placed is not None and predicted is not tracked:
        jump = float(np.linalg.norm(_box_centre(rep, placed) - _box_centre(rep, predicted)))
        if jump > _text_height(rep, predicted):
            placed = None
    if placed is not None:
        rep.found = [*rep.found[-1:], (index, placed)]
    return placed


def _seen_in_strips(rep: _Replacement, grey: np.ndarray, to_frame: np.ndarray) -> float:
    """:func:`shotcraft.signals.text_tracks.appearance` of the old text at plate-to-frame ``to_frame``."""
    track = rep.track
    return appearance(track, to_frame @ np.linalg.inv(track.plate_to_reference), grey)


def _lock_on(rep: _Replacement, grey: np.ndarray, to_frame: np.ndarray) -> np.ndarray | None:
    """The plate-to-frame homography ``to_frame`` corrected on this frame: the old text looked for round
    where ``to_frame`` puts it (normalised correlation of the reference plate's text box, shifted up to
    half the text's width and two text heights), then the plate's sign (its surface and letters, not
    the scene round it) aligned to the frame by ECC from there. None when the old text is not found.
    """
    x, y, w, h = rep.track.box
    ph, pw = rep.track.plate.shape[:2]
    pad_x, pad_y = w // 2 + h, 2 * h
    canvas_to_frame = to_frame @ np.array([[1, 0, -pad_x], [0, 1, -pad_y], [0, 0, 1]], np.float64)
    canvas = cv2.warpPerspective(
        grey, canvas_to_frame, (pw + 2 * pad_x, ph + 2 * pad_y), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    sigma = max(1.0, h / 20)
    template = cv2.GaussianBlur(rep.track.plate_grey, (0, 0), sigma)[y : y + h, x : x + w]
    found = cv2.matchTemplate(cv2.GaussianBlur(canvas, (0, 0), sigma), template, cv2.TM_CCOEFF_NORMED)
    _, peak, _, (bx, by) = cv2.minMaxLoc(found)
    if peak < FOUND_TEXT:
        return None
    start = to_frame @ np.array([[1, 0, bx - x - pad_x], [0, 1, by - y - pad_y], [0, 0, 1]], np.float64)
    mask = cv2.dilate(rep.surface.astype(np.uint8), np.ones((3, 3), np.uint8))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
    try:
        score, refined = _ecc(
            rep.track.plate_grey.astype(np.float32), grey.astype(np.float32), mask,
            (start / start[2, 2]).astype(np.float32), criteria, 3 if h < 40 else 5,
        )  # fmt: skip
    except cv2.error:  # did not converge
        score, refined = 0.0, None
    # ECC can slide along a plain surface: the fine alignment stands only where the old text is seen.
    if refined is not None and score >= LOCK_ON:
        fine = refined.astype(np.float64)
        if _text_seen(rep, grey, fine, template, sigma) >= FOUND_TEXT:
            return fine
    return start


def _ecc(
    template: np.ndarray, image: np.ndarray, mask: np.ndarray, start: np.ndarray, criteria: tuple, blur: int
) -> tuple[float, np.ndarray]:
    """ECC homography from ``template`` (only its ``mask`` pixels) to ``image``, from ``start``.

    OpenCV 5's ``findTransformECC`` takes the mask as the image's, not the template's: there the
    template's mask goes through ``findTransformECCWithMask``.
    """
    if hasattr(cv2, "findTransformECCWithMask"):
        everywhere = np.full(image.shape[:2], 255, np.uint8)
        return cv2.findTransformECCWithMask(
            template, image, mask, everywhere, start, cv2.MOTION_HOMOGRAPHY, criteria, blur
        )
    return cv2.findTransformECC(template, image, start, cv2.MOTION_HOMOGRAPHY, criteria, mask, blur)


def _text_seen(
    rep: _Replacement, grey: np.ndarray, to_frame: np.ndarray, template: np.ndarray, sigma: float
) -> float:
    """Normalised correlation of the reference plate's (blurred) text box with the frame there."""
    x, y, w, h = rep.track.box
    ph, pw = rep.track.plate.shape[:2]
    seen = cv2.warpPerspective(grey, to_frame, (pw, ph), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    box = cv2.GaussianBlur(seen, (0, 0), sigma)[y : y + h, x : x + w]
    return float(cv2.matchTemplate(box, template, cv2.TM_CCOEFF_NORMED)[0, 0])


def _apply(frame: np.ndarray, source: np.ndarray, rep: _Replacement, index: int) -> None:
    """Warp one replacement onto ``frame`` (in place) at frame ``index``, brightness matched to the
    ``source`` frame and kept off whatever covers the sign there."""
    to_frame = _place(rep, source, index)
    if to_frame is None:
        return  # the old text is not seen: nothing is drawn anywhere else
    ph, pw = rep.alpha.shape
    corners = cv2.perspectiveTransform(
        np.array([[[0, 0], [pw, 0], [pw, ph], [0, ph]]], np.float64), to_frame
    )[0]
    H, W = frame.shape[:2]
    x0, y0 = max(0, int(np.floor(corners[:, 0].min()))), max(0, int(np.floor(corners[:, 1].min())))
    x1, y1 = min(W, int(np.ceil(corners[:, 0].max())) + 1), min(H, int(np.ceil(corners[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ to_frame
    size = (x1 - x0, y1 - y0)
    # The sign around the text in this frame, pulled back onto the plate: where it still looks like the
    # sign gets the new text, and its brightness there sets the gain.
    seen = cv2.warpPerspective(
        source,
        to_frame,
        (pw, ph),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    visible = visible_mask(rep, seen)
    ring = rep.ring & (visible > 0.99)
    if not ring.any():
        return  # nothing of the sign around the text is in view: a covered sign or a lost track
    # Per pixel against the reference plate, then the median: the sign's own texture cancels out and
    # the odd pixel of background or a passing object in the band does not sway the gain.
    ref = rep.track.plate[ring].astype(np.float32)
    bright = ref.min(axis=1) > 16
    ratio = seen[ring][bright] / ref[bright] if bright.any() else seen[ring] / np.maximum(ref, 1.0)
    gain = np.clip(np.median(ratio, axis=0), 0.5, 2.0)
    patch = cv2.warpPerspective(rep.patch * gain, shift, size, flags=cv2.INTER_LINEAR)
    # The grain is moved, not resampled: interpolating between its pixels at a sign's sub-pixel
    # positions smooths it to two thirds of the board's grain round it.
    patch += cv2.warpPerspective(rep.grain * gain, shift, size, flags=cv2.INTER_NEAREST)
    alpha = cv2.warpPerspective(rep.alpha * visible, shift, size, flags=cv2.INTER_LINEAR)[..., None]
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + patch * alpha + 0.5, 0, 255).astype(np.uint8)


class _Subtitles:
    """Burned-in subtitles: each cue rendered once, outlined, centred near the bottom of the frame."""

    def __init__(self, cues: list[Cue], market: str, size: tuple[int, int]):
        self.cues, self.market = cues, market
        self.width, self.height = size
        self.font_size = max(12, round(self.height * 0.055))
        for cue in cues:
            typeset.choose_fonts(cue.text.replace("\n", " "), market)

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one instance per market render, dropped after it
    def _layers(self, text: str) -> list[tuple[list[typeset.TextLayer], int]]:
        lines = text.split("\n")
        return [
            (typeset.render_outlined(typeset.choose_fonts(line, self.market), self.font_size), i)
            for i, line in enumerate(lines)
        ]

    def burn(self, frame: np.ndarray, seconds: float) -> None:
        cue = cue_at(self.cues, seconds)
        if cue is None:
            return
        rendered = self._layers(cue.text)
        line_height = round(self.font_size * 1.35)
        bottom = self.height - round(self.height * 0.06)
        for layers, i in rendered:
            top = bottom - (len(rendered) - i) * line_height
            lh, lw = layers[0].alpha.shape
            for layer in layers:
                typeset.draw_layer(frame, layer, ((self.width - lw) // 2, top + (line_height - lh) // 2))


def localize_frames(
    plan: TransformPlan,
    op: LocalizeOp,
    frames: Iterator[np.ndarray],
    reader: VideoReader,
    progress: Progress = no_progress,
) -> Iterator[np.ndarray]:
    """One market version of ``frames``: ``op.market`` (or the only market) with its text replaced.

    Checks and the OCR pass over the source run before the first frame is returned, so a bad table or
    a script without a font fails before anything is written.
    """
    market = op.market or (op.markets[0] if len(op.markets) == 1 else None)
    if market is None:
        raise SpecError(
            f"a localize pass renders one market; set 'market' to one of {', '.join(op.markets)} "
            "(shotcraft localize renders each market in turn)"
        )
    strings = market_strings(op, market, plan.notices)
    subtitles = None
    if op.burn_subtitles and market in op.subtitles:
        subtitles = _Subtitles(read_subtitles(op.subtitles[market]), market, plan.video.display_size)
    replacements: list[_Replacement] = []
    turns = plan.video.quarter_turns
    if strings:
        every = max(1, round(float(plan.video.fps) / OCR_PER_SECOND))
        tracks = find_text_tracks(reader, list(strings), every=every, turns=turns, progress=progress)
        whole = [t for t in tracks if not t.clipped]
        plan.notices.extend(_clipped_notices(market, tracks, whole))
        replacements = [build_replacement(t, strings[t.text], market) for t in whole]
        if not tracks:
            plan.notices.append(f"market {market}: none of the table's strings was found on screen")
    return _render(plan, frames, replacements, subtitles, turns, progress)


def _clipped_notices(market: str, tracks: list[TextTrack], whole: list[TextTrack]) -> list[str]:
    """Text read only while it ran past the frame's edge is left as it is (its hidden part cannot be
    matched, and a replacement fitted to the visible part would sit elsewhere than the text): one
    notice per such sighting, for the frames no whole sighting of the same text covers."""
    notices = []
    for track in tracks:
        if not track.clipped:
            continue
        covered = {i for other in whole if other.text == track.text for i in other.homographies}
        left = sorted(set(track.homographies) - covered)
        if left:
            notices.append(
                f"market {market}: {track.text!r} runs off the edge of the picture in frames {left[0]}-{left[-1]} "
                "and was left as it is"
            )
    return notices


def _render(
    plan: TransformPlan,
    frames: Iterator[np.ndarray],
    replacements: list[_Replacement],
    subtitles: _Subtitles | None,
    turns: int,
    progress: Progress,
) -> Iterator[np.ndarray]:
    """Text is replaced and subtitles burned on each frame as displayed (turned ``turns`` quarter turns
    from storage, as the tracks were found), then the frame is turned back to storage orientation."""
    total = plan.frame_count
    for index, stored in enumerate(frames):
        frame = np.ascontiguousarray(np.rot90(stored, turns)) if turns else stored
        out = np.array(frame, copy=True)
        for rep in replacements:
            if index in rep.track.homographies:
                _apply(out, frame, rep, index)
        if subtitles is not None:
            subtitles.burn(out, float(plan.video.time_of(index)))
        progress("localize", index + 1, total)
        yield np.ascontiguousarray(np.rot90(out, -turns)) if turns else out
