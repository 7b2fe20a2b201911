"""Product swap: put a reference image (new packaging, screen content, poster) onto a tracked planar region.

Per frame, the reference image is perspective-warped onto the region's four tracked corners and, with
``match_lighting``, made to look filmed with the shot:

- **shading** — the source region's low-frequency luminance (a normalised blur inside the region, so the
  background does not bleed in), relative to its mean on the track's reference frame, multiplies the new
  image (the same, for a power-law curve, as in linear light): shadows, gradients and light changes over time carry over;
- **motion blur** — along the region's own motion from the track (half the frame-to-frame travel, a 180°
  shutter);
- **noise** — grain of the strength measured in the source region (a robust Immerkær estimate).

The edge is feathered inwards over a pixel or two; occluders (``people`` or a mask file) stay in front.
Pixels outside the region are the incoming frame's own, untouched.

An image exactly the clip's size is taken as an **edited frame** instead (the object is not planar): the
classic restyle propagates that keyframe along the source's motion, and only the object's tracked region
takes the result.

>>> import numpy as np
>>> frame = np.full((60, 80, 3), 100, np.uint8)
>>> art = np.full((20, 30, 3), 200, np.uint8)
>>> corners = np.array([[20, 10], [60, 12], [58, 40], [22, 42]], np.float64)
>>> out = paste_planar(frame, art, corners)
>>> int(out[25, 40, 0]), bool((out[:5] == frame[:5]).all())
(200, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.errors import EngineUnavailable
from shotcraft.media.stills import read_image
from shotcraft.plan import PlannedKeyframe, is_edited_frame, resolve_time
from shotcraft.progress import Progress, no_progress
from shotcraft.signals.shapes import mask_file_frames, polygon_mask
from shotcraft.signals.track import Track, load_track, track_region
from shotcraft.signals.tracker import motion_blur_kernel
from shotcraft.spec import SwapOp

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

#: Share of the region's diagonal used as the blur radius of the transferred shading: broad light, not print.
SHADING_SCALE = 0.08
#: Fraction of the frame interval the shutter is open (180° shutter).
SHUTTER = 0.5


def swap(
    plan: TransformPlan,
    op: SwapOp,
    frames: Iterable[np.ndarray],
    reader: VideoReader,
    progress: Progress = no_progress,
) -> Iterator[np.ndarray]:
    """Yield the incoming ``frames`` with the region replaced by ``op.image`` (see the module docstring).

    The region is tracked (or its track file read and checked) before the first frame comes out, so a bad
    region fails early with a clear message.
    """
    video = plan.video
    image = read_image(op.image, "swap image")
    track = _region_track(plan, op, reader, progress)
    lost = plan.frame_count - track.tracked_count
    if lost:
        plan.notices.append(
            f"swap: the region is not visible on {lost} frame(s); those frames are left as they were"
        )
    occluders = _occluder_masks(op, plan, reader)
    if is_edited_frame(image, video):
        edited = _propagated_keyframe(plan, op, reader, progress)
        return _keyframe_swap(track, frames, edited, occluders)
    return _planar_swap(plan, track, image, frames, occluders, op.match_lighting, progress)


def _region_track(plan: TransformPlan, op: SwapOp, reader: VideoReader, progress: Progress) -> Track:
    if op.track_file is not None:
        return load_track(op.track_file, plan.video)
    assert op.corners is not None  # the spec's validator guarantees one of the two
    at = resolve_time(op.at, plan.video, "swap reference frame")
    return track_region(reader, np.asarray(op.corners, np.float64), at, progress=progress)


# ---------------------------------------------------------------------------------------------------------
# Planar swap


def paste_planar(
    frame: np.ndarray,
    image: np.ndarray,
    corners: np.ndarray,
    *,
    occluder: np.ndarray | None = None,
    appearance: _Appearance | None = None,
    feather: float = 1.0,
) -> np.ndarray:
    """``frame`` with ``image`` warped onto the quad ``corners``; pixels outside the quad are untouched."""
    h, w = frame.shape[:2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 3
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return frame
    ih, iw = image.shape[:2]
    art = _prefiltered(image, corners)
    scale = art.shape[1] / iw
    source = np.array([[0, 0], [iw, 0], [iw, ih], [0, ih]], np.float32) * scale
    local = (corners - [x0, y0]).astype(np.float32)
    homography = cv2.getPerspectiveTransform(source, local)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(
        art, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    coverage = cv2.warpPerspective(
        np.ones(art.shape[:2], np.float32), homography, size, flags=cv2.INTER_LINEAR, borderValue=0
    )
    alpha = _feather_inwards(coverage, feather)
    patch = frame[y0:y1, x0:x1]
    new = warped.astype(np.float32)
    if appearance is not None:
        new, alpha = appearance.apply(new, alpha, patch, local)
    if occluder is not None:
        alpha = alpha * (1.0 - occluder[y0:y1, x0:x1])
    out = frame.copy()
    touched = alpha > 0
    blended = patch.astype(np.float32) * (1 - alpha[..., None]) + new * alpha[..., None]
    region = out[y0:y1, x0:x1]
    region[touched] = np.clip(blended[touched] + 0.5, 0, 255).astype(np.uint8)
    return out


def _prefiltered(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Shrink a reference image much larger than its place on screen first, so the warp does not alias."""
    ih, iw = image.shape[:2]
    edges = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
    target = max(edges[0], edges[2]) / iw, max(edges[1], edges[3]) / ih
    scale = max(target)
    if scale >= 0.5:
        return image
    size = (max(2, round(iw * scale * 2)), max(2, round(ih * scale * 2)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _feather_inwards(coverage: np.ndarray, radius: float) -> np.ndarray:
    """Soften the edge inwards only, so nothing outside the warped image's footprint changes."""
    if radius <= 0:
        return coverage
    inside = (coverage > 0.999).astype(np.uint8)
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    ramp = np.clip((distance + 0.5) / (radius + 0.5), 0, 1)
    return np.where(inside > 0, ramp, coverage).astype(np.float32)


@dataclasses.dataclass
class _Appearance:
    """What makes pasted artwork look filmed: the source region's shading, its motion blur and its grain."""

    reference_mean: float
    velocity: np.ndarray  # (2,) pixels per frame of the region's centre
    seed: int

    def apply(
        self, new: np.ndarray, alpha: np.ndarray, patch: np.ndarray, corners: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        inside = (alpha > 0.5).astype(np.float32)
        luma = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY).astype(np.float32)
        diagonal = float(np.linalg.norm(corners.max(axis=0) - corners.min(axis=0)))
        sigma = max(1.0, SHADING_SCALE * diagonal)
        # Normalised convolution: the blur averages region pixels only, so the background never leaks in.
        weight = _wide_blur(inside, sigma)
        shading = _wide_blur(luma * inside, sigma) / np.maximum(weight, 1e-3)
        # A gain applied in linear light and converted back through a power-law curve is the same gain
        # in display values, so no round trip through linear light is needed.
        gain = (shading / max(self.reference_mean, 1.0)).clip(0, 2)
        new = new * gain[..., None]
        length = float(np.linalg.norm(self.velocity)) * SHUTTER
        if length >= 1.0:
            kernel = motion_blur_kernel(length, math.atan2(self.velocity[1], self.velocity[0]))
            new = cv2.filter2D(new, -1, kernel, borderType=cv2.BORDER_REPLICATE)
            alpha = cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT) * (alpha > 0)
        noise = estimate_noise(luma, inside > 0)
        if noise > 0.3:
            rng = np.random.default_rng(self.seed)
            new = new + rng.normal(0.0, noise, new.shape[:2]).astype(np.float32)[..., None]
        return new, alpha


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of large ``sigma``, computed on a smaller copy (the result is smooth anyway)."""
    factor = max(1.0, sigma / 4)
    if factor == 1.0:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def estimate_noise(luma: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Standard deviation of the sensor/codec noise in a grey image (Immerkær's operator, median-based so
    texture weighs less).

    >>> rng = np.random.default_rng(0)
    >>> round(estimate_noise(128 + rng.normal(0, 4, (200, 200)).astype(np.float32)), 0)
    4.0
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(luma.astype(np.float32), -1, kernel))[1:-1, 1:-1]
    if mask is not None:
        response = response[mask[1:-1, 1:-1]]
    if response.size == 0:
        return 0.0
    # The operator's gain on white noise is 6; the median of |N(0, 1)| is 0.6745.
    return float(np.median(response)) / (6 * 0.6745)


def _planar_swap(
    plan: TransformPlan,
    track: Track,
    image: np.ndarray,
    frames: Iterable[np.ndarray],
    occluders: Iterator[np.ndarray] | None,
    match_lighting: bool,
    progress: Progress,
) -> Iterator[np.ndarray]:
    reference_mean = 0.0
    if match_lighting:
        from shotcraft.media.read import VideoReader

        reference = VideoReader(plan.source.path, plan.source).frame_at(track.reference)
        corners = track.corners_at(track.reference)
        assert corners is not None
        region = polygon_mask(plan.video.width, plan.video.height, [tuple(p) for p in corners]) > 0
        reference_mean = float(cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY)[region].mean())
    count = plan.frame_count
    for index, frame in enumerate(frames):
        occluder = next(occluders) if occluders is not None else None
        corners = track.corners_at(index)
        if corners is None:
            yield frame
        else:
            appearance = None
            if match_lighting:
                appearance = _Appearance(reference_mean, _velocity(track, index), seed=index)
            yield paste_planar(frame, image, corners, occluder=occluder, appearance=appearance)
        progress("swap", index + 1, count)


def _velocity(track: Track, index: int) -> np.ndarray:
    """The region centre's motion per frame around ``index`` (central difference where both sides exist)."""
    centre = {i: c.mean(axis=0) for i in (index - 1, index, index + 1) if 0 <= i < track.frame_count
              and (c := track.corners_at(i)) is not None}  # fmt: skip
    before, after = centre.get(index - 1), centre.get(index + 1)
    if before is not None and after is not None:
        return (after - before) / 2
    if after is not None:
        return after - centre[index]
    if before is not None:
        return centre[index] - before
    return np.zeros(2)


# ---------------------------------------------------------------------------------------------------------
# Occluders and the keyframe (non-planar) swap


def _occluder_masks(op: SwapOp, plan: TransformPlan, reader: VideoReader) -> Iterator[np.ndarray] | None:
    """Per-frame masks of what stays in front of the swapped region (1 = in front), or None."""
    if op.occluders == "none":
        return None
    if op.occluders == "people":
        from shotcraft.signals.mediapipe_models import SELFIE_MODEL, model_path
        from shotcraft.signals.people import people_masks

        model_path(SELFIE_MODEL)  # fail now, not at the first frame
        return people_masks(reader.frames(), plan.video.quarter_turns)
    # The plan checked the file's size and length; it is read in the clip's storage orientation.
    return mask_file_frames(Path(op.occluders), plan.video, plan.frame_count)


def _propagated_keyframe(
    plan: TransformPlan, op: SwapOp, reader: VideoReader, progress: Progress
) -> Iterator[np.ndarray]:
    """The edited frame carried through the clip by the classic restyle's keyframe propagation."""
    try:
        from shotcraft.engines.classic.restyle import restyle
    except ModuleNotFoundError as exc:
        raise EngineUnavailable(
            f"a keyframe swap needs the classic restyle ({exc.name} is missing)"
        ) from None
    at = resolve_time(op.at, plan.video, "swap reference frame")
    key = PlannedKeyframe(index=at, image=op.image, at=op.at)
    return restyle(dataclasses.replace(plan, keyframes=[key]), None, reader, progress)


def _keyframe_swap(
    track: Track,
    frames: Iterable[np.ndarray],
    edited: Iterator[np.ndarray],
    occluders: Iterator[np.ndarray] | None,
) -> Iterator[np.ndarray]:
    for index, (frame, styled) in enumerate(zip(frames, edited, strict=True)):
        occluder = next(occluders) if occluders is not None else None
        corners = track.corners_at(index)
        if corners is None:
            yield frame
            continue
        h, w = frame.shape[:2]
        coverage = polygon_mask(w, h, [tuple(p) for p in corners])
        alpha = _feather_inwards(coverage, 2.0)
        if occluder is not None:
            alpha = alpha * (1.0 - occluder)
        touched = alpha > 0
        out = frame.copy()
        blended = (
            frame.astype(np.float32) * (1 - alpha[..., None]) + styled.astype(np.float32) * alpha[..., None]
        )
        out[touched] = np.clip(blended[touched] + 0.5, 0, 255).astype(np.uint8)
        yield out
