"""Dense optical flow (OpenCV DIS), warping by flow, forward-backward occlusion confidence (scene
cuts, which use them: :mod:`shotcraft.signals.cuts`).

Convention: ``flow = compute_flow(a, b)`` gives, for each pixel ``p`` of ``a``, the displacement to where
it is in ``b`` (``a[p] ≈ b[p + flow[p]]``). :func:`warp` with that flow pulls ``b`` back onto ``a``'s grid.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
>>> import cv2; a = cv2.GaussianBlur(a, (0, 0), 2)
>>> b = np.roll(a, 3, axis=1)  # everything moves 3 px right
>>> flow = compute_flow(a, b, scale=1.0, preset="medium")
>>> round(float(np.median(flow[..., 0])), 1), abs(round(float(np.median(flow[..., 1])), 1))
(3.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

FlowPreset = Literal["ultrafast", "fast", "medium"]
_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_grey(image: np.ndarray) -> np.ndarray:
    """The grey levels of an RGB frame (a grey one as it is), uint8 as given."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


@dataclass(frozen=True)
class FlowSettings:
    """How flow is computed: the DIS ``preset`` and the ``scale`` it runs at (then upsampled).

    The settings are part of a flow cache's key, so two operations asking for the same settings share flow.

    >>> FlowSettings().key
    'dis-fast-s0.5'
    """

    scale: float = 0.5
    preset: FlowPreset = "fast"

    def __post_init__(self) -> None:
        if not 0.05 <= self.scale <= 1.0:
            raise ValueError(f"flow scale {self.scale} is outside 0.05..1")
        if self.preset not in _PRESETS:
            raise ValueError(f"flow preset {self.preset!r} is unknown: use {', '.join(_PRESETS)}")

    @property
    def key(self) -> str:
        return f"dis-{self.preset}-s{self.scale:g}"

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the flow is computed at."""
        if self.scale == 1.0:
            return width, height
        return max(8, round(width * self.scale)), max(8, round(height * self.scale))

    def working_frame(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` at :meth:`working_size` (itself when that is its size)."""
        height, width = frame.shape[:2]
        size = self.working_size(width, height)
        return frame if size == (width, height) else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def compute_flow_lowres(a: np.ndarray, b: np.ndarray, settings: FlowSettings = FlowSettings()) -> np.ndarray:
    """Flow from ``a`` to ``b`` at the settings' working size, in *working-size* pixels (what a cache stores;
    :func:`upsample_flow` brings it to full resolution)."""
    ga, gb = to_grey(a), to_grey(b)
    h, w = ga.shape
    size = settings.working_size(w, h)
    if size != (w, h):
        ga = cv2.resize(ga, size, interpolation=cv2.INTER_AREA)
        gb = cv2.resize(gb, size, interpolation=cv2.INTER_AREA)
    dis = cv2.DISOpticalFlow.create(_PRESETS[settings.preset])
    return dis.calc(ga, gb, None)


def upsample_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """A working-size flow as ``(height, width, 2)`` float32 in full-resolution pixels."""
    h, w = flow.shape[:2]
    flow = np.asarray(flow, dtype=np.float32)
    if (w, h) == (width, height):
        return flow
    up = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    up[..., 0] *= width / w
    up[..., 1] *= height / h
    return up


def compute_flow(
    a: np.ndarray, b: np.ndarray, *, scale: float = 0.5, preset: FlowPreset = "fast"
) -> np.ndarray:
    """Flow from frame ``a`` to frame ``b`` as ``(H, W, 2)`` float32 pixels at full resolution.

    ``scale`` < 1 computes on a downscaled pair and upsamples (3-4x faster at half size, the error
    stays sub-pixel on real footage).
    """
    h, w = a.shape[:2]
    return upsample_flow(compute_flow_lowres(a, b, FlowSettings(scale, preset)), w, h)


def sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``(map_x, map_y)`` pair for ``cv2.remap`` that samples at ``p + flow[p]``."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, *, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Pull ``image`` (the flow's target frame) back onto the flow's source grid."""
    map_x, map_y = sample_grid(flow)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=border)


def camera_motion(flow: np.ndarray, *, step: int = 12) -> np.ndarray | None:
    """The camera's motion in ``flow``: the homography (3x3, source → target pixels) that most of a grid of
    flow samples (every ``step`` px) agree on (RANSAC, 1 px), or None where fewer than 8 samples exist or
    no homography fits."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    if ys.size < 8:
        return None
    source = np.c_[xs.ravel(), ys.ravel()].astype(np.float32)
    target = source + flow[ys.ravel(), xs.ravel()]
    camera, _ = cv2.findHomography(source, target, cv2.RANSAC, 1.0)
    return camera


def independent_motion(flow: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
    """How far each pixel moves against the background, in pixels: ``flow`` minus the camera's motion
    (``camera``, by default :func:`camera_motion` of the flow), so a pan, tilt or zoom reads as 0 and only
    things moving in the scene stand out. Without a camera motion the flow itself is returned.

    >>> flow = np.zeros((64, 96, 2), np.float32); flow[..., 0] = 3.0  # the camera pans 3 px ...
    >>> flow[20:30, 40:50] = (3.0, -4.0)  # ... and something moves 4 px up against it
    >>> moving = independent_motion(flow)
    >>> round(float(moving[25, 45]), 1), round(float(moving[5, 5]), 1)
    (4.0, 0.0)
    """
    camera = camera_motion(flow) if camera is None else camera
    if camera is None:
        return np.linalg.norm(flow, axis=-1)
    h, w = flow.shape[:2]
    grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
    moved = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), camera).reshape(h, w, 2) - grid
    return np.linalg.norm(flow - moved, axis=-1).astype(np.float32)


def camera_difference(image: np.ndarray, other: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """``|image - other|`` (grey, float32) with ``other`` brought onto ``image`` by the camera's motion alone
    (``camera``: image → other pixels, as :func:`camera_motion` gives it), averaged over 3x3 px: small
    wherever the scene stands still, whatever a smooth flow says there."""
    h, w = image.shape[:2]
    brought = cv2.warpPerspective(
        to_grey(other), camera, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    return cv2.blur(np.abs(to_grey(image).astype(np.float32) - brought.astype(np.float32)), (3, 3))


def flow_confidence(forward: np.ndarray, backward: np.ndarray, *, tolerance: float = 0.5) -> np.ndarray:
    """Forward-backward consistency in ``[0, 1]`` per pixel of the forward flow's source frame.

    A pixel whose forward step is not undone by the backward flow at its destination is occluded (or the
    flow is wrong there): its confidence falls towards 0. The threshold grows with motion size, as in
    Sundaram et al. (2010).
    """
    back_at_dest = warp(backward, forward)
    error = np.sum((forward + back_at_dest) ** 2, axis=-1)
    magnitude = np.sum(forward**2, axis=-1) + np.sum(back_at_dest**2, axis=-1)
    limit = 0.01 * magnitude + tolerance
    return np.clip(1.0 - error / (2.0 * limit), 0.0, 1.0).astype(np.float32)


def warping_error(
    a: np.ndarray, b: np.ndarray, flow: np.ndarray, confidence: np.ndarray | None = None
) -> float:
    """Mean absolute difference between ``a`` and ``b`` warped onto it by ``flow`` (optionally weighted by
    confidence, to ignore occlusions): the temporal-consistency measure used by the scores."""
    warped = warp(b, flow).astype(np.float32)
    diff = np.abs(a.astype(np.float32) - warped)
    if diff.ndim == 3:
        diff = diff.mean(axis=-1)
    if confidence is None:
        return float(diff.mean())
    total = float(confidence.sum())
    return float((diff * confidence).sum() / total) if total > 0 else 0.0
