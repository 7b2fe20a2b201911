"""Text regions over time: OCR on sampled frames, planar tracking of each text region in between.

A :class:`TextTrack` follows one on-screen string (one the caller asked for, e.g. a translation table's
source strings) through the frames where it is visible. Its geometry is a homography per frame that
maps the *reference frame* (where OCR first read it) onto that frame, estimated directly from reference
points to current points (KLT points re-seeded as they are lost), so the quad does not jitter from
frame to frame and errors do not compound by chaining.

Text detection runs on sampled frames and on scene cuts; only boxes no live track explains are read
(recognised). A new sighting starts a track and is tracked *backwards* through the buffered frames
since the previous sample, so a sign is covered from the frame it appears, not from the next sample.
Samples are spaced further apart (up to ``MAX_SPACING`` times ``every``) while nothing changes, and most
use a detection size for big text; every so often, and whenever nothing is tracked, one searches at the
full size for small text. A track's *appearance* (its text region in the frame against its reference
plate, strip by strip) tells a sign that OCR cannot read just now (partly covered, blurred) from one
that is gone or a track that drifted: a fully visible track whose region no longer matches and that
two consecutive samples miss ends.

The planar tracker here is KLT + RANSAC homography; it handles the text region only.

>>> from shotcraft.media.synth import make_clip  # doctest: +SKIP
>>> tracks = find_text_tracks(VideoReader("sign.mp4"), ["SUMMER SALE"])  # doctest: +SKIP
>>> tracks[0].quad_at(10)  # corners of the text in frame 10  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.progress import Progress
from shotcraft.signals.cuts import is_cut
from shotcraft.signals.klt import klt_step, plausible_quad, project
from shotcraft.signals.ocr import MAX_SIDE, TextBox, detect_text, recognise, similarity

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader

#: Progress callback: (stage name, done, total), as the engines take it.

#: OCR text this alike a wanted string (see :func:`~shotcraft.signals.ocr.similarity`) counts as it.
MATCH_SIMILARITY = 0.8
#: A track restarts from a fresh OCR box when its predicted corners are this far off (in text heights).
REANCHOR_ERROR = 0.35
#: A track whose text region matches its reference plate this well (median correlation over strips of
#: the text box) is on its sign, whatever one OCR sample says.
APPEARANCE_MATCH = 0.6
#: Samples are spaced up to this many times ``every`` frames apart while nothing changes.
MAX_SPACING = 4
#: Long side of the frame for routine detection: enough for big text, 2-3x faster than the full search.
COARSE_SIDE = 640
#: Text lower than this (in pixels at detection scale) is not judged by a detection at that scale.
MIN_DETECTABLE = 12
#: KLT points to keep on a text region.
_POINTS = 80
_MIN_POINTS = 8


@dataclass
class TextTrack:
    """One string followed over frames.

    ``quad`` holds the text's corners in the ``reference`` frame (clockwise from top-left);
    ``homographies[i]`` maps reference-frame pixels to frame ``i``. ``plate`` is the reference frame's
    pixels around the text rectified to a rectangle: the text box sits at ``box`` = (x, y, w, h) in it,
    and ``plate_to_reference`` maps plate pixels into the reference frame. ``clipped``: the text ran
    past the frame's edge where it was read, so the plate (and the read) holds only part of it.
    """

    text: str
    reference: int
    quad: np.ndarray
    plate: np.ndarray
    plate_to_reference: np.ndarray
    box: tuple[int, int, int, int]
    homographies: dict[int, np.ndarray] = field(default_factory=dict)
    clipped: bool = False

    @functools.cached_property
    def plate_grey(self) -> np.ndarray:
        return cv2.cvtColor(self.plate, cv2.COLOR_RGB2GRAY)

    @property
    def frames(self) -> range:
        return range(min(self.homographies), max(self.homographies) + 1)

    def quad_at(self, index: int) -> np.ndarray | None:
        """The text's corners in frame ``index``, or None where the track does not cover it."""
        h = self.homographies.get(index)
        return None if h is None else _apply(h, self.quad)

    def plate_to_frame(self, index: int) -> np.ndarray | None:
        """Homography from plate pixels to frame ``index``."""
        h = self.homographies.get(index)
        return None if h is None else h @ self.plate_to_reference


