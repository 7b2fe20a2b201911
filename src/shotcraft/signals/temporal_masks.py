"""Masks that hold in time and at the edge: per-frame evidence (a person's or a face's probability at a small
work size) made into hard masks at the frame's size, one per frame, for people (:mod:`shotcraft.signals.people`)
and faces (:mod:`shotcraft.signals.faces`).

Each frame's probability is blended with the previous state carried along the optical flow (where the flow
truly carries the picture: a moving edge follows the model, not the old verdict), cut with hysteresis,
stripped of regions the model is never sure of, and brought to full resolution on the frame's own edges
with a guided filter (:class:`TemporalMask`); at a cut nothing is carried over. :class:`Motion` is what the
evidence and the mask know of a frame's motion: the flow both ways, where it holds, where the picture
stands still.

>>> import numpy as np
>>> frames = [np.full((48, 64, 3), 90, np.uint8) for _ in range(3)]
>>> def evidence(frame, size, motion):
...     probability = np.zeros(size[::-1], np.float32)
...     probability[10:40, 20:40] = 1.0  # a confident region, the same on every frame
...     return probability, None, None
>>> masks = list(stable_masks(frames, 0, evidence, MaskSettings()))
>>> len(masks), masks[0].shape, float(masks[2][20:30, 25:35].min()), float(masks[2][:5].max())
(3, (48, 64), 1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from shotcraft.signals.cuts import is_cut
from shotcraft.signals.flow import (
    camera_difference,
    camera_motion,
    compute_flow,
    flow_confidence,
    independent_motion,
    warp,
)


@dataclass(frozen=True)
class MaskSettings:
    """How per-frame probabilities become hard masks (see :class:`TemporalMask`).

    ``rise`` and ``fall`` are how much of the model's new probability a pixel takes when it goes up and
    when it goes down: a confident newcomer shows at once (1 * 0.8 clears ``on``); a person the model loses
    for a frame or two is held (1 → 0.65 → 0.42, above ``off``), and a blob it no longer supports is gone
    on the third frame (→ 0.27). ``slow_fall`` is how much it takes going down where the selfie model
    alone decides on a moving body (``slow`` in :meth:`TemporalMask.update`): it loses moving, motion-blurred
    legs for several frames at a time, and there a verdict is held for about eight frames (1 → 0.9 → 0.81
    ...), as long as they keep moving along a flow that holds both ways.
    ``confident`` is the probability a region must reach somewhere to be kept at all; ``min_size`` the
    height it must have as a fraction of the frame's (upright) height.
    """

    rise: float = 0.8
    fall: float = 0.35
    slow_fall: float = 0.1
    on: float = 0.6
    off: float = 0.4
    confident: float = 0.9
    min_size: float = 0.0
    min_area: float = 0.002


@dataclass(frozen=True)
class Motion:
    """A frame's motion at the work size: ``back``, the flow to the previous frame (None when the frame starts a
    shot: nothing is carried over a cut); ``ahead``, the flow to the next frame (None when the next frame
    starts a shot or there is none); ``consistent``, where ``back`` is undone by the flow from the previous
    frame (False where the frame shows what the previous one hid); ``greys``, the previous, this and the
    next frame in grey at the work size (None where ``back`` or ``ahead`` is)."""

    back: np.ndarray | None
    ahead: np.ndarray | None = None
    consistent: np.ndarray | None = None
    greys: tuple[np.ndarray | None, np.ndarray, np.ndarray | None] | None = None

    @cached_property
    def _ways(self) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """``(flow, camera, other frame)`` for each way that exists (:func:`camera_motion`)."""
        others = (None, None) if self.greys is None else (self.greys[0], self.greys[2])
        return [
            (flow, camera_motion(flow), other)
            for flow, other in zip((self.back, self.ahead), others, strict=True)
            if flow is not None
        ]

    @cached_property
    def independent(self) -> np.ndarray | None:
        """How far each pixel moves against the background (:func:`independent_motion`), the smaller of the
        two ways: a thing uncovered (or about to be covered) by someone walking past has no match on one side,
        where the flow smears the walker's motion over it, and stands still on the other."""
        ways = [independent_motion(flow, camera) for flow, camera, _ in self._ways]
        return np.minimum.reduce(ways) if ways else None

    @cached_property
    def still(self) -> np.ndarray | None:
        """Where the scene visibly stands still: the picture has texture there (so that anything moving
        would change it) and matches the previous or the next frame under the camera's motion alone
        (:func:`camera_difference` under ``STILL_DIFFERENCE`` grey levels). The flow is smooth, and spreads
        a walker's motion over the parked bicycle seen between their legs; the frames themselves do not."""
        if self.greys is None:
            return None
        grey = self.greys[1]
        ways = [
            camera_difference(grey, other, camera)
            for _, camera, other in self._ways
            if camera is not None and other is not None
        ]
        if not ways:
            return None
        gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)) / 8
        textured = cv2.blur(gradient, (5, 5)) > STILL_TEXTURE
        return textured & (np.minimum.reduce(ways) < STILL_DIFFERENCE)

    @cached_property
    def carried(self) -> np.ndarray | None:
        """Where the previous frame, carried along ``back``, still shows what this frame shows (within
        ``CARRIED_DIFFERENCE`` grey levels over 3x3 px): there the previous frame's verdict may be held. Where
        it does not, the flow is wrong (a moving edge, which the smooth flow drags the background along
        with) or something was uncovered, and holding the old verdict would lag the edge behind."""
        if self.back is None or self.greys is None or self.greys[0] is None:
            return None
        brought = warp(self.greys[0].astype(np.float32), self.back)
        return cv2.blur(np.abs(self.greys[1].astype(np.float32) - brought), (3, 3)) < CARRIED_DIFFERENCE


