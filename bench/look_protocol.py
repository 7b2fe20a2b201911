"""The keyframe-restyle protocol shared by the tests and the benchmarks: known looks, keyings, frames to judge.

A *known look* is a function of one frame, so "what the result should be on frame t" is simply the look
applied to frame t. A restyle is keyed with the look applied to one or two frames and judged on the other
frames against the look applied to each of them (look fidelity, style retention, flicker: see
:mod:`shotcraft.metrics`). EbSynth is measured on the same protocol by ``bench/ebsynth_compare.py``.

>>> import numpy as np
>>> frame = np.full((8, 8, 3), 200, np.uint8)
>>> sorted(LOOKS), LOOKS["posterise_hue"](frame).shape
(['pencil', 'posterise_hue', 'stylization'], (8, 8, 3))
>>> keyframes(250, "two"), keyframes(100, "two")
((0, 150), (0, 99))
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


def stylization(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's edge-preserving "watercolour" stylisation."""
    bgr = cv2.stylization(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), sigma_s=60, sigma_r=0.45)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def pencil(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's grey pencil sketch, as RGB."""
    grey, _ = cv2.pencilSketch(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), sigma_s=60, sigma_r=0.07, shade_factor=0.05
    )
    return np.dstack([grey] * 3)


def posterise_hue(rgb: np.ndarray) -> np.ndarray:
    """Hue turned by 60 degrees, then each channel posterised to four levels."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 30) % 180
    turned = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return ((turned // 64) * 64 + 32).astype(np.uint8)


LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "stylization": stylization,
    "pencil": pencil,
    "posterise_hue": posterise_hue,
}
#: Frames at which fidelity is compared with EbSynth's (it is far too slow to run on every frame).
JUDGED_FRAMES = (10, 30, 60, 120)
CLIPS = ("bikes", "carphone")
KEYINGS = ("one", "two")


def keyframes(frame_count: int, keying: str) -> tuple[int, ...]:
    """Keyframe indices of a keying: ``one`` is the first frame; ``two`` adds frame 150 (or the last)."""
    return (0,) if keying == "one" else (0, min(150, frame_count - 1))
