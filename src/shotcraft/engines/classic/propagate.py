"""Carrying a keyframe's *residual* along the source's motion, sampled from the keyframe once per frame.

Keyframe restyle synthesises every frame from a look learned from the keyframes
(:mod:`~shotcraft.engines.classic.look_model`). What the learned look cannot explain, the keyframe's
*residual* (keyframe minus the learned look on its own source frame: a painter's particular stroke, a
hand-drawn mark), is carried along the flow by a :class:`Chain`, so the keyframe is hit exactly and its
particulars stay on the objects they were painted on.

A chain's state per pixel, at the flow's working size, is

- ``offset = (dx, dy)``: where in the keyframe this pixel comes from, as an offset in full-size pixels.
  Offsets are composed frame to frame and the keyframe is sampled *once* per output frame, so resampling
  never accumulates: a residual carried 200 frames is as sharp as at the keyframe;
- ``share``: how much of the pixel still comes from the keyframe. It falls where the flow's
  forward-backward check fails (occlusion, disocclusion, pixels entering the frame) and, below motion
  adherence 9, by a constant factor per frame.

:func:`combine` adds the (one or two) carried residuals to the synthesised frame.

>>> import numpy as np
>>> guide = np.zeros((6, 8, 3), np.uint8)
>>> chain = Chain((8, 6), (16, 12), keep=1.0, guide=guide)
>>> still = np.zeros((6, 8, 2), np.float32)
>>> chain.step(still, still, guide)
>>> residual = np.full((12, 16, 3), 10.0, np.float32)
>>> sampled, share = chain.sample(residual)
>>> float(sampled.mean()), float(share.min())
(10.0, 1.0)
>>> out = np.empty((12, 16, 3), np.uint8)
>>> combine(np.full((12, 16, 3), 100.0, np.float32), [(sampled, share, 1.0)], out)
>>> int(out[0, 0, 0])
110
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numba import njit

#: Forward-backward disagreement (working-size pixels) below which flow is fully trusted.
FLOW_TOLERANCE = 0.5
#: Grey-level difference (0..255) between the keyframe's source brought along the flow and the current
#: frame up to which a carried residual is fully trusted; at twice this it is dropped.
GUIDE_TOLERANCE = 12.0
#: Floor on a chain's share when two chains blend, so where neither holds they still blend by time.
_SHARE_FLOOR = 0.02


@lru_cache(maxsize=8)
def pixel_grid(width: int, height: int) -> np.ndarray:
    """``(height, width, 2)`` float32 pixel coordinates (x, y): the identity map for ``cv2.remap``."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def _grey(frame: np.ndarray) -> np.ndarray:
    """Float32 grey levels of an RGB frame (a grey one as it is)."""
    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32)


def consistency(to_prev: np.ndarray, back_at_prev: np.ndarray) -> np.ndarray:
    """Forward-backward confidence in ``[0, 1]`` of a flow ``to_prev`` given the reverse flow sampled where
    it points (Sundaram et al. 2010; the tolerance grows with the motion); 0 for pixels that come from
    outside the frame."""
    height, width = to_prev.shape[:2]
    error = np.sum((to_prev + back_at_prev) ** 2, axis=-1)
    limit = 0.01 * (np.sum(to_prev**2, axis=-1) + np.sum(back_at_prev**2, axis=-1)) + FLOW_TOLERANCE
    confidence = np.clip(1.0 - error / (2.0 * limit), 0.0, 1.0)
    where = to_prev + pixel_grid(width, height)
    inside = (where[..., 0] >= -0.5) & (where[..., 0] <= width - 0.5)
    inside &= (where[..., 1] >= -0.5) & (where[..., 1] <= height - 0.5)
    return np.where(inside, confidence, 0.0).astype(np.float32)