#: the bikes walkers' legs differ by 20-100 where they pass, the parked bicycle between them by under 5.
STILL_DIFFERENCE = 8.0
#: Grey levels (0-255, at the work size, over 3x3 px) within which the previous frame carried along the flow
#: shows what this frame shows (:attr:`Motion.carried`): above the flow's own error on a still picture (its
#: interpolation and the codec's noise), well below a person's edge against the background.
CARRIED_DIFFERENCE = 12.0
#: Mean grey gradient (levels per pixel, over 5x5 px) a pixel needs for a match to mean it stands still: in a
#: flat area (dark trousers, a plain wall) a moving thing looks the same as a still one.
STILL_TEXTURE = 6.0


def motions(frames: Iterable[np.ndarray], work_size: Callable[[np.ndarray], tuple[int, int]]):
    """``(frame, Motion)`` for each frame, one frame late (the flow ahead needs the next frame); cuts are
    found by :func:`is_cut` on the flow both ways."""
    held: tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None] | None = None
    previous: np.ndarray | None = None
    size: tuple[int, int] | None = None
    for frame in frames:
        size = size or work_size(frame)
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        back = forward = None
        if previous is not None:
            back = compute_flow(grey, previous, scale=1.0, preset="fast")  # this frame → the previous one
            forward = compute_flow(previous, grey, scale=1.0, preset="fast")
            if is_cut(previous, grey, forward, back):
                back = forward = None
        if held is not None and previous is not None:
            greys = (held[3], previous, None if forward is None else grey)
            yield held[0], Motion(held[1], forward, held[2], greys)
        consistent = None if back is None else flow_confidence(back, forward) > 0.5
        held = (frame, back, consistent, None if back is None else previous)
        previous = grey
    if held is not None and previous is not None:
        yield held[0], Motion(held[1], None, held[2], (held[3], previous, None))


