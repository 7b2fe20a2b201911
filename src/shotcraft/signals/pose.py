"""People from mediapipe's BlazePose (:class:`PoseTracker`), and the selfie model's map gated by them
(:func:`gate_by_pose`).

BlazePose runs in LiteRT (:func:`~shotcraft.signals.mediapipe_models.pose_available`); where LiteRT has no
wheel, people are the selfie model's alone and the plan says so in :data:`POSE_FALLBACK_NOTICE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shotcraft.signals.mediapipe_models import (
    POSE_DETECTOR_MODEL,
    POSE_LANDMARK_MODEL,
    invoke,
    load_litert,
    sigmoid,
    ssd_anchors,
)

POSE_FALLBACK_NOTICE = (
    "people lock: the LiteRT runtime (ai-edge-litert) is not installed here, so people are found by the "
    "selfie model alone and a car or pavement touching a person may be locked with them"
)


# BlazePose's detector: 224x224 input, strides 8, 16, 32, 32, 32, two anchors per layer and cell, the three
# stride-32 layers sharing one 7x7 grid: 2254 anchors.
_POSE_ANCHORS = ssd_anchors(((28, 2), (14, 2), (7, 6)))


@dataclass(frozen=True)
class PoseRoi:
    """BlazePose's region of interest: a square ``size`` px wide around ``centre`` (the hips' midpoint), turned
    by ``angle`` radians so that the body stands upright in it."""

    centre: tuple[float, float]
    size: float
    angle: float

    @classmethod
    def from_points(cls, hips: np.ndarray, reach: np.ndarray) -> PoseRoi:
        """MediaPipe's rule: ``reach`` (a point the model places so that a circle around the hips through it
        holds the whole body) sets the size (its diameter, then 1.25 times for margin) and the angle (from
        the hips to it is "up")."""
        dx, dy = (reach - hips).tolist()
        angle = (np.pi / 2 - np.arctan2(-dy, dx) + np.pi) % (2 * np.pi) - np.pi  # 0 = upright, in [-pi, pi)
        return cls((float(hips[0]), float(hips[1])), 2.5 * float(np.hypot(dx, dy)), float(angle))

    def matrix(self, side: int) -> np.ndarray:
        """The 2x3 affine map from a ``side`` x ``side`` crop of the region to frame pixels."""
        c, s, k = np.cos(self.angle), np.sin(self.angle), self.size / side
        m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
        m[:, 2] = np.asarray(self.centre) - m[:, :2] @ np.array([side / 2, side / 2])
        return m

    def overlaps(self, other: PoseRoi) -> bool:
        """True when the two regions' centres are closer than half the smaller one: the same person."""
        gap = np.hypot(self.centre[0] - other.centre[0], self.centre[1] - other.centre[1])
        return bool(gap < 0.5 * min(self.size, other.size))


@dataclass(frozen=True)
class PosePerson:
    """One person BlazePose found: its region, its landmarks' presence score, and its own segmentation."""

    roi: PoseRoi
    presence: float
    probability: (
        np.ndarray
    )  # person probability over the whole frame (or the size asked), 0 outside the region
    inside: np.ndarray  # bool, the region's square over the same grid
    next_roi: PoseRoi  # where to look in the next frame (from the hips and reach landmarks, 33 and 34)
    face: np.ndarray  # (11, 2) the face's landmarks (nose, eyes, ears, mouth: 0-10) in frame pixels


@dataclass(frozen=True)
class PoseFrame:
    """What :meth:`PoseTracker.update` says about one frame: the people to gate by, and where a person
    followed until now has gone from the picture (both models agree no one is there: walked out, or hidden
    behind a passing car), over the same grid, so that nothing of them is held there."""

    people: list[PosePerson]
    gone: np.ndarray | None = None


@dataclass
class _Followed:
    roi: PoseRoi
    missed: int = 0  # frames in a row the landmark model has not confirmed them


