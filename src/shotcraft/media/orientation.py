"""Display orientation (what a user gives) to storage orientation (what frames are processed in).

Every coordinate and image a user gives (lock rectangles, polygons and masks, track boxes, swap corners,
keyframe stills, light directions, reframe anchors) is taken in *display* orientation: the frame as a
player shows it, after the clip's rotation tag. Frames are processed in *storage* orientation (as decoded)
and the tag is kept on output, so these functions turn the user's inputs once. ``VideoInfo.rotation`` is
counter-clockwise degrees, the quarter turns ``np.rot90`` takes.

>>> from fractions import Fraction
>>> from shotcraft.media.probe import VideoInfo
>>> video = VideoInfo(0, "h264", 96, 64, Fraction(25), Fraction(1, 25), 1, Fraction(1, 25), "yuv420p", 8,
...                   rotation=90)
>>> video.quarter_turns, video.display_size, to_storage_rect(0, 0, 64, 10, video)
(1, (64, 96), (86, 0, 10, 64))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shotcraft.media.probe import VideoInfo


def quarter_turns(rotation: int) -> int:
    """How many quarter turns counter-clockwise (``np.rot90``'s ``k``) take a stored frame to the displayed
    one, for a rotation tag in degrees (``VideoInfo.rotation``); :attr:`VideoInfo.quarter_turns` reads it.

    >>> quarter_turns(90), quarter_turns(-90), quarter_turns(540)
    (1, 3, 2)
    """
    return (rotation // 90) % 4


def turn_points(
    points: Iterable[Sequence[float]], k: int, width: int, height: int
) -> list[tuple[float, float]]:
    """Points on a displayed frame to the stored frame (``width`` x ``height``) it shows turned ``k`` times.

    Continuous coordinates: the stored frame spans ``0..width`` x ``0..height``, pixel ``i`` covers
    ``[i, i + 1)``. The way back (stored to displayed) is ``(-k) % 4`` turns on the displayed size.
    """
    turned = {
        0: lambda x, y: (x, y),
        1: lambda x, y: (width - y, x),
        2: lambda x, y: (width - x, height - y),
        3: lambda x, y: (y, height - x),
    }[k]
    return [tuple(float(v) for v in turned(float(x), float(y))) for x, y in points]


def to_storage_points(points: Iterable[Sequence[float]], video: VideoInfo) -> list[tuple[float, float]]:
    """Points given on the displayed frame (x right, y down, as a player shows it) on the stored frame.

    Continuous coordinates (the frame spans ``0..width``), as for corners and box edges.

    >>> from fractions import Fraction
    >>> from shotcraft.media.probe import VideoInfo
    >>> video = VideoInfo(0, "h264", 96, 64, Fraction(25), Fraction(1, 25), 1, Fraction(1, 25), "yuv420p", 8,
    ...                   rotation=90)
    >>> video.display_size, to_storage_points([(0, 0), (64, 96)], video)
    ((64, 96), [(96.0, 0.0), (0.0, 64.0)])
    """
    return turn_points(points, video.quarter_turns, video.width, video.height)


def turn_pixels(
    points: Iterable[Sequence[float]], k: int, width: int, height: int
) -> list[tuple[float, float]]:
    """Like :func:`turn_points` for pixel-centre coordinates (point ``(x, y)`` is the centre of pixel
    column ``x``, row ``y``), the convention of polygons, track corners and swap corners."""
    centred = [(x + 0.5, y + 0.5) for x, y in points]
    return [(x - 0.5, y - 0.5) for x, y in turn_points(centred, k, width, height)]


def to_storage_pixels(points: Iterable[Sequence[float]], video: VideoInfo) -> list[tuple[float, float]]:
    """Like :func:`to_storage_points` for pixel-centre coordinates: a polygon turns onto the same pixels."""
    return turn_pixels(points, video.quarter_turns, video.width, video.height)


def to_storage_rect(x: int, y: int, width: int, height: int, video: VideoInfo) -> tuple[int, int, int, int]:
    """A rectangle ``(x, y, width, height)`` on the displayed frame as one on the stored frame.

    The part outside the displayed frame is cut off first (it is nowhere on the stored frame either).
    """
    dw, dh = video.display_size
    x0, y0, x1, y1 = max(0, x), max(0, y), min(dw, x + width), min(dh, y + height)
    (ax, ay), (bx, by) = to_storage_points([(x0, y0), (x1, y1)], video)
    sx, sy = round(min(ax, bx)), round(min(ay, by))
    return sx, sy, round(max(ax, bx)) - sx, round(max(ay, by)) - sy


def to_storage_azimuth(azimuth: float, video: VideoInfo) -> float:
    """A light direction (degrees, 0 = from the right, 90 = from the top of the displayed frame) on the
    stored frame."""
    return (azimuth - video.rotation) % 360


def to_storage_image(image: np.ndarray, video: VideoInfo) -> np.ndarray:
    """An image (still, mask frame) the user made on the displayed frame, turned to storage orientation.

    Only an image the size of the displayed frame is turned; one the size of the stored frame when that
    differs (a frame grabbed without the tag applied) is taken as stored, and any other size is returned
    unchanged for the caller to refuse or resize.
    """
    k = video.quarter_turns
    h, w = image.shape[:2]
    if k and (w, h) == video.display_size:
        return np.ascontiguousarray(np.rot90(image, k=-k))
    return image


def box_to_storage(box: tuple[int, int, int, int], video: VideoInfo) -> tuple[int, int, int, int]:
    """A track box: the tracker follows the quad of its corners, drawn on pixel centres like a polygon."""
    x, y, w, h = box
    (ax, ay), (bx, by) = to_storage_pixels([(x, y), (x + w, y + h)], video)
    sx, sy = round(min(ax, bx)), round(min(ay, by))
    return sx, sy, round(max(ax, bx)) - sx, round(max(ay, by)) - sy