class Chain:
    """One keyframe carried frame by frame; the state lives at the flow's working size ``work`` (w, h),
    the output at ``full`` (w, h). ``keep`` is the share kept per frame where the flow holds."""

    def __init__(self, work: tuple[int, int], full: tuple[int, int], keep: float, guide: np.ndarray):
        width, height = work
        self.work, self.full, self.keep = work, full, keep
        self.guide = _grey(guide)
        self.scale = np.array([full[0] / width, full[1] / height], np.float32)
        self.offset = np.zeros((height, width, 2), np.float32)
        self.share = np.ones((height, width), np.float32)

    def step(self, to_prev: np.ndarray, from_prev: np.ndarray, current: np.ndarray) -> None:
        """Move to the next frame, given the flow from it to the previous one and the reverse (working size)
        and the frame itself (grey or RGB at working size).

        The share falls where the flow's forward-backward check fails, and where the keyframe's source,
        brought here, does not look like ``current``: where the flow drifted, the residual would land on the
        wrong shapes and draw double edges. Both only ever lower it, so a residual never pops back."""
        where = to_prev + pixel_grid(*self.work)

        def pull(image: np.ndarray) -> np.ndarray:
            return cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        confidence = consistency(to_prev, pull(from_prev))
        self.offset = pull(self.offset) + to_prev * self.scale
        brought = cv2.remap(
            self.guide,
            self.offset / self.scale + pixel_grid(*self.work),
            None,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        difference = cv2.blur(np.abs(brought - _grey(current)), (3, 3))
        agreement = np.clip(2.0 - difference / GUIDE_TOLERANCE, 0.0, 1.0)
        self.share = pull(self.share) * confidence * agreement * np.float32(self.keep)

    @property
    def alive(self) -> bool:
        """Whether any pixel still takes a visible share (above 1 %) from the keyframe."""
        return bool(self.share.max() > 0.01)

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """The chain's state, ``(offset, share)``, to store and :meth:`restore` later."""
        return self.offset, self.share

    def restore(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.offset, self.share = state

    def sample(self, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``texture`` (full size, the keyframe's residual) sampled where each output pixel comes from, and
        the full-size share."""
        width, height = self.full
        position = cv2.resize(self.offset, (width, height), interpolation=cv2.INTER_LINEAR)
        position += pixel_grid(width, height)
        sampled = cv2.remap(texture, position, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        share = cv2.resize(self.share, (width, height), interpolation=cv2.INTER_LINEAR)
        return sampled, share


def combine(
    synthesis: np.ndarray, carried: list[tuple[np.ndarray, np.ndarray, float]], out: np.ndarray
) -> None:
    """``out`` (uint8) = ``synthesis`` (float32 RGB in 0..255) plus up to two carried residuals.

    Each entry of ``carried`` is ``(residual, share, time_weight)``. Two chains blend by time weight times
    share (so content one keyframe never saw comes from the other); the blended residual is scaled by the
    blended share, so where neither chain holds, the synthesis stands alone.
    """
    empty = np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), np.float32), 0.0
    first, second = ([*list(carried), empty, empty])[:2]
    _combine(synthesis, *first, *second, out)


@njit(cache=True, fastmath=True, nogil=True)
def _combine(synthesis, residual_a, share_a, time_a, residual_b, share_b, time_b, out) -> None:
    h, w = out.shape[:2]
    has_a, has_b = residual_a.shape[0] == h and time_a > 0.0, residual_b.shape[0] == h and time_b > 0.0
    floor = np.float32(_SHARE_FLOOR)
    for y in range(h):
        for x in range(w):
            wa = np.float32(time_a) * (share_a[y, x] + floor) if has_a else np.float32(0.0)
            wb = np.float32(time_b) * (share_b[y, x] + floor) if has_b else np.float32(0.0)
            total = wa + wb
            for c in range(3):
                value = synthesis[y, x, c]
                if total > 0.0:
                    lift = np.float32(0.0)
                    if has_a:
                        lift += wa * share_a[y, x] * residual_a[y, x, c]
                    if has_b:
                        lift += wb * share_b[y, x] * residual_b[y, x, c]
                    value += lift / total
                out[y, x, c] = np.uint8(min(max(value, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))