class PoseTracker:
    """People from mediapipe's BlazePose: ``pose_detection`` finds them, ``pose_landmark_full`` gives each
    one's landmarks and segmentation inside its region, and the landmarks place the region on the next
    frame (MediaPipe's tracking), so a person turned away or half out of the picture is followed after the
    detector has lost them.

    The detector is the expensive part and, as in MediaPipe, runs only when it may find someone new: on
    the first frame of a shot, every ``detect_every`` frames, when a followed person is not confirmed, and
    when the selfie model sees more person than the followed people explain (someone coming out from behind
    a car). Between, people are followed by their landmarks alone.

    BlazePose answers a different question from the selfie model, "is there a body here", and is not fooled
    by cars, bollards or bicycles next to a person; it only sees people whose head and shoulders it can find.
    A person is taken only when the landmark model confirms it (``presence``) and the selfie model agrees
    that at least half its body is a person (``agreement``): the detector alone fires on shop windows and
    wheels, a followed region drifts onto a car door when its person leaves the picture, and the two models
    rarely share a mistake. A new person must also stand roughly upright. A followed person the landmark
    model doubts while the selfie model still agrees is held for up to ``hold`` frames; one both models
    have lost is reported gone (:class:`PoseFrame`).
    """

    def __init__(
        self, min_detection: float = 0.5, presence: float = 0.5, agreement: float = 0.5,
        detect_every: int = 8, hold: int = 3,
    ):  # fmt: skip
        self.min_detection = min_detection
        self.presence = presence
        self.agreement = agreement
        self.detect_every = detect_every
        self.hold = hold
        self._followed: list[_Followed] = []
        self._since_detection = 0
        self._unexplained = 0.0  # the least selfie share outside followed people since the detector ran

    def update(self, frame: np.ndarray, selfie: np.ndarray, new_shot: bool = False) -> PoseFrame:
        """The people in ``frame``; their maps are on ``selfie``'s grid (the selfie probability there).
        ``new_shot``: the frame starts a shot, so no one is followed into it."""
        if new_shot:
            self._followed = []
        kept: list[tuple[PosePerson, int]] = []
        gone = np.zeros(selfie.shape, bool)
        for followed in self._followed:
            person = self._landmarks(frame, followed.roi, selfie.shape)
            share = self._support(person, selfie)
            if person.presence >= self.presence and share >= self.agreement:
                kept.append((person, 0))
            elif share >= self.agreement and followed.missed < self.hold:
                kept.append((person, followed.missed + 1))  # the pose model doubts, the selfie model agrees
            elif person.presence < 0.1 and share < 0.1:
                gone |= person.inside
        explained = np.zeros(selfie.shape, bool)
        for person, _ in kept:
            explained |= person.inside
        unexplained = float(((selfie > 0.5) & ~explained).mean())
        self._since_detection += 1
        if (
            new_shot
            or self._since_detection >= self.detect_every
            or len(kept) < len(self._followed)
            or any(missed for _, missed in kept)
            or unexplained > self._unexplained + 0.01
        ):
            kept += [(person, 0) for person in self._new_people(frame, selfie, [p for p, _ in kept])]
            self._since_detection, self._unexplained = 0, unexplained
        self._unexplained = min(self._unexplained, unexplained)  # so that someone new after a leaver counts
        unique: list[tuple[PosePerson, int]] = []
        for person, missed in kept:  # two followed regions that drift onto one person become one
            if not any(person.next_roi.overlaps(other.next_roi) for other, _ in unique):
                unique.append((person, missed))
        self._followed = [_Followed(p.next_roi, missed) for p, missed in unique]
        return PoseFrame([p for p, _ in unique], gone & ~explained if gone.any() else None)

    def _new_people(self, frame: np.ndarray, selfie: np.ndarray, known: list[PosePerson]) -> list[PosePerson]:
        found = []
        for roi in self._detect(frame):
            # Someone new stands within 45 degrees of upright (followed people may then lean, fall or lie):
            # the detector's mistakes are poses the two models share, like a bollard's ball taken for a head
            # over a bicycle's frame, and those lie at any angle.
            if abs(roi.angle) > np.pi / 4 or any(
                roi.overlaps(p.roi) or roi.overlaps(p.next_roi) for p in known
            ):
                continue
            person = self._landmarks(frame, roi, selfie.shape)
            if person.presence >= self.presence and self._support(person, selfie) >= self.agreement:
                found.append(person)
        return found

    @staticmethod
    def _support(person: PosePerson, selfie: np.ndarray) -> float:
        """The share of the pose model's body the selfie model also takes for a person."""
        body = person.probability > 0.5
        return float((body & (selfie > 0.5)).sum() / max(1, body.sum()))

    def _detect(self, frame: np.ndarray) -> list[PoseRoi]:
        h, w = frame.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), np.uint8)  # letterboxed, centred, as MediaPipe feeds it
        oy, ox = (side - h) // 2, (side - w) // 2
        square[oy : oy + h, ox : ox + w] = frame
        image = cv2.resize(square, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        raw, logits = invoke(load_litert(POSE_DETECTOR_MODEL), image)
        scores = sigmoid(logits[:, 0])
        found = np.flatnonzero(scores >= self.min_detection)
        rois = []
        for i in found:
            points = (
                raw[i, 4:12].reshape(4, 2) / 224.0 + _POSE_ANCHORS[i]
            )  # hips, reach, shoulders, upper reach
            points = points * side - (ox, oy)
            rois.append(PoseRoi.from_points(points[0], points[1]))
        kept: list[PoseRoi] = []
        for i in np.argsort(-scores[found]):  # the most confident of overlapping detections
            if not any(rois[i].overlaps(other) for other in kept):
                kept.append(rois[i])
        return kept

    def _landmarks(self, frame: np.ndarray, roi: PoseRoi, grid: tuple[int, int]) -> PosePerson:
        h, w = frame.shape[:2]
        to_frame = roi.matrix(256)
        crop = cv2.warpAffine(frame, to_frame, (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        landmarks, presence, segmentation, _heatmap, _world = invoke(
            load_litert(POSE_LANDMARK_MODEL), crop.astype(np.float32) / 255.0
        )
        points = landmarks.reshape(39, 5)[:, :2]
        points = np.c_[points, np.ones(len(points))] @ to_frame.T
        to_grid = np.diag([grid[1] / w, grid[0] / h]) @ to_frame  # crop → frame → the probability's grid
        logits = cv2.warpAffine(
            segmentation[..., 0], to_grid, (grid[1], grid[0]), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=-80.0,
        )  # fmt: skip
        inside = cv2.warpAffine(
            np.ones((256, 256), np.uint8), to_grid, (grid[1], grid[0]), flags=cv2.INTER_NEAREST
        )
        return PosePerson(
            roi, float(presence.ravel()[0]), sigmoid(logits), inside.astype(bool),
            PoseRoi.from_points(points[33], points[34]), points[:11],
        )  # fmt: skip


def regions_touching(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected regions (8-neighbourhood) of the bool mask ``candidates`` that touch ``seeds``.

    >>> a = np.array([[1, 1, 0, 1]], bool)
    >>> regions_touching(a, np.array([[0, 1, 0, 0]], bool)).astype(int).tolist()
    [[1, 1, 0, 0]]
    """
    count, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[seeds & candidates])] = True
    keep[0] = False
    return keep[labels]


def gate_by_pose(selfie: np.ndarray, people: list[PosePerson]) -> np.ndarray:
    """The selfie model's probability, with BlazePose deciding wherever it found someone.

    Inside a person's region the pose model's own segmentation replaces the selfie model's; a selfie region
    that reaches into such a region but spreads out of it (a car passing behind the cyclist, the pavement
    under his wheel) is a person plus what the selfie model took for one, so outside the region it is
    dropped. Selfie regions no skeleton touches (legs without a head in the picture) are kept as they are.
    """
    if not people:
        return selfie
    inside = np.logical_or.reduce([p.inside for p in people])
    pose = np.maximum.reduce([p.probability for p in people])
    gated = np.where(regions_touching(selfie > 0.5, inside), 0.0, selfie)
    return np.where(inside, pose, gated).astype(np.float32)