@dataclass
class _Live:
    """A track being extended frame by frame: reference points and where they are now."""

    track: TextTrack
    ref_points: np.ndarray
    points: np.ndarray
    homography: np.ndarray
    seeded: int
    similarity: float = 1.0  # how well the OCR read that started it matched the string
    misses: int = 0
    first_miss: int = 0


def _apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    return project(points, h).astype(np.float32)


def _text_height(quad: np.ndarray) -> float:
    return float((np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2)


def _text_width(quad: np.ndarray) -> float:
    return float((np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2)


def _grow(quad: np.ndarray, factor: float) -> np.ndarray:
    """The quad scaled about its centre, more across the line than along it (signs are wide)."""
    centre = quad.mean(axis=0)
    margin = _text_height(quad) * (factor - 1)
    along = quad[1] - quad[0]
    along = along / max(1e-6, float(np.linalg.norm(along)))
    across = np.array([-along[1], along[0]], dtype=np.float32)
    out = []
    for corner in quad:
        d = corner - centre
        out.append(corner + np.sign(d @ along) * along * margin + np.sign(d @ across) * across * margin)
    return np.asarray(out, dtype=np.float32)


def _region_mask(shape: tuple[int, int], quad: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 255)
    return mask


def _seed_points(grey: np.ndarray, quad: np.ndarray, count: int) -> np.ndarray:
    mask = _region_mask(grey.shape, _grow(quad, 1.6))
    height = max(4.0, _text_height(quad))
    found = cv2.goodFeaturesToTrack(grey, count, 0.01, max(2.0, height / 8), mask=mask, blockSize=5)
    return np.empty((0, 2), np.float32) if found is None else found.reshape(-1, 2).astype(np.float32)


def _inside(quad: np.ndarray, width: int, height: int, margin: float = 0.0) -> bool:
    return bool(
        (quad[:, 0] >= -margin).all()
        and (quad[:, 0] <= width - 1 + margin).all()
        and (quad[:, 1] >= -margin).all()
        and (quad[:, 1] <= height - 1 + margin).all()
    )


def _outside(quad: np.ndarray, width: int, height: int) -> bool:
    return bool(
        quad[:, 0].max() < 0
        or quad[:, 0].min() >= width
        or quad[:, 1].max() < 0
        or quad[:, 1].min() >= height
    )


def _step(live: _Live, prev: np.ndarray, grey: np.ndarray) -> bool:
    """Move ``live`` from frame ``prev`` to ``grey``; False when the track is lost."""
    if len(live.points) < _MIN_POINTS:
        return False
    moved = klt_step(prev, grey, live.points, live.ref_points, min_points=_MIN_POINTS)
    if moved is None:
        return False
    reference_area = abs(cv2.contourArea(live.track.quad.astype(np.float32)))
    if not plausible_quad(_apply(moved.homography, live.track.quad), reference_area, 4):
        return False
    live.ref_points, live.points, live.homography = moved.ref_points, moved.points, moved.homography
    if len(live.points) < live.seeded // 2:
        _reseed(live, grey)
    return True


def _reseed(live: _Live, grey: np.ndarray) -> None:
    """Add fresh points on the region, mapped back to reference coordinates through the current homography."""
    fresh = _seed_points(grey, _apply(live.homography, live.track.quad), _POINTS)
    if len(fresh):
        ref = _apply(np.linalg.inv(live.homography), fresh)
        live.ref_points = np.concatenate([live.ref_points, ref])
        live.points = np.concatenate([live.points, fresh])
    live.seeded = len(live.points)


def _plate(frame: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The text and a margin around it rectified to a rectangle (see :class:`TextTrack`)."""
    w, h = max(4, round(_text_width(quad))), max(4, round(_text_height(quad)))
    m = round(0.4 * h) + 4
    box = np.array([[m, m], [m + w, m], [m + w, m + h], [m, m + h]], dtype=np.float32)
    to_reference = cv2.getPerspectiveTransform(box, quad.astype(np.float32))
    plate = cv2.warpPerspective(
        frame, to_reference, (w + 2 * m, h + 2 * m), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    return plate, to_reference, (m, m, w, h)


def _start(
    text: str, index: int, quad: np.ndarray, frame: np.ndarray, grey: np.ndarray, similarity: float
) -> _Live | None:
    points = _seed_points(grey, quad, _POINTS)
    if len(points) < _MIN_POINTS:
        return None
    plate, to_reference, box = _plate(frame, quad)
    clipped = not _inside(quad, grey.shape[1], grey.shape[0], margin=-2)
    track = TextTrack(text, index, quad, plate, to_reference, box, {index: np.eye(3)}, clipped)
    return _Live(track, points.copy(), points, np.eye(3), len(points), similarity)


def appearance(track: TextTrack, homography: np.ndarray, grey: np.ndarray) -> float:
    """How well the text region in ``grey`` (placed by ``homography``, reference to frame) matches the
    track's reference plate: the median normalised correlation over vertical strips of the text box.

    Strips make it robust to something covering part of the text (those strips drop out of the median)
    while a drifted track or a different sign fails in every strip. Strips with no texture (spaces between
    words) and strips that fall partly outside the frame are skipped; 1.0 when none is left.
    """
    x, y, w, h = track.box
    ph, pw = track.plate.shape[:2]
    to_frame = homography @ track.plate_to_reference
    seen = cv2.warpPerspective(
        grey, to_frame, (pw, ph), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    in_frame = cv2.warpPerspective(
        np.ones(grey.shape, np.uint8), to_frame, (pw, ph), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )[y : y + h, x : x + w]
    sigma = max(1.0, h / 20)
    ref = cv2.GaussianBlur(track.plate_grey, (0, 0), sigma)[y : y + h, x : x + w].astype(np.float32)
    cur = cv2.GaussianBlur(seen, (0, 0), sigma)[y : y + h, x : x + w].astype(np.float32)
    strips = int(np.clip(round(2 * w / max(h, 1)), 3, 16))
    scores = []
    for cols in np.array_split(np.arange(w), strips):
        if in_frame[:, cols].mean() < 0.98:
            continue
        a, b = ref[:, cols], cur[:, cols]
        a, b = a - a.mean(), b - b.mean()
        norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
        if a.std() < 4 or norm == 0:
            continue
        scores.append(float((a * b).sum()) / norm)
    return float(np.median(scores)) if scores else 1.0


def match_strings(boxes: Sequence[TextBox], wanted: Sequence[str]) -> list[tuple[str, np.ndarray, float]]:
    """Which wanted strings the OCR boxes show, with their quads and similarity.

    OCR splits a line into words at times, so runs of up to four neighbouring boxes on one line are
    tried too; each box is used once, best matches first.
    """
    groups: list[tuple[list[int], str, np.ndarray]] = []
    for i in range(len(boxes)):
        run = [i]
        groups.append((run.copy(), boxes[i].text, boxes[i].quad))
        for j in range(i + 1, min(len(boxes), i + 4)):
            a, b = boxes[run[-1]], boxes[j]
            ha = a.bounds[3] - a.bounds[1]
            overlap = min(a.bounds[3], b.bounds[3]) - max(a.bounds[1], b.bounds[1])
            gap = b.bounds[0] - a.bounds[2]
            if overlap < 0.5 * ha or gap > 1.5 * ha or gap < -0.5 * ha:
                break
            run.append(j)
            first, last = boxes[run[0]].quad, boxes[run[-1]].quad
            quad = np.array([first[0], last[1], last[2], first[3]], dtype=np.float32)
            groups.append((run.copy(), " ".join(boxes[k].text for k in run), quad))
    scored = sorted(
        ((similarity(text, want), want, members, quad) for members, text, quad in groups for want in wanted),
        key=lambda s: -s[0],
    )
    used: set[int] = set()
    found: list[tuple[str, np.ndarray, float]] = []
    for score, want, members, quad in scored:
        if score < MATCH_SIMILARITY:
            break
        if used.intersection(members):
            continue
        used.update(members)
        found.append((want, quad, score))
    return found


def _extend_backwards(
    live: _Live, history: Sequence[tuple[int, np.ndarray, bool]], width: int, height: int
) -> None:
    """Track a new sighting back through the buffered frames, newest first, stopping at a cut and where
    the text no longer looks like itself (the points tracked the scene round a sign that was not there
    yet: text is only ever drawn where the text it replaces is)."""
    back = _Live(live.track, live.ref_points.copy(), live.points.copy(), np.eye(3), live.seeded)
    newer = history[-1][1]
    for index, grey, cut_after in reversed(list(history)[:-1]):
        if cut_after or not _step(back, newer, grey):
            return
        quad = _apply(back.homography, live.track.quad)
        if _outside(quad, width, height) or appearance(live.track, back.homography, grey) < APPEARANCE_MATCH:
            return
        live.track.homographies[index] = back.homography
        newer = grey


def find_text_tracks(
    reader: VideoReader,
    wanted: Sequence[str],
    *,
    every: int = 8,
    turns: int = 0,
    progress: Progress | None = None,
) -> list[TextTrack]:
    """Follow every appearance of the ``wanted`` strings through the clip (OCR every ``every`` frames,
    less often while nothing changes).

    Each decoded frame is first turned ``turns`` quarter turns counter-clockwise (``np.rot90``'s ``k``;
    :attr:`VideoInfo.quarter_turns` for a clip's rotation tag), so text is read upright on the frame
    as it is shown; the tracks' quads, plates and homographies are then in that orientation.

    Results are cached per clip file and settings, so rendering several market versions reads the
    clip's text once.
    """
    turns %= 4
    key = (*_cache_key(reader, wanted, every), turns)
    if key in _CACHE:
        return _CACHE[key]
    total = len(reader)
    width, height = reader.video.width, reader.video.height
    if turns % 2:
        width, height = height, width
    done: list[TextTrack] = []
    live: list[_Live] = []
    # (index, grey, cut after it) for the frames since the last OCR sample, for backward extension.
    history: deque[tuple[int, np.ndarray, bool]] = deque(maxlen=MAX_SPACING * every + 1)
    prev: np.ndarray | None = None
    spacing, next_sample, last_fine = every, 0, -total
    for index, stored in enumerate(reader.frames()):
        frame = np.ascontiguousarray(np.rot90(stored, turns)) if turns else stored
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        cut = prev is not None and is_cut(prev, grey)
        if history and cut:
            history[-1] = (history[-1][0], history[-1][1], True)
        history.append((index, grey, False))
        if prev is not None:
            still: list[_Live] = []
            for item in live:
                ok = not cut and _step(item, prev, grey)
                quad = _apply(item.homography, item.track.quad) if ok else None
                if quad is None or _outside(quad, width, height):
                    done.append(item.track)
                    # Lost: look again soon (the sign may be back, or something new there).
                    spacing, next_sample = every, min(next_sample, index + every)
                    continue
                item.track.homographies[index] = item.homography
                still.append(item)
            live = still
        if index >= next_sample or cut or index == total - 1:
            fine = not live or index - last_fine >= MAX_SPACING * every
            side = MAX_SIDE if fine else COARSE_SIDE
            last_fine = index if fine else last_fine
            live, changed = _sample(frame, grey, index, live, done, wanted, history, side)
            # Spaced out only while every live track is confirmed: new text is found at the base rate.
            calm = live and not changed and not cut
            spacing = min(2 * spacing, MAX_SPACING * every) if calm else every
            next_sample = index + spacing
        prev = grey
        if progress is not None:
            progress("find text", index + 1, total)
    done.extend(item.track for item in live)
    tracks = sorted(done, key=lambda t: (t.frames.start, t.text))
    if len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = tracks
    return tracks


def _along_line(quads: Sequence[np.ndarray]) -> np.ndarray:
    """One quad spanning several boxes on a line (words the detector split), first to last by x."""
    ordered = sorted(quads, key=lambda q: float(q[:, 0].mean()))
    first, last = ordered[0], ordered[-1]
    return np.array([first[0], last[1], last[2], first[3]], dtype=np.float32)


def _sample(
    frame: np.ndarray,
    grey: np.ndarray,
    index: int,
    live: list[_Live],
    done: list[TextTrack],
    wanted: Sequence[str],
    history: Sequence[tuple[int, np.ndarray, bool]],
    side: int,
) -> tuple[list[_Live], bool]:
    """One OCR sample: confirm, re-anchor or end live tracks, start tracks for new sightings. Returns the
    live tracks and whether anything changed (a new track, a re-anchor, a miss).

    Detected boxes that lie on a live track whose corners they agree with (or whose appearance still
    matches) confirm it without being read; only the other boxes are recognised.
    """
    height, width = grey.shape
    scale = min(1.0, side / max(width, height))
    quads = detect_text(frame, max_side=side)
    claimed: dict[int, list[np.ndarray]] = {}
    unexplained: list[np.ndarray] = []
    for quad in quads:
        area = max(cv2.contourArea(quad), 1e-6)
        owner = next(
            (
                i
                for i, item in enumerate(live)
                if _intersection(_grow(_apply(item.homography, item.track.quad), 1.3), quad) > 0.5 * area
            ),
            None,
        )
        if owner is None:
            unexplained.append(quad)
        else:
            claimed.setdefault(owner, []).append(quad)
    confirmed: set[int] = set()
    for i, found in claimed.items():
        item = live[i]
        predicted = _apply(item.homography, item.track.quad)
        merged = _along_line(found)
        # Boxes wider than the track: it may have started from a partial read; read them to see.
        wider = _text_width(merged) > _text_width(predicted) + 0.5 * _text_height(predicted)
        error = float(np.linalg.norm(predicted - merged, axis=1).mean())
        if not wider and (error <= REANCHOR_ERROR * _text_height(predicted) or _matches(item, grey)):
            confirmed.add(i)
        else:
            unexplained.extend(found)  # read them: the track may have drifted off its text
    changed = False
    sightings = match_strings(recognise(frame, unexplained), wanted) if unexplained else []
    for text, quad, score in sightings:
        owner = next(
            (
                i
                for i, item in enumerate(live)
                if i not in confirmed
                and item.track.text == text
                and _overlap(_apply(item.homography, item.track.quad), quad) > 0.3
            ),
            None,
        )
        if owner is not None:
            confirmed.add(owner)
            old = live[owner]
            if score <= old.similarity and _matches(old, grey):
                continue  # read no better than the track's own start, and the track is on its sign
        started = _start(text, index, quad, frame, grey, score)
        if started is None:
            continue
        changed = True
        _extend_backwards(started, history, width, height)
        if owner is None:
            live.append(started)
            continue
        # Drifted, or started from a partial read: the fresh box takes over from where it could be
        # tracked back to; the old track keeps the frames before.
        first = min(started.track.homographies)
        for k in [k for k in old.track.homographies if k >= first]:
            del old.track.homographies[k]
        if old.track.homographies:
            done.append(old.track)
        live[owner] = started
    still: list[_Live] = []
    for i, item in enumerate(live):
        quad = _apply(item.homography, item.track.quad)
        judged = (
            i not in confirmed
            and _inside(quad, width, height, margin=-2)  # partly off screen: OCR cannot read it whole
            and _text_height(quad) * scale >= MIN_DETECTABLE  # too small for this detection size
        )
        if i in confirmed or (judged and _matches(item, grey)):
            item.misses = 0
            still.append(item)
            continue
        if not judged:
            still.append(item)
            continue
        changed = True
        item.misses += 1
        if item.misses == 1:
            item.first_miss = index
            still.append(item)
            continue
        # Gone (or hidden) since the first of two missing samples; before it, it may still be there.
        for gone in [k for k in item.track.homographies if k >= item.first_miss]:
            del item.track.homographies[gone]
        done.append(item.track)
    return still, changed


def _matches(item: _Live, grey: np.ndarray) -> bool:
    return appearance(item.track, item.homography, grey) >= APPEARANCE_MATCH


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    area, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    return float(area)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quads."""
    area, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    union = cv2.contourArea(a) + cv2.contourArea(b) - area
    return float(area / union) if union > 0 else 0.0


_CACHE: dict[tuple, list[TextTrack]] = {}


def _cache_key(reader: VideoReader, wanted: Sequence[str], every: int) -> tuple:
    stat = os.stat(reader.path)
    return (str(reader.path.resolve()), stat.st_size, stat.st_mtime_ns, tuple(sorted(set(wanted))), every)
