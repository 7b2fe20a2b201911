"""What the source text and its sign look like on a track's plate: which pixels are letters (with
their coverage), which are the sign's surface round them, the ink's colour in the strokes' cores, the
strokes' width, and the sign with its letters taken off (fill plus the sign's own grain).

The plate's text box comes from OCR: it may take in a strip of something else (the dark roof of a taxi
above its lit sign) and may clip a letter. So the box's colours are split in three (k-means in Lab);
a colour that covers much of the box but little of its border is ink (letters keep off their box's
edge), the others are background, and the background colour found most next to the ink is the sign's
own surface. Ink coverage is then read per pixel between the surface's colour and the ink's, so the
stroke width and the ink colour are measured like those of a rendering, and letters are followed past
the box's edge along their line.

>>> plate = np.full((40, 100, 3), (230, 220, 200), np.uint8)
>>> plate[12:28, 20:26] = plate[12:28, 40:50] = (20, 30, 90)
>>> text = analyse(plate, (16, 8, 70, 24))
>>> text.ink, round(text.stroke)
((20, 30, 90), 7)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shotcraft.engines.classic.typeset import stroke_width

#: Colours the text box is split into: ink, the sign's surface, and one more (a strip of something
#: else, or the letters' anti-aliased edge).
_CLUSTERS = 3


@dataclass
class SignText:
    """The source text on a plate (arrays are plate-sized).

    ``coverage`` is the ink's coverage of each pixel in [0, 1] (0 off the letters); ``surface`` the
    sign round the letters and under them (where the text may be redrawn), ``plain`` the part of it in
    the surface's own colour (no rims, rules or frames: what a fill is made from); ``ink`` the colour of the
    strokes' cores; ``background`` the surface's colour; ``stroke`` the strokes' width in plate pixels;
    ``ink_box`` (x0, y0, x1, y1) the letters' extent.
    """

    coverage: np.ndarray
    surface: np.ndarray
    plain: np.ndarray
    ink: tuple[int, int, int]
    background: tuple[int, int, int]
    stroke: float
    ink_box: tuple[int, int, int, int]

    @property
    def letters(self) -> np.ndarray:
        """The letters as a 0/255 mask (coverage over one half)."""
        return (self.coverage > 0.5).astype(np.uint8) * 255


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _kmeans(points: np.ndarray, seed: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Lloyd's k-means from ``seed`` centres (deterministic: no random restarts); returns the centres."""
    centres = seed.copy()
    for _ in range(iterations):
        nearest = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        for k in range(len(centres)):
            if (nearest == k).any():
                centres[k] = points[nearest == k].mean(axis=0)
    return centres


