"""One KLT step, shared by the planar tracker (:mod:`shotcraft.signals.tracker`) and the text tracks
(:mod:`shotcraft.signals.text_tracks`): feature points followed from one frame into the next by pyramidal
Lucas-Kanade with a forward-backward check, and the homography from their reference positions to where
they are now.

>>> import cv2, numpy as np
>>> rng = np.random.default_rng(0)
>>> a = cv2.GaussianBlur((rng.random((120, 160)) * 255).astype(np.uint8), (0, 0), 1.5)
>>> b = np.roll(a, (2, 3), axis=(0, 1))  # everything moves 3 px right, 2 px down
>>> points = cv2.goodFeaturesToTrack(a, 60, 0.01, 6).reshape(-1, 2)
>>> points = points[(points > 25).all(axis=1) & (points < [135, 95]).all(axis=1)]
>>> moved = klt_step(a, b, points, points)
>>> np.round(project(points[:1], moved.homography) - points[:1], 2).tolist()
[[3.0, 2.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Lucas-Kanade's window (px), pyramid levels above full resolution and stopping rule.
WINDOW = 21
LEVELS = 3
CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
#: A point that comes back further than this (px) when followed back again is dropped.
FB_TOLERANCE = 1.0


@dataclass(frozen=True)
class KltStep:
    """Where the points that survived went: their reference positions, their new positions, and the
    homography (reference → new frame) their RANSAC inliers agree on."""

    homography: np.ndarray
    ref_points: np.ndarray
    points: np.ndarray


def project(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points through a homography, as float64."""
    flat = np.asarray(points, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(flat, homography).reshape(-1, 2)


def follow_points(
    previous: np.ndarray,
    grey: np.ndarray,
    points: np.ndarray,
    guess: np.ndarray | None = None,
    *,
    window: int = WINDOW,
    levels: int = LEVELS,
    fb_tolerance: float = FB_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """``points`` of ``previous`` followed into ``grey``: their new positions (float32) and which are
    trustworthy (found both ways, and back within ``fb_tolerance``). ``guess`` starts the search where the
    caller expects the points (fast motion); without it, at their old positions."""
    start = np.ascontiguousarray(points, np.float32).reshape(-1, 1, 2)
    lk: dict = {"winSize": (window, window), "maxLevel": levels, "criteria": CRITERIA}
    if guess is None:
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(previous, grey, start, None, **lk)
    else:
        initial = np.ascontiguousarray(guess, np.float32).reshape(-1, 1, 2).copy()
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(
            previous, grey, start, initial, flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk
        )
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(grey, previous, moved, None, **lk)
    good = (ok.ravel() == 1) & (ok_back.ravel() == 1)
    good &= np.linalg.norm((back - start).reshape(-1, 2), axis=1) < fb_tolerance
    return moved.reshape(-1, 2), good


def fit_homography(
    src: np.ndarray, dst: np.ndarray, threshold: float, min_inliers: int, method: int = cv2.RANSAC
) -> tuple[np.ndarray, np.ndarray] | None:
    """The homography taking ``src`` onto ``dst`` (robust to outliers: ``cv2.RANSAC`` or
    ``cv2.USAC_MAGSAC``) and its inlier mask, or None when fewer than ``min_inliers`` points agree."""
    if len(src) < max(4, min_inliers):
        return None
    found, mask = cv2.findHomography(
        np.asarray(src, np.float32), np.asarray(dst, np.float32), method, threshold
    )
    if found is None or mask is None:
        return None
    inliers = mask.ravel().astype(bool)
    if inliers.sum() < min_inliers:
        return None
    return found, inliers


def klt_step(
    previous: np.ndarray,
    grey: np.ndarray,
    points: np.ndarray,
    ref_points: np.ndarray,
    *,
    guess: np.ndarray | None = None,
    threshold: float = 2.0,
    min_points: int = 8,
    method: int = cv2.RANSAC,
) -> KltStep | None:
    """Follow ``points`` (on ``previous``; ``ref_points`` are where they are on the reference) into
    ``grey`` and fit the homography reference → ``grey``; None when too few points survive."""
    moved, good = follow_points(previous, grey, points, guess)
    if good.sum() < min_points:
        return None
    ref, now = np.asarray(ref_points)[good], moved[good]
    fitted = fit_homography(ref, now, threshold, min_points, method)
    if fitted is None:
        return None
    homography, inliers = fitted
    return KltStep(homography, ref[inliers].astype(np.float32), now[inliers].astype(np.float32))


def plausible_quad(quad: np.ndarray, reference_area: float, max_scale: float) -> bool:
    """A tracked quad that is finite, convex and within ``max_scale`` times the reference's area either
    way (anything else is the tracker failing, not a camera move)."""
    quad = np.asarray(quad, np.float64).reshape(4, 2)
    if not np.isfinite(quad).all():
        return False
    # Eighth-pixel integer corners: isContourConvex wants integer or float32 points, and float32 loses
    # the sign of very thin quads' cross products.
    if not cv2.isContourConvex(np.round(quad * 8).astype(np.int32).reshape(-1, 1, 2)):
        return False
    area = abs(cv2.contourArea(quad.astype(np.float32)))
    return reference_area / max_scale < area < reference_area * max_scale
