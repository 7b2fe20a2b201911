"""Scene cuts: the one rule for "does this frame start a new shot", used by everything that must not carry
state over a cut (restyle's looks and keyframes, the steadiness pull and grain, people masks, text tracks).

A cut is a whole-frame event, tested in two steps:

1. **the picture changed a lot**: the mean grey difference between 64x36 thumbnails. Within a shot it
   stays small even under fast motion, so below :data:`CHANGED` there is no cut and no flow is needed;
2. **the flow stops explaining the change** (only for frames that pass 1): what the flow brings over from
   the previous frame differs from the new one by :data:`COMPENSATED_DIFFERENCE` or more; or the flow fails
   its forward-backward check on most of the frame *and* the grey histograms differ (fast motion or
   motion blur break the flow within a shot but keep the tones).

Callers that have the flow both ways already (a :class:`~shotcraft.signals.cache.FlowCache` walk) pass it;
the others pass two frames alone and the flow is computed, only when step 1 passes, as the flow cache
computes it by default (:class:`~shotcraft.signals.flow.FlowSettings`). Either way it is the same rule.

Measured on every bundled clip and the localization tests' sign clips (frames where a detector fires
/ the largest value elsewhere): bikes.mp4 has five hard cuts (frames 30, 76, 137, 187, 242) with thumbnail
difference >= 46.9, compensated difference >= 36, inconsistent share >= 0.80 and histogram distance >= 0.25;
its other frames (fast street motion, a taxi sliding across) reach 20.2 / 10.9 / 0.42 / 0.11.
bigbuckbunny.mp4 and carphone.mp4 are one shot each (<= 5.9 / 5.5 / 0.05 / 0.07), and a pole passing in
front of a sign reaches 19.2 / 9.1 / 0.35 / 0.15.

>>> import cv2, numpy as np
>>> rng = np.random.default_rng(0)
>>> a = cv2.GaussianBlur(rng.integers(0, 256, (96, 128), dtype=np.uint8), (0, 0), 2)
>>> other = cv2.GaussianBlur(rng.integers(0, 256, (96, 128), dtype=np.uint8), (0, 0), 2) // 2
>>> is_cut(a, np.roll(a, 2, axis=1)), is_cut(a, other)  # the flow is computed when needed
(False, True)
>>> from shotcraft.signals.flow import compute_flow
>>> is_cut(a, other, compute_flow(a, other, scale=1.0), compute_flow(other, a, scale=1.0))  # or given
True
"""

from __future__ import annotations

import cv2
import numpy as np

from shotcraft.signals.flow import FlowSettings, compute_flow_lowres, flow_confidence, to_grey, warp

#: Mean absolute grey difference (0-255) between the two frames' 64x36 thumbnails below which they are one
#: shot: well under half the smallest cut measured (46.9), above the calmest (12 on the sign clips), so
#: that most frames of a clip are settled without flow.
CHANGED = 15.0
#: Mean absolute grey difference between the new frame and what the flow brings over from the previous one.
COMPENSATED_DIFFERENCE = 20.0
#: Share of the frame failing the forward-backward check, and Bhattacharyya distance of 32-bin grey
#: histograms, that together make a cut.
INCONSISTENT_SHARE = 0.7
HISTOGRAM_DISTANCE = 0.2

_THUMBNAIL = (64, 36)


def _changed(ga: np.ndarray, gb: np.ndarray) -> bool:
    ta = cv2.resize(ga, _THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)
    tb = cv2.resize(gb, _THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)
    return float(np.abs(ta - tb).mean()) >= CHANGED


def is_cut(
    a: np.ndarray,
    b: np.ndarray,
    forward: np.ndarray | None = None,
    backward: np.ndarray | None = None,
) -> bool:
    """Whether ``b`` starts a new shot after ``a`` (frames of one size, RGB or grey).

    ``forward`` (``a → b``) and ``backward`` (``b → a``) are the flow between them at the frames' size, if
    the caller has it; without them it is computed at :class:`~shotcraft.signals.flow.FlowSettings`'
    working size, and only for frames whose thumbnails differ enough to be a cut.
    """
    ga, gb = to_grey(a), to_grey(b)
    if not _changed(ga, gb):
        return False
    if forward is None or backward is None:
        settings = FlowSettings()
        ga, gb = settings.working_frame(ga), settings.working_frame(gb)
        same_size = FlowSettings(scale=1.0, preset=settings.preset)
        forward, backward = compute_flow_lowres(ga, gb, same_size), compute_flow_lowres(gb, ga, same_size)
    # A 2x-subsampled grid is enough for a whole-frame event.
    ga, gb = ga[::2, ::2], gb[::2, ::2]
    to_a = np.ascontiguousarray(backward[::2, ::2]) * 0.5
    brought = warp(ga, to_a).astype(np.float32)
    if float(np.abs(gb.astype(np.float32) - brought).mean()) >= COMPENSATED_DIFFERENCE:
        return True
    to_b = np.ascontiguousarray(forward[::2, ::2]) * 0.5
    if float((flow_confidence(to_a, to_b) < 0.5).mean()) < INCONSISTENT_SHARE:
        return False
    ha = cv2.calcHist([ga], [0], None, [32], [0, 256])
    hb = cv2.calcHist([gb], [0], None, [32], [0, 256])
    distance = cv2.compareHist(ha / ha.sum(), hb / hb.sum(), cv2.HISTCMP_BHATTACHARYYA)
    return distance >= HISTOGRAM_DISTANCE
