"""The lock mask of every frame: the plan's locks (shapes, mask clips, tracked regions, people, faces)
combined and feathered outwards, so every locked pixel stays exactly 1.

Shapes and mask files are drawn by :mod:`shotcraft.signals.shapes`; tracked regions come from
:mod:`shotcraft.signals.track`, people from :mod:`shotcraft.signals.people` and faces from
:mod:`shotcraft.signals.faces`, imported only when a plan has such a lock (they load OpenCV trackers and
ONNX models).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from shotcraft.signals.shapes import feather, mask_file_frames, polygon_mask, rect_mask, repeat
from shotcraft.spec import FacesLock, Lock, MaskVideoLock, PeopleLock, PolygonLock, RectLock, TrackLock

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


def lock_masks(
    plan: TransformPlan, reader: VideoReader, locks: Sequence[Lock] | None = None
) -> Iterator[np.ndarray] | None:
    """The combined, feathered lock mask for every frame of the plan, or None when nothing is locked.

    The locks come from :attr:`~shotcraft.plan.TransformPlan.locks` (already in storage orientation), or
    are ``locks``, some of them, where they are blended apart.
    """
    locks = plan.locks if locks is None else locks
    if not locks:
        return None
    width, height, count = plan.video.width, plan.video.height, plan.frame_count
    streams: list[tuple[Iterator[np.ndarray], float]] = []
    for lock in locks:
        # Fixed shapes are feathered once; masks that change per frame are feathered as they come.
        if isinstance(lock, RectLock):
            fixed = rect_mask(width, height, lock.x, lock.y, lock.width, lock.height)
            streams.append((repeat(feather(fixed, lock.feather), count), 0.0))
        elif isinstance(lock, PolygonLock):
            fixed = polygon_mask(width, height, lock.points)
            streams.append((repeat(feather(fixed, lock.feather), count), 0.0))
        elif isinstance(lock, MaskVideoLock):
            streams.append((mask_file_frames(lock.path, plan.video, count), lock.feather))
        else:
            streams.append((_footage_masks(plan, lock, reader), lock.feather))
    return _combine(streams, count)


def _footage_masks(plan: TransformPlan, lock: Lock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Hard masks of a lock computed from the footage: a tracked region, people or faces."""
    if isinstance(lock, TrackLock):
        from shotcraft.signals.track import track_lock_masks

        return track_lock_masks(plan, lock, reader)
    if isinstance(lock, PeopleLock):
        from shotcraft.signals.people import people_lock_masks

        return people_lock_masks(plan, lock, reader)
    if isinstance(lock, FacesLock):
        from shotcraft.signals.faces import faces_lock_masks

        return faces_lock_masks(plan, lock, reader)
    raise TypeError(f"no mask for a {type(lock).__name__}")


def _combine(streams: list[tuple[Iterator[np.ndarray], float]], count: int) -> Iterator[np.ndarray]:
    for _ in range(count):
        combined = None
        for stream, radius in streams:
            mask = feather(next(stream), radius) if radius else next(stream)
            combined = mask if combined is None else np.maximum(combined, mask)
        assert combined is not None
        yield combined
