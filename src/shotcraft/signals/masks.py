"""Lock masks per frame: rectangles, polygons, mask clips or stills, tracked regions, people and faces.

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

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from shotcraft.spec import FacesLock, MaskVideoLock, PeopleLock, PolygonLock, RectLock, TrackLock

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


def rect_mask(width: int, height: int, x: int, y: int, w: int, h: int) -> np.ndarray:
    """A hard rectangular mask, clipped to the frame."""
    mask = np.zeros((height, width), np.float32)
    mask[max(0, y) : min(height, y + h), max(0, x) : min(width, x + w)] = 1.0
    return mask


def polygon_mask(width: int, height: int, points: list[tuple[float, float]]) -> np.ndarray:
    """A hard polygon mask (pixel centres inside the polygon are 1)."""
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
    distance = cv2.distanceTransform((~hard).astype(np.uint8), cv2.DIST_L2, 5)
    t = np.clip(1.0 - distance / float(radius), 0.0, 1.0)
    soft = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return np.maximum(soft, mask.astype(np.float32))


def read_mask_image(path: Path, width: int, height: int) -> np.ndarray:
    """A mask still (white = locked) as a float mask; grey levels become partial locks."""
    with Image.open(path) as img:
        array = np.asarray(img.convert("L"), np.float32) / 255.0
    if array.shape != (height, width):
        raise ValueError(
            f"mask {path.name} is {array.shape[1]}x{array.shape[0]}, the clip is {width}x{height}"
        )
    return array


def _mask_clip_frames(path: Path, width: int, height: int, count: int) -> Iterator[np.ndarray]:
    try:
        yield from _repeat(read_mask_image(path, width, height), count)
        return
    except (UnidentifiedImageError, OSError):
        pass
    from shotcraft.media.read import VideoReader

    reader = VideoReader(path)
    for frame in reader.frames(0, count):
        # Threshold lossy-compressed mask clips so codec noise near 0/255 does not make partial locks.
        grey = frame.mean(axis=2) / 255.0
        grey[grey > 0.98] = 1.0
        grey[grey < 0.02] = 0.0
        yield grey.astype(np.float32)


def _repeat(mask: np.ndarray, count: int) -> Iterator[np.ndarray]:
    for _ in range(count):
        yield mask


#: Extra mask providers for lock kinds computed from the footage (tracks, people, faces). Each takes the
#: plan, the lock and a reader and yields one hard mask per frame. Registered by the modules that compute
#: them so this module stays free of their heavy imports.
MaskProvider = Callable[["TransformPlan", object, "VideoReader"], Iterator[np.ndarray]]
PROVIDERS: dict[type, MaskProvider] = {}


def register_provider(kind: type) -> Callable[[MaskProvider], MaskProvider]:
    def decorator(fn: MaskProvider) -> MaskProvider:
        PROVIDERS[kind] = fn
        return fn

    return decorator


def _load_provider(kind: type) -> MaskProvider:
    if kind not in PROVIDERS:
        # Importing the module registers its provider.
        if kind is TrackLock:
            import shotcraft.signals.track
        elif kind in (PeopleLock, FacesLock):
            import shotcraft.signals.segment  # noqa: F401
    if kind not in PROVIDERS:
        raise NotImplementedError(f"{kind.__name__} locks are not available in this install")
    return PROVIDERS[kind]


def lock_masks(plan: TransformPlan, reader: VideoReader) -> Iterator[np.ndarray] | None:
    """The combined, feathered lock mask for every frame of the plan, or None when nothing is locked."""
    locks = plan.spec.locks
    if not locks:
        return None
    width, height, count = plan.video.width, plan.video.height, plan.frame_count
    streams: list[tuple[Iterator[np.ndarray], float]] = []
    for lock in locks:
        # Fixed shapes are feathered once; masks that change per frame are feathered as they come.
        if isinstance(lock, RectLock):
            fixed = rect_mask(width, height, lock.x, lock.y, lock.width, lock.height)
            streams.append((_repeat(feather(fixed, lock.feather), count), 0.0))
        elif isinstance(lock, PolygonLock):
            fixed = polygon_mask(width, height, lock.points)
            streams.append((_repeat(feather(fixed, lock.feather), count), 0.0))
        elif isinstance(lock, MaskVideoLock):
            streams.append((_mask_clip_frames(lock.path, width, height, count), lock.feather))
        else:
            streams.append((_load_provider(type(lock))(plan, lock, reader), lock.feather))
    return _combine(streams, count)


def _combine(streams: list[tuple[Iterator[np.ndarray], float]], count: int) -> Iterator[np.ndarray]:
    for _ in range(count):
        combined = None
        for stream, radius in streams:
            mask = feather(next(stream), radius) if radius else next(stream)
            combined = mask if combined is None else np.maximum(combined, mask)
        assert combined is not None
        yield combined
