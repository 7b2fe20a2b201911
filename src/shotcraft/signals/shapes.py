"""Mask shapes: rectangles, polygons, mask stills and clips, and the outward feather.

A mask is a float32 ``(H, W)`` array in ``[0, 1]``: 1 means "keep the source pixel exactly". Feathering
only ever grows *outwards* from the locked region, so every pixel the user locked stays 1 (exact) and
the blend happens in a band just outside it.

>>> import numpy as np
>>> m = rect_mask(64, 48, 10, 10, 20, 20)
>>> float(m[10:30, 10:30].min()), float(m.sum())
(1.0, 400.0)
>>> f = feather(m, 4)
>>> bool((f[10:30, 10:30] == 1).all()), bool(0 < f[8, 20] < 1)
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from shotcraft.media.orientation import to_storage_image

if TYPE_CHECKING:
    from shotcraft.media.probe import VideoInfo


def rect_mask(width: int, height: int, x: int, y: int, w: int, h: int) -> np.ndarray:
    """A hard rectangular mask, clipped to the frame."""
    mask = np.zeros((height, width), np.float32)
    mask[max(0, y) : min(height, y + h), max(0, x) : min(width, x + w)] = 1.0
    return mask


def polygon_mask(width: int, height: int, points: list[tuple[float, float]]) -> np.ndarray:
    """A hard polygon mask (pixel centres inside the polygon are 1)."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    pts = np.round(np.asarray(points, np.float64) * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(np.float32)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften a mask outwards by ``radius`` pixels; pixels already at 1 stay exactly 1.

    The falloff is a smoothstep of the distance to the locked region, so it is monotone and reaches 0
    exactly at ``radius``.
    """
    if radius <= 0:
        return mask.astype(np.float32)
    hard = mask >= 1.0
    if not hard.any():
        return mask.astype(np.float32)
    import cv2

    distance = cv2.distanceTransform((~hard).astype(np.uint8), cv2.DIST_L2, 5)
    t = np.clip(1.0 - distance / float(radius), 0.0, 1.0)
    soft = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return np.maximum(soft, mask.astype(np.float32))


def mask_file_frames(path: Path, video: VideoInfo, count: int) -> Iterator[np.ndarray]:
    """A mask still or clip (white = 1) as one float mask per frame, in the clip's storage orientation.

    Masks are made on the frame as a player shows it: one the size of the displayed frame is turned to
    storage orientation (a mask clip's own rotation tag is applied first, so a mask cut from a take of
    the same clip lines up); one the size of the stored frame is taken as stored.
    """
    try:
        with Image.open(path) as img:
            still = np.asarray(img.convert("L"), np.float32) / 255.0
    except (UnidentifiedImageError, OSError):
        still = None
    if still is not None:
        yield from repeat(_in_storage(still, path, video), count)
        return
    from shotcraft.media.read import VideoReader

    reader = VideoReader(path)
    turns = reader.video.quarter_turns
    for frame in reader.frames(0, count):
        # Threshold lossy-compressed mask clips so codec noise near 0/255 does not make partial locks.
        grey = frame.mean(axis=2) / 255.0
        grey[grey > 0.98] = 1.0
        grey[grey < 0.02] = 0.0
        yield _in_storage(np.rot90(grey.astype(np.float32), turns), path, video)


def _in_storage(mask: np.ndarray, path: Path, video: VideoInfo) -> np.ndarray:
    mask = to_storage_image(mask, video)
    if mask.shape != (video.height, video.width):
        shown = video.display_size
        raise ValueError(
            f"mask {path.name} is {mask.shape[1]}x{mask.shape[0]}, the clip is {shown[0]}x{shown[1]} as shown"
        )
    return mask


def repeat(mask: np.ndarray, count: int) -> Iterator[np.ndarray]:
    for _ in range(count):
        yield mask