def _seed_centres(points: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``first``, then each next centre the point farthest from those chosen (farthest-point seeding)."""
    centres = [first]
    for _ in range(_CLUSTERS - 1):
        distance = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0)
        centres.append(points[int(np.argmax(distance))])
    return np.array(centres, np.float32)


def analyse(plate: np.ndarray, box: tuple[int, int, int, int]) -> SignText:
    """Find the letters of the text in ``box`` = (x, y, w, h) on ``plate`` (RGB uint8) and the sign round them."""
    x, y, w, h = box
    lab = _lab(plate)
    inner = lab[y : y + h, x : x + w]
    # OCR boxes are drawn round the letters with a little room above and below: the rows at the top
    # and bottom are mostly the sign, the middle rows hold most of the ink.
    band = max(1, round(h * 0.15))
    rims_rows = np.r_[0:band, h - band : h]
    middle_rows = np.r_[h // 3 : max(h // 3 + 1, 2 * h // 3)]
    # The colours are learnt on the middle half of the rows, where the text is: a strip of something
    # else caught in the box (a taxi's dark roof, highlights above a sign) lies along its top or bottom.
    points = inner[h // 4 : max(h // 4 + 1, 3 * h // 4)].reshape(-1, 3)
    step = max(1, len(points) // 6000)  # a few thousand pixels are plenty for three colours
    centres = _kmeans(points[::step], _seed_centres(points[::step], np.median(points, axis=0)))
    distance = np.sqrt(((lab[..., None, :] - centres) ** 2).sum(axis=3))
    nearest = np.argmin(distance, axis=2)
    in_box = nearest[y : y + h, x : x + w]
    area = np.bincount(in_box.ravel(), minlength=_CLUSTERS) / in_box.size
    middle = np.bincount(in_box[middle_rows].ravel(), minlength=_CLUSTERS) / in_box[middle_rows].size
    rims_share = np.bincount(in_box[rims_rows].ravel(), minlength=_CLUSTERS) / in_box[rims_rows].size
    ink_k = int(np.argmax(np.where(area >= 0.02, middle - rims_share, -np.inf)))
    # The sign's surface: of the other colours, the one found most round the ink, leaving out a colour
    # that lies between the ink's and another's (the letters' anti-aliased rim).
    others = [k for k in range(_CLUSTERS) if k != ink_k and area[k] > 0]
    rims = [
        k for k in others if any(_between(centres[ink_k], centres[j], centres[k]) for j in others if j != k)
    ]
    others = [k for k in others if k not in rims] or others
    reach = max(2, round(h / 8))
    near_ink = cv2.dilate(
        (in_box == ink_k).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    ).astype(bool)
    counts = [np.count_nonzero(near_ink & (in_box == k)) for k in others]
    surface_k = others[int(np.argmax(counts))] if others else None
    background_lab = (
        centres[surface_k] if surface_k is not None else np.median(inner[rims_rows].reshape(-1, 3), axis=0)
    )
    span = centres[ink_k] - background_lab
    along = ((lab - background_lab) @ span) / max(float(span @ span), 1e-6)
    # A pixel belongs to the sign when its colour is the surface's, the ink's (or deeper), or a mix of
    # the two, within the spread of those colours on the sign (the scene behind may be close in hue).
    t = np.clip(along, 0.0, 1.5)
    off_line = np.linalg.norm(lab - background_lab - t[..., None] * span, axis=2)
    box_window = (y, y + h, x, x + w)
    surface_spread = _spread(distance, nearest, surface_k, box_window)
    ink_spread = _spread(distance, nearest, ink_k, box_window)
    on_sign = off_line <= surface_spread + np.clip(t, 0, 1) * (ink_spread - surface_spread)
    coverage = np.where(on_sign, np.clip(along, 0.0, 1.0), 0.0).astype(np.float32)
    coverage = _letters_on_line(coverage, box)
    plain = distance[..., surface_k] <= surface_spread if surface_k is not None else on_sign & (along < 0.5)
    surface = _surface(plain, coverage, box)
    coverage *= surface
    stroke = stroke_width(coverage, upscale=4)
    ink = _core_colour(plate, coverage, along, stroke)
    rows, cols = np.nonzero(coverage > 0.5)
    ink_box = (
        (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
        if len(rows)
        else (x, y, x + w, y + h)
    )
    bare = surface & (coverage == 0)
    background = plate[bare] if bare.any() else plate[y : y + h, x : x + w].reshape(-1, 3)
    return SignText(
        coverage,
        surface,
        plain & surface,
        ink,
        tuple(int(c) for c in np.median(background, axis=0)),
        stroke,
        ink_box,
    )  # type: ignore[arg-type]


def _between(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """Whether colour ``c`` lies on the way from ``a`` to ``b`` (a mix of the two)."""
    span = b - a
    t = float((c - a) @ span) / max(float(span @ span), 1e-6)
    return 0.15 < t < 0.85 and float(np.linalg.norm(c - a - t * span)) < 0.25 * float(np.linalg.norm(span))


def _spread(
    distance: np.ndarray, nearest: np.ndarray, surface_k: int | None, window: tuple[int, int, int, int]
) -> float:
    """How far (Lab) the sign's surface strays from its own colour: its grain and shading. For grain
    (three channels of noise) 1.7 times the median distance takes in nine pixels in ten; the few left
    out are closed over, while the scene behind a sign of a close colour stays out."""
    y0, y1, x0, x1 = window
    if surface_k is None:
        return np.inf
    own = distance[y0:y1, x0:x1, surface_k][nearest[y0:y1, x0:x1] == surface_k]
    return max(5.0, 1.7 * float(np.median(own))) if len(own) else np.inf


def _letters_on_line(coverage: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Keep the ink that belongs to the text: letter-sized pieces inside the box, and pieces beside it on
    its line (a letter the OCR box clipped or missed) within a text height of the others. Something of
    the ink's colour beyond the sign (a white road round a board with white letters) reaches past the
    plate's edge or is taller than the line, and is left out."""
    x, y, w, h = box
    ph, pw = coverage.shape
    pieces = (coverage > 0.7).astype(
        np.uint8
    )  # well inside the strokes: rims touching other things do not join them
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pieces, connectivity=8)
    sx, sy, sw, sh = (stats[:, i] for i in range(4))
    # A long thin line (or a corner of two) is a board's edge: its anti-aliased rim against a road of
    # the ink's colour.
    line_like = (sw > h) & ((sh < 0.25 * h) | (stats[:, 4] < 0.12 * sw * sh))
    # Specks (grain, a codec's ringing) are smaller than the dot of an i.
    letter_sized = (
        (sh <= 1.5 * h)
        & (stats[:, 4] >= 0.006 * h * h)
        & ~line_like
        & (sx > 0)
        & (sy > 0)
        & (sx + sw < pw)
        & (sy + sh < ph)
    )
    keep = np.zeros(count, bool)
    inside = np.unique(labels[y : y + h, x : x + w][pieces[y : y + h, x : x + w] > 0])
    keep[inside] = letter_sized[inside]
    keep[0] = False
    if keep.any():
        lo, hi = int(sx[keep].min()), int((sx + sw)[keep].max())
        for k in sorted(range(1, count), key=lambda k: abs(sx[k] + sw[k] / 2 - (x + w / 2))):
            if keep[k] or not letter_sized[k] or sh[k] < 0.4 * h:
                continue
            overlap = min(sy[k] + sh[k], y + h) - max(sy[k], y)
            if overlap >= 0.5 * min(sh[k], h) and sx[k] <= hi + h and sx[k] + sw[k] >= lo - h:
                keep[k] = True
                lo, hi = min(lo, int(sx[k])), max(hi, int(sx[k] + sw[k]))
    kept = keep[labels]
    # Marks (dots, accents, Arabic's dots): small pieces of ink inside the box, close above or below a
    # letter kept; too small for the size rule above, and too faint, at a few pixels across, for the
    # threshold that split the letters. Grain is never this ink-like.
    if keep.any():
        near = cv2.dilate(kept.astype(np.uint8), np.ones((max(3, h // 2) | 1,) * 2, np.uint8)) > 0
        count, faint, stats, _ = cv2.connectedComponentsWithStats(
            (coverage > 0.5).astype(np.uint8), connectivity=8
        )
        mx, my, mw, mh = (stats[:, i] for i in range(4))
        mark = (mx >= x - h) & (mx + mw <= x + w + h) & (my >= y - h // 2) & (mh <= 0.5 * h) & (mw <= 0.5 * h)
        mark[0] = False
        mark &= np.isin(np.arange(count), np.unique(faint[near]))
        kept |= mark[faint]
    # Each letter's anti-aliased rim (coverage under one half) goes with it.
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    kept = cv2.dilate(kept.astype(np.uint8), reach) > 0
    return np.where(kept, coverage, 0.0).astype(np.float32)


def _surface(background: np.ndarray, coverage: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The sign's surface round the text: its background colour joined with the letters (closed over
    their anti-aliased rims), the connected piece that holds the letters."""
    h = box[3]
    joined = (background | (coverage > 0)).astype(np.uint8)
    size = max(3, round(h / 6)) | 1
    joined = cv2.morphologyEx(
        joined, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    )
    count, labels = cv2.connectedComponents(joined, connectivity=8)
    if count <= 1:
        return np.ones(background.shape, bool)
    letters = labels[coverage > 0.5]
    if len(letters) == 0:
        x, y, w, _ = box
        letters = labels[y : y + h, x : x + w].ravel()
    main = np.bincount(letters[letters > 0], minlength=count).argmax() if (letters > 0).any() else 0
    return (labels == main) if main else joined.astype(bool)


def _core_colour(
    plate: np.ndarray, coverage: np.ndarray, along: np.ndarray, stroke: float
) -> tuple[int, int, int]:
    """The ink's colour in the strokes' cores: pixels at least a third of the stroke from the letters'
    edge, and of those the more ink-like half (a thin stroke's core is still part edge)."""
    letters = (coverage > 0.5).astype(np.uint8)
    if not letters.any():
        return (0, 0, 0)
    distance = cv2.distanceTransform(letters, cv2.DIST_L2, 5)
    core = distance >= max(1.0, stroke / 3)
    if not core.any():
        core = letters > 0
    inkness = along[core]
    cores = plate[core][inkness >= np.median(inkness)]
    return tuple(int(c) for c in np.median(cores, axis=0))  # type: ignore[return-value]


def clean_plate(
    plate: np.ndarray, text: SignText, covered: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``plate`` with the ``covered`` pixels (the letters and a margin, on the surface) refilled from the
    surface round them, in two float32 layers: the plate with its smooth shading carried into them from
    the nearest surface pixels, and the grain for them (0 elsewhere), copied in blocks from the surface
    near the text (so the fill has the sign's own noise, not a flat wash that shows when the contrast
    is pushed). The grain is kept apart so that it can be resampled without being smoothed."""
    height = max(4, text.ink_box[3] - text.ink_box[1])
    known = text.plain & (covered == 0)
    image = plate.astype(np.float32)
    if not known.any():
        return image, np.zeros_like(image)
    smooth = _fill(image, known, height)
    residual = np.where(known[..., None], image - smooth, 0.0)
    hole = (covered > 0)[..., None]
    grain = np.where(hole, _copy_grain(residual, known, covered > 0, height, seed), 0.0).astype(np.float32)
    return np.where(hole, smooth, image).astype(np.float32), grain


def _fill(image: np.ndarray, known: np.ndarray, height: int) -> np.ndarray:
    """A smooth estimate of ``image`` everywhere from its ``known`` pixels: normalised convolution,
    finest scale that has enough known pixels near each point (so a shading gradient carries in)."""
    weight_in = known.astype(np.float32)
    out = np.zeros_like(image)
    done = np.zeros(known.shape, bool)
    # Finest first: each pixel takes the first scale whose window holds enough of the surface.
    for sigma in (max(1.5, height / 10), height / 4, height / 2, height, 2 * height, 4 * height):
        weight = cv2.GaussianBlur(weight_in, (0, 0), sigma)
        total = cv2.GaussianBlur(image * weight_in[..., None], (0, 0), sigma)
        ready = (weight > 0.25) & ~done
        out[ready] = total[ready] / weight[ready][:, None]
        done |= ready
    if not done.all():
        out[~done] = image[known].mean(axis=0)
    return out


def _copy_grain(
    residual: np.ndarray, known: np.ndarray, hole: np.ndarray, height: int, seed: int
) -> np.ndarray:
    """Grain for the ``hole``: blocks of the surface's own fine detail (``residual``) copied from random
    places where the block lies wholly on known surface, nearest such places preferred. On a board
    little bigger than its text the bare surface is only slivers between the letters: the blocks are
    made smaller (down to 2 px) until some fit."""
    block = int(np.clip(round(height / 3), 4, 24))
    while True:
        valid = cv2.erode(known.astype(np.uint8), np.ones((block, block), np.uint8), anchor=(0, 0)) > 0
        valid[-block:, :] = False
        valid[:, -block:] = False
        if valid.any() or block <= 2:
            break
        block = max(2, block // 2)
    grain = np.zeros_like(residual)
    if not valid.any() or not hole.any():
        return grain
    stride = max(1, block // 2)
    sources = np.argwhere(valid[::stride, ::stride]) * stride
    if not len(sources):  # the few places a block fits all fall between the strided ones
        sources = np.argwhere(valid)
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(hole)
    for top in range(int(rows.min()), int(rows.max()) + 1, block):
        for left in range(int(cols.min()), int(cols.max()) + 1, block):
            if not hole[top : top + block, left : left + block].any():
                continue
            # One of the 32 nearest source blocks, at random: near keeps the grain's local character.
            distance = np.abs(sources[:, 0] - top) + np.abs(sources[:, 1] - left)
            near = np.argpartition(distance, 31)[:32] if len(sources) > 32 else np.arange(len(sources))
            sy, sx = sources[near[rng.integers(len(near))]]
            target = grain[top : top + block, left : left + block]
            target[...] = residual[sy : sy + target.shape[0], sx : sx + target.shape[1]]
    return grain