class TemporalMask:
    """Turns per-frame probabilities into hard masks that hold in time and follow the image's edges.

    Per frame (:meth:`update`): the previous state is carried along the optical flow and blended with the
    model's new probability, faster up than down; hysteresis cuts it; regions the model is nowhere
    confident about, or smaller than ``min_size``, are dropped; the cut is brought to the frame's full
    resolution with a guided filter on the frame itself, so the edge follows the picture instead of the
    stair-steps of the model's grid. At a cut (``motion.back`` is None) the state is dropped and the new shot
    starts from its own first frame: nothing is carried over a cut.

    The blend and the hysteresis decide a pixel only where the flow truly carries the previous frame onto
    this one (``carried``, :attr:`Motion.carried`); elsewhere the model's new probability decides alone. The
    flow is smooth across a moving person's edge and drags the background along with them, so a verdict held
    there lags behind the edge and keeps whatever the model once spilled onto a car door beside them (on
    bikes f35-44, up to 6 % of the frame of car locked beside the man, truth IoU at f44 0.775 → 0.840).
    Whether a region is a person at all is still judged on the blended state: a newcomer needs two frames of
    confidence, as before.

    The selfie model flickers on a moving, motion-blurred body that no skeleton holds (bikes f188-212: a
    walker's legs, lost for frames at a time; f45-47: a man turning to go). There (``slow``: moving against
    the background, no skeleton, the flow consistent both ways) a verdict falls slowly
    (:attr:`MaskSettings.slow_fall`): flow IoU of consecutive masks over f188-212 0.58 → 0.635, truth IoU at
    f200 0.694 → 0.707. Spill the selfie model draws beside a person mostly stands still or lies where a
    skeleton stands, and falls fast; a little more of a car door beside the man turning to go is held (f44
    0.858 → 0.849).

    ``work_size`` is the (width, height) the flow and the state run at; masks come back at the frame's size.
    """

    def __init__(self, work_size: tuple[int, int], settings: MaskSettings = MaskSettings()):
        self.work_size = work_size
        self.settings = settings
        self._state: np.ndarray | None = None
        self._hard: np.ndarray | None = None

    def update(
        self, frame: np.ndarray, back: np.ndarray | None, probability: np.ndarray,
        gone: np.ndarray | None = None, carried: np.ndarray | None = None, slow: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The hard float32 mask, at frame size, of ``frame`` from its probability map (at ``work_size``) and
        ``back``, its flow to the previous frame (None when it starts a shot). Within ``gone`` (a person the
        models have seen leave) nothing is held from the previous frame: the mask there is what the model
        sees now. ``carried`` (bool, at ``work_size``): where the flow truly brings the previous frame onto this
        one; without it, everywhere. Within ``slow`` (bool, at ``work_size``) a verdict falls by
        ``slow_fall``, not ``fall``."""
        s = self.settings
        state, was_on = probability, np.zeros(probability.shape, bool)
        if back is not None and self._state is not None and self._hard is not None:
            back = _rigid_where_unseen(back, self._hard, probability, s.on)
            before = warp(self._state, back)
            was_on = warp(self._hard.astype(np.float32), back) > 0.5
            fall = s.fall if slow is None else np.where(slow, s.slow_fall, s.fall)
            weight = np.where(probability > before, s.rise, fall)
            if gone is not None:
                weight[gone], was_on[gone] = 1.0, False
            state = weight * probability + (1 - weight) * before
        decided = state
        if carried is not None and back is not None:  # the previous verdict lags where the flow is wrong
            decided = np.where(carried, state, probability)
            was_on &= carried
        hard = (decided > s.on) | (was_on & (decided > s.off))
        hard = self._keep_people(hard, state, was_on)
        self._state, self._hard = state, hard
        return _to_edges(hard, frame)

    def _keep_people(self, hard: np.ndarray, state: np.ndarray, was_on: np.ndarray) -> np.ndarray:
        """Only regions tall and large enough that the model is confident about somewhere, now or when they
        were first kept (a person the model loses for a frame or two is held, not dropped)."""
        s = self.settings
        count, labels, stats, _ = cv2.connectedComponentsWithStats(hard.astype(np.uint8), connectivity=8)
        if count <= 1:
            return hard
        support = np.where(was_on, 1.0, state)
        keep = np.zeros(count, bool)
        for k in range(1, count):
            x, y, w, h, area = stats[k]
            if h < s.min_size * hard.shape[0] or area < s.min_area * hard.size:
                continue
            box = (slice(y, y + h), slice(x, x + w))
            keep[k] = support[box][labels[box] == k].max() >= s.confident
        return keep[labels]


def _rigid_where_unseen(back: np.ndarray, hard: np.ndarray, probability: np.ndarray, on: float) -> np.ndarray:
    """``back`` with each held region the models no longer see anywhere carried as one piece: the flow inside
    and around it set to its interior's median. The flow is smooth across a moving person's edge, so carried
    pixel by pixel the trailing edge lags and the mask keeps the background they uncovered (bikes f44: the man
    leaving, seen by neither model, held with a strip of the car door behind him)."""
    carried = warp(hard.astype(np.float32), back) > 0.5
    count, labels = cv2.connectedComponents(carried.astype(np.uint8), connectivity=8)
    if count <= 1:
        return back
    interior = cv2.erode(carried.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    out = back
    for k in range(1, count):
        region = labels == k
        if probability[region].max() >= on:
            continue
        inside = region & interior
        shift = np.median(back[inside if inside.sum() >= 20 else region], axis=0)
        reach = int(np.ceil(np.abs(shift).max())) * 2 + 3
        around = cv2.dilate(region.astype(np.uint8), np.ones((reach, reach), np.uint8)).astype(bool)
        if out is back:
            out = back.copy()
        out[around] = shift
    return out


def _to_edges(hard: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """A work-size hard mask at the frame's size, its edge moved onto the frame's own edges.

    The mask is upsampled smoothly, then a guided filter with the frame as guide (He et al. 2013) makes it
    locally a linear function of the frame's colours, which pulls the 0.5 level onto nearby image edges.
    The radius spans four cells of the work grid: the models see the frame at 256 px or less and blur thin
    parts (legs, an arm against the light), so the coarse edge can sit two cells off the true one, and the
    window must reach across it (two cells: truth IoU on bikes 0.822 on average; four: 0.828, every drawn
    frame equal or better).
    """
    h, w = frame.shape[:2]
    if not hard.any():
        return np.zeros((h, w), np.float32)
    soft = cv2.resize(hard.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    radius = max(2, round(4 * w / hard.shape[1]))
    refined = cv2.ximgproc.guidedFilter(
        cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), soft, radius, (0.1 * 255) ** 2
    )
    return (refined > 0.5).astype(np.float32)


def work_size(width: int, height: int, longest: int = 320) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


# The per-frame evidence for :class:`TemporalMask`: ``(frame, work_size, motion)`` → the probability map at
# the work size, where a person has gone and where a verdict falls slowly (each bool or None).
Evidence = Callable[
    [np.ndarray, tuple[int, int], Motion], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
]


def stable_masks(
    frames: Iterable[np.ndarray], turns: int, evidence: Evidence, settings: MaskSettings
) -> Iterator[np.ndarray]:
    """One :class:`TemporalMask` over ``evidence(frame, work_size, motion)``.

    The model sees the frames turned ``turns`` quarter turns, as a player shows them (it only finds people
    and faces standing up); the masks come back in the frames' own (storage) orientation.
    """
    uprights = (np.ascontiguousarray(np.rot90(frame, turns)) if turns else frame for frame in frames)
    smoother: TemporalMask | None = None
    for upright, motion in motions(uprights, lambda first: work_size(first.shape[1], first.shape[0])):
        smoother = smoother or TemporalMask(work_size(upright.shape[1], upright.shape[0]), settings)
        probability, gone, slow = evidence(upright, smoother.work_size, motion)
        mask = smoother.update(upright, motion.back, probability, gone, motion.carried, slow)
        yield np.ascontiguousarray(np.rot90(mask, -turns)) if turns else mask
