"""People masks from the mediapipe models (:mod:`shotcraft.signals.mediapipe_models`).

People are the selfie model's regions, gated by BlazePose (:mod:`shotcraft.signals.pose`):
where BlazePose finds a person the selfie model agrees with, its own segmentation decides inside that
person's region, and what the selfie model spilled from the person onto a passing car or the pavement is
dropped; a person both models lose (walked out, or behind a passing van) is let go at once rather than
held as a blob on whatever covered them. Masks hold in time and at the edge
(:mod:`shotcraft.signals.temporal_masks`); the lock's feather then grows outwards from the mask's edge.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.signals.flow import warp
from shotcraft.signals.mediapipe_models import (
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
)
from shotcraft.signals.pose import PoseTracker, gate_by_pose, regions_touching
from shotcraft.signals.temporal_masks import MaskSettings, Motion, stable_masks
from shotcraft.spec import PeopleLock

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


#: The probability :class:`PartTrack` gives where it finds a person (above ``MaskSettings.on``).
TRACK_PROBABILITY = 0.8


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

    yield from stable_masks(frames, turns, evidence, MaskSettings(min_size=min_size))


def people_lock_masks(plan: TransformPlan, lock: PeopleLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``people``: every person, from the source frames."""

    model_path(SELFIE_MODEL)  # fail before the first frame is written, not in the middle
    if pose_available():
        model_path(POSE_DETECTOR_MODEL)
        model_path(POSE_LANDMARK_MODEL)
    frames = reader.frames(0, plan.frame_count)
    return people_masks(frames, plan.video.quarter_turns, min_size=lock.min_size)
