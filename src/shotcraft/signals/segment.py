"""People and face masks from the mediapipe models (:mod:`shotcraft.signals.mediapipe_models`).

People are the selfie model's regions, gated by BlazePose (:mod:`shotcraft.signals.pose`):
where BlazePose finds a person the selfie model agrees with, its own segmentation decides inside that
person's region, and what the selfie model spilled from the person onto a passing car or the pavement is
dropped; a person both models lose (walked out, or behind a passing van) is let go at once rather than
held as a blob on whatever covered them. Masks hold in time and at the edge (:class:`TemporalMask`): each frame's probability is blended
with the previous state carried along the optical flow (where the flow truly carries the picture: a
moving edge follows the model, not the old verdict), cut with hysteresis, stripped of regions the model
is never sure of, and brought to full resolution on the frame's own edges with a guided filter; at a cut
nothing is carried over. The lock's feather then grows outwards from the mask's edge.

Where no skeleton stands, a selfie region is kept only while it moves against the background, now or a few
frames ago (:class:`MotionSupport`): the selfie model takes things shaped or coloured like clothes for people
(a bollard, a parked bicycle's chain guard or bag, a blurred car), and those stand still. Where the picture
has texture, the frames themselves say what stands still (:attr:`Motion.still`), over the smooth flow, which
spreads a walker's motion onto the parked bicycle seen between their legs.

What the bundled models miss: BlazePose finds a person by the head and shoulders (on bikes it also finds a
walker's legs seen whole from hip to foot), so people without them in the picture (legs only, someone turned
away at the frame's edge) and people half hidden behind another (a passer-by behind the cyclist) are left to
the selfie model, which was trained on people near the camera: people shorter than about a fifth of the
frame, far away or seen through glass are found late, in part or not at all, and dark clothes on a dark
ground are often missed. Such a person is locked only while they move: someone who stands still with no
head in view, or half hidden behind another, is not locked, and on a shot's first frame only people with a
skeleton are. Something that moves against the background and touches such a person (a bicycle's bag as
the legs pass it, a moving car in a panning shot) can still be taken in. Once found, such a person is
carried along the flow and re-found on each frame from their own colours (:class:`PartTrack`), so the parts
of them the selfie model loses for a few frames (dark trousers, a planted leg) stay locked. ``min_size``
(``--lock people:min-size=0.2``) leaves out regions shorter than that fraction of the frame's height.

>>> from skimage import data
>>> people = PeopleSegmenter()
>>> mask = people.probability(data.astronaut())
>>> mask.shape, bool(mask[80:160, 180:270].mean() > 0.9), bool(mask[20:60, 20:60].mean() < 0.1)
((512, 512), True, True)
>>> boxes = FaceDetector().detect(data.astronaut())
>>> len(boxes), [round(v, -1) for v in boxes[0][:2]]
(1, [170.0, 70.0])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

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
from shotcraft.signals.mediapipe_models import (
    FACE_MODEL,
    POSE_DETECTOR_MODEL,
    POSE_LANDMARK_MODEL,
    SELFIE_LANDSCAPE_MODEL,
    SELFIE_MODEL,
    invoke,
    load_litert,
    load_net,
    model_path,
    pose_available,
    run_net,
    ssd_anchors,
)
from shotcraft.signals.pose import PoseTracker, gate_by_pose, regions_touching
from shotcraft.spec import FacesLock, PeopleLock

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


class PeopleSegmenter:
    """Person probability per pixel from mediapipe's selfie segmentation (general or landscape model)."""

    def probability(self, frame: np.ndarray, *, size: tuple[int, int] | None = None) -> np.ndarray:
        """A float32 map in ``[0, 1]`` of the frame's size (or ``size`` = (width, height))."""
        h, w = frame.shape[:2]
        landscape = w / h > 1.3
        name = SELFIE_LANDSCAPE_MODEL if landscape else SELFIE_MODEL
        net_size = (256, 144) if landscape else (256, 256)
        image = cv2.resize(frame, net_size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        if pose_available():  # the same model in LiteRT: outputs equal to 1e-4, 3-4x faster than OpenCV's DNN
            out = invoke(load_litert(name), image)[0]
        else:
            out = next(iter(run_net(load_net(name), image).values()))
        out = out.reshape(net_size[1], net_size[0])
        return cv2.resize(out, size or (w, h), interpolation=cv2.INTER_LINEAR).clip(0, 1).astype(np.float32)


class MotionSupport:
    """Where a region no skeleton explains may still be a person: it moves against the background now, or
    did within the last few frames, or a skeleton stood there (both carried along the flow).

    The selfie model takes things shaped or coloured like clothes for people (a bollard, a parked bicycle,
    a chain guard, a blurred car in the background); BlazePose only vouches for people whose head and
    shoulders it sees. What is left, legs without a body or someone turned away at the frame's edge, moves
    against the background, and parked things do not. A pixel is supported when its independent motion
    (:func:`independent_motion`, at the work size) reaches ``threshold`` px, unless the frames show it
    standing still (:attr:`Motion.still`: the flow smears a walker's motion over the gap between their
    legs); support fades by ``decay`` a
    frame as it is carried along the flow (a planted foot, someone who stops for a moment, are held for a
    few frames) and is gone at a cut. On a shot's first frame nothing has moved yet, so only skeletons
    count there.
    """

    def __init__(self, threshold: float = 1.0, decay: float = 0.85, reach: int = 2):
        self.threshold = threshold
        self.decay = decay
        self.reach = reach
        self._state: np.ndarray | None = None

    def update(self, motion: Motion, people: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The supported pixels (bool) of a frame, given its ``motion`` and ``people`` (pixels a skeleton
        vouches for), and where it moves now (:meth:`moving`, which the caller needs too)."""
        state = people.astype(np.float32)
        moving = self.moving(motion)
        if moving is not None:
            state = np.maximum(state, moving.astype(np.float32))
        if motion.back is not None and self._state is not None:
            carried = self.decay * warp(self._state, motion.back)
            if motion.consistent is not None:  # what was hidden has no past: nothing is carried onto it
                carried[~motion.consistent] = 0.0
            state = np.maximum(state, carried)
        self._state = state
        return state > 0.5, moving

    def moving(self, motion: Motion) -> np.ndarray | None:
        """Where the picture moves against the background now (bool, at the work size; None on a shot's
        first frame): independent motion of ``threshold`` px or more, reaching ``reach`` px out, except where
        the frames show it standing still."""
        independent = motion.independent
        if independent is None:
            return None
        # The flow is smooth across a moving edge: reach out to the object's own edge.
        moving = _grown(independent >= self.threshold, self.reach)
        if motion.still is not None:  # there only the flow's smoothing moves: the frames stand still
            moving[motion.still] = False
        return moving


class PartTrack:
    """People the models see only in part (legs without a body), carried once found and re-found each frame.

    What was locked last frame is carried along the flow (nothing in from past the frame's edge, nothing over
    a cut) and, where no skeleton stands, the person's extent is found again from what this frame shows,
    within ``reach`` px of the carried region: a pixel is taken where the track's own colours (learnt from
    where the selfie model was sure) are likelier than its local background's, the frames do not show it
    standing still (:attr:`Motion.still`), and a person was seen there lately (the selfie model at ``low``
    or more, or motion against the background, faded by ``decay`` a frame along the flow). The selfie model
    loses dark, motion-blurred trousers for frames at a time, and a walker's stance leg stands still, so
    motion alone cannot hold it; the track does. What it finds must touch what the frame's own evidence
    still locks or the selfie model still half sees (at ``low``; a person both models lose entirely is let
    go as before) and stay clear of skeletons: a person BlazePose holds is drawn by BlazePose, and where its
    model said "not a person" last frame (a car door beside the man on bikes, as dark as his coat) the track
    takes nothing.
    """

    def __init__(self, low: float = 0.25, decay: float = 0.85, reach: int = 6, bins: int = 8):
        self.low = low
        self.decay = decay
        self.reach = reach
        self.bins = bins
        self._track: np.ndarray | None = None
        self._fresh: np.ndarray | None = None
        self._person: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self._refused: np.ndarray | None = None
        self._vouched = False  # a skeleton stood in the track since it was found: it is a person

    def update(
        self, frame: np.ndarray, motion: Motion, selfie: np.ndarray, probability: np.ndarray,
        skeletons: np.ndarray, moving: np.ndarray | None,
    ) -> np.ndarray:  # fmt: skip
        """Where the carried track finds a person in ``frame`` (bool, on ``selfie``'s grid), given the
        selfie model's raw map, the probability the rest of the evidence gives, the skeletons' regions and
        what moves against the background."""
        size = selfie.shape[::-1]
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        codes = self._codes(small)
        fresh = selfie >= self.low
        if moving is not None:
            fresh |= moving
        found = np.zeros(selfie.shape, bool)
        if motion.back is None or self._track is None or self._fresh is None:
            self._person = self._background = None
            self._vouched = False
            self._fresh = fresh.astype(np.float32)
        else:
            carried = _carry(self._track, motion.back) > 0.5
            self._fresh = np.maximum(fresh.astype(np.float32), self.decay * _carry(self._fresh, motion.back))
            if carried.any() and self._person is not None and self._background is not None:
                band = _grown(carried, self.reach)
                person, background = self._person[codes], self._background[codes]
                found = band & (person > background) & (self._fresh > 0.5) & ~skeletons
                if motion.still is not None:
                    found &= ~motion.still
                if self._refused is not None:
                    # with a margin: the pose model's edge wavers by a pixel or two from frame to frame
                    refused = (_carry(self._refused, motion.back) > 0.5).astype(np.uint8)
                    found &= ~cv2.dilate(refused, np.ones((5, 5), np.uint8)).astype(bool)
                # Half seen is enough: on bikes f194 the selfie model is above 0.5 on 24 of the walker's 3666
                # carried px (at 0.25 on 271), and a track held to those lost his legs for 3 frames.
                found = regions_touching(found, (probability > 0.5) | (selfie >= self.low))
                # A person with a skeleton is BlazePose's to draw: spill beside them is no leg it lost.
                beside = cv2.dilate(skeletons.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
                found &= ~regions_touching(found, beside)
        track = (probability > 0.5) | found
        if not track.any():  # the person has gone: the next one is learnt afresh
            self._person = self._background = None
            self._vouched = False
        self._vouched |= bool((track & skeletons).any())
        if self._vouched:
            self._learn(codes, track, selfie)
        self._track = track
        self._refused = skeletons & (probability <= 0.5)
        return found

    def _codes(self, small: np.ndarray) -> np.ndarray:
        q = (small.astype(np.int32) * self.bins) // 256
        return (q[..., 0] * self.bins + q[..., 1]) * self.bins + q[..., 2]

    def _learn(self, codes: np.ndarray, track: np.ndarray, selfie: np.ndarray) -> None:
        """The track's colours from where the selfie model is sure of it, the background's from a ring
        about 2-12 px out (what stands next to the person, not the whole frame), each a running average
        over the last few frames (a turn or a shadow changes them)."""
        sure = track & (selfie >= 0.8)
        if sure.sum() < 50:  # too few pixels for a histogram of 512 bins: keep what was learnt
            return
        near = cv2.dilate(track.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
        ring = near & ~cv2.dilate(track.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        n = self.bins**3
        person = np.bincount(codes[sure], minlength=n).astype(np.float32)
        background = np.bincount(codes[ring], minlength=n).astype(np.float32)
        person /= max(1.0, person.sum())
        background /= max(1.0, background.sum())
        if self._person is None or self._background is None:
            self._person, self._background = person, background
        else:
            self._person = 0.7 * self._person + 0.3 * person
            self._background = 0.7 * self._background + 0.3 * background


def _grown(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` (bool) grown by ``reach`` px all round (a disc)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def _carry(state: np.ndarray, back: np.ndarray) -> np.ndarray:
    """``state`` (bool or float) carried along ``back``, nothing brought in from past the frame's edge."""
    return warp(state.astype(np.float32), back, border=cv2.BORDER_CONSTANT)


# ---------------------------------------------------------------------------------------------------------
# Faces


# The short-range BlazeFace model: 2 anchors per cell of a 16x16 grid, 6 per cell of 8x8.
_ANCHORS = ssd_anchors(((16, 2), (8, 6)))


class FaceDetector:
    """Face boxes ``(x, y, w, h, score)`` in pixels from mediapipe's short-range BlazeFace.

    The model sees 128x128 and finds faces that fill a good part of its input, so the frame is also cut
    into overlapping square tiles, which finds the smaller faces of ordinary footage.
    """

    def __init__(self, min_score: float = 0.6, tiles: bool = True):
        self.min_score = min_score
        self.tiles = tiles

    def detect(self, frame: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        h, w = frame.shape[:2]
        windows = [(0, 0, max(h, w))]  # the whole frame, letterboxed
        if self.tiles:
            side = min(h, w) // 2
            stride = max(1, side * 2 // 3)
            for y in range(0, max(1, h - side + 1), stride):
                for x in range(0, max(1, w - side + 1), stride):
                    windows.append((x, y, side))
        boxes, scores = [], []
        for x0, y0, side in windows:
            for box, score in self._detect_square(frame, x0, y0, side):
                boxes.append(box)
                scores.append(score)
        if not boxes:
            return []
        keep = cv2.dnn.NMSBoxes(boxes, scores, self.min_score, 0.3)
        return [(*boxes[i], scores[i]) for i in np.asarray(keep).ravel()]

    def _detect_square(
        self, frame: np.ndarray, x0: int, y0: int, side: int
    ) -> Iterator[tuple[list[float], float]]:
        h, w = frame.shape[:2]
        square = np.zeros((side, side, 3), np.uint8)
        crop = frame[y0 : y0 + side, x0 : x0 + side]
        square[: crop.shape[0], : crop.shape[1]] = crop
        image = cv2.resize(square, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        out = run_net(load_net(FACE_MODEL), image)
        raw = out["regressors"].reshape(-1, 16)
        logits = out["classificators"].reshape(-1).clip(-80, 80)
        scores = 1.0 / (1.0 + np.exp(-logits))
        for i in np.flatnonzero(scores >= self.min_score):
            cx = (_ANCHORS[i, 0] + raw[i, 0] / 128.0) * side + x0
            cy = (_ANCHORS[i, 1] + raw[i, 1] / 128.0) * side + y0
            bw, bh = raw[i, 2] / 128.0 * side, raw[i, 3] / 128.0 * side
            if bw <= 0 or bh <= 0 or not (0 <= cx < w and 0 <= cy < h):
                continue
            yield [float(cx - bw / 2), float(cy - bh / 2), float(bw), float(bh)], float(scores[i])


def face_probability(
    boxes: Iterable[tuple[float, float, float, float, float]], width: int, height: int
) -> np.ndarray:
    """Soft ellipses over the detected faces, grown to take in hair, ears and chin (the performance)."""
    canvas = np.zeros((height, width), np.float32)
    for x, y, w, h, _score in boxes:
        centre = (round(x + w / 2), round(y + h * 0.45))
        axes = (max(1, round(w * 0.75)), max(1, round(h * 0.95)))
        cv2.ellipse(canvas, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    return canvas


# ---------------------------------------------------------------------------------------------------------
# Masks that hold in time and at the edge


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


#: The probability :class:`PartTrack` gives where it finds a person (above ``MaskSettings.on``).
TRACK_PROBABILITY = 0.8
#: Grey levels (0-255, at the work size) within which a pixel matches a neighbouring frame (:attr:`Motion.still`);
#: the bikes walkers' legs differ by 20-100 where they pass, the parked bicycle between them by under 5.
STILL_DIFFERENCE = 8.0
#: Grey levels (0-255, at the work size, over 3x3 px) within which the previous frame carried along the flow
#: shows what this frame shows (:attr:`Motion.carried`): above the flow's own error on a still picture (its
#: interpolation and the codec's noise), well below a person's edge against the background.
CARRIED_DIFFERENCE = 12.0
#: Mean grey gradient (levels per pixel, over 5x5 px) a pixel needs for a match to mean it stands still: in a
#: flat area (dark trousers, a plain wall) a moving thing looks the same as a still one.
STILL_TEXTURE = 6.0


def _motions(frames: Iterable[np.ndarray], work_size: Callable[[np.ndarray], tuple[int, int]]):
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


def _work_size(width: int, height: int, longest: int = 320) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


# The per-frame evidence for :class:`TemporalMask`: ``(frame, work_size, motion)`` → the probability map at
# the work size, where a person has gone and where a verdict falls slowly (each bool or None).
Evidence = Callable[
    [np.ndarray, tuple[int, int], Motion], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
]


def _stable_masks(
    frames: Iterable[np.ndarray], turns: int, evidence: Evidence, settings: MaskSettings
) -> Iterator[np.ndarray]:
    """One :class:`TemporalMask` over ``evidence(frame, work_size, motion)``.

    The model sees the frames turned ``turns`` quarter turns, as a player shows them (it only finds people
    and faces standing up); the masks come back in the frames' own (storage) orientation.
    """
    uprights = (np.ascontiguousarray(np.rot90(frame, turns)) if turns else frame for frame in frames)
    smoother: TemporalMask | None = None
    for upright, motion in _motions(uprights, lambda first: _work_size(first.shape[1], first.shape[0])):
        smoother = smoother or TemporalMask(_work_size(upright.shape[1], upright.shape[0]), settings)
        probability, gone, slow = evidence(upright, smoother.work_size, motion)
        mask = smoother.update(upright, motion.back, probability, gone, motion.carried, slow)
        yield np.ascontiguousarray(np.rot90(mask, -turns)) if turns else mask


def people_masks(
    frames: Iterable[np.ndarray], turns: int = 0, *, min_size: float = 0.0, pose: bool | None = None
) -> Iterator[np.ndarray]:
    """Hard person masks (float32, 1 = person) that hold in time and follow the picture's edges, one per frame.

    ``turns`` is the clip's rotation in quarter turns (:attr:`VideoInfo.quarter_turns`): the model
    sees the frames upright and the masks come back in the frames' own (storage) orientation. ``min_size``
    drops people shorter than that fraction of the upright frame's height. ``pose``: gate by BlazePose
    (default: when LiteRT is installed, see :func:`pose_available`); without it, the selfie model alone.
    """
    segmenter = PeopleSegmenter()
    tracker = PoseTracker() if (pose_available() if pose is None else pose) else None
    support = MotionSupport()
    track = PartTrack()

    def evidence(frame: np.ndarray, size: tuple[int, int], motion: Motion):
        selfie = segmenter.probability(frame, size=size)
        if tracker is None:
            return selfie, None, None
        found = tracker.update(frame, selfie, motion.back is None)
        gated = gate_by_pose(selfie, found.people)
        skeletons = np.zeros(selfie.shape, bool)
        for person in found.people:
            skeletons |= person.inside
        supported, moving = support.update(motion, skeletons & (gated > 0.5))
        unsupported = ~(skeletons | supported)  # nothing is held there either
        gone = unsupported if found.gone is None else unsupported | found.gone
        slow = None
        # The selfie model alone, on a moving body; what moves is only sure seen both ways (at a shot's last
        # frame the flow's smear over what a person uncovers is not undone by the way ahead).
        if moving is not None and motion.ahead is not None and motion.consistent is not None:
            slow = moving & motion.consistent & ~skeletons
        probability = np.where(unsupported, 0.0, gated)
        refound = track.update(frame, motion, selfie, probability, skeletons, moving)
        probability = np.where(refound, np.maximum(probability, TRACK_PROBABILITY), probability)
        if gone is not None:
            gone &= ~refound
        return probability.astype(np.float32), gone, slow

    yield from _stable_masks(frames, turns, evidence, MaskSettings(min_size=min_size))


def face_masks(
    frames: Iterable[np.ndarray], turns: int = 0, *, min_size: float = 0.0
) -> Iterator[np.ndarray]:
    """Hard face masks (float32, 1 = face, hair and chin), one per frame, treated as :func:`people_masks`
    treats people; ``min_size`` drops faces whose box is shorter than that fraction of the frame's height."""
    detector = FaceDetector()

    def evidence(frame: np.ndarray, size: tuple[int, int], _motion: Motion):
        h, w = frame.shape[:2]
        sw, sh = size
        boxes = [
            (x * sw / w, y * sh / h, bw * sw / w, bh * sh / h, s)
            for x, y, bw, bh, s in detector.detect(frame)
            if bh >= min_size * h
        ]
        return face_probability(boxes, sw, sh), None, None

    # A face is a detection, not a segmentation: every ellipse is confident, and size was judged on the box.
    yield from _stable_masks(frames, turns, evidence, MaskSettings(confident=0.5, min_area=0.0))


def people_lock_masks(plan: TransformPlan, lock: PeopleLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``people``: every person, from the source frames."""

    model_path(SELFIE_MODEL)  # fail before the first frame is written, not in the middle
    if pose_available():
        model_path(POSE_DETECTOR_MODEL)
        model_path(POSE_LANDMARK_MODEL)
    frames = reader.frames(0, plan.frame_count)
    return people_masks(frames, plan.video.quarter_turns, min_size=lock.min_size)


def faces_lock_masks(plan: TransformPlan, lock: FacesLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``faces``: every detected face with its hair and chin, from the source frames."""

    model_path(FACE_MODEL)
    return face_masks(reader.frames(0, plan.frame_count), plan.video.quarter_turns, min_size=lock.min_size)
