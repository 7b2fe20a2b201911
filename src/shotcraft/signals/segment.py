"""People and face masks from the models that ship in the ``mediapipe`` 0.10.21 wheel, run by OpenCV's DNN module.

mediapipe 0.10.21 carries ``selfie_segmentation.tflite`` (person segmentation), BlazePose
(``pose_detection.tflite`` and ``pose_landmark_full.tflite``: people, their landmarks and their own
segmentation) and ``face_detection_short_range.tflite`` (BlazeFace) inside its package folder. Its own Python
code needs numpy < 2, so shotcraft never imports it: the wheel is installed with ``pip install --no-deps
mediapipe==0.10.21`` purely as the carrier of those files. OpenCV (``cv2.dnn.readNetFromTFLite``) runs the
selfie and face models (its outputs match the LiteRT interpreter's to 1e-4); BlazePose runs in LiteRT
(``ai-edge-litert``), as OpenCV's importer misreads it. ``SHOTCRAFT_MEDIAPIPE_MODELS`` may point at a folder
holding the same ``modules/`` tree instead. Nothing is downloaded at run time. Where LiteRT has no wheel
(:func:`pose_available`), people are the selfie model's alone and the plan says so in a notice.

People are the selfie model's regions, gated by BlazePose (:class:`PoseTracker`, :func:`gate_by_pose`):
where BlazePose finds a person the selfie model agrees with, its own segmentation decides inside that
person's region, and what the selfie model spilled from the person onto a passing car or the pavement is
dropped; a person both models lose (walked out, or behind a passing van) is let go at once rather than
held as a blob on whatever covered them. Masks hold in time and at the edge (:class:`TemporalMask`): each frame's probability is blended
with the previous state carried along the optical flow, cut with hysteresis, stripped of regions the model
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
the legs pass it, a moving car in a panning shot) can still be taken in. ``min_size``
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

import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
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
from shotcraft.spec import FacesLock, PeopleLock

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

MODELS_ENV = "SHOTCRAFT_MEDIAPIPE_MODELS"
SELFIE_MODEL = "selfie_segmentation/selfie_segmentation.tflite"
SELFIE_LANDSCAPE_MODEL = "selfie_segmentation/selfie_segmentation_landscape.tflite"
FACE_MODEL = "face_detection/face_detection_short_range.tflite"
POSE_DETECTOR_MODEL = "pose_detection/pose_detection.tflite"
POSE_LANDMARK_MODEL = "pose_landmark/pose_landmark_full.tflite"


def model_path(name: str) -> Path:
    """The path of one mediapipe model file (``modules/<name>``), or EngineUnavailable saying how to get it."""
    from shotcraft.errors import EngineUnavailable

    roots: list[Path] = []
    if os.environ.get(MODELS_ENV):
        roots.append(Path(os.environ[MODELS_ENV]))
    spec = importlib.util.find_spec("mediapipe")  # locates the package without running its code
    if spec is not None and spec.submodule_search_locations:
        roots.append(Path(next(iter(spec.submodule_search_locations))))
    for root in roots:
        for candidate in (root / "modules" / name, root / name):
            if candidate.is_file():
                return candidate
    raise EngineUnavailable(
        f"people and face masks need the model file {Path(name).name} that ships in mediapipe 0.10.21: "
        f"run `pip install --no-deps mediapipe==0.10.21` (or set {MODELS_ENV} to a folder holding modules/)"
    )


@lru_cache(maxsize=4)
def _load_net(name: str) -> cv2.dnn.Net:
    # The classic engine exposes every output of the face model (the new one drops 'classificators').
    return cv2.dnn.readNetFromTFLite(str(model_path(name)), engine=cv2.dnn.ENGINE_CLASSIC)


def _run(net: cv2.dnn.Net, image: np.ndarray) -> dict[str, np.ndarray]:
    """Run a TFLite net on one float32 HWC image (OpenCV's importer wants NCHW)."""
    net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
    names = net.getUnconnectedOutLayersNames()
    return dict(zip(names, net.forward(names), strict=True))


def pose_available() -> bool:
    """True when the LiteRT runtime BlazePose needs is installed (its wheels exist for Linux x86-64/aarch64,
    macOS arm64 and Windows x86-64 only); elsewhere people are found by the selfie model alone."""
    return importlib.util.find_spec("ai_edge_litert") is not None


POSE_FALLBACK_NOTICE = (
    "people lock: the LiteRT runtime (ai-edge-litert) is not installed here, so people are found by the "
    "selfie model alone and a car or pavement touching a person may be locked with them"
)


@lru_cache(maxsize=4)
def _load_litert(name: str):  # -> ai_edge_litert.interpreter.Interpreter
    # BlazePose's models use ops OpenCV's TFLite importer reads wrongly (its landmarks come out as garbage), so
    # they run in LiteRT, Google's own TFLite runtime (the ai-edge-litert wheel, ~22 MB, numpy only).
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path(name)), num_threads=min(4, os.cpu_count() or 1))
    interpreter.allocate_tensors()
    return interpreter


def _invoke(interpreter, image: np.ndarray) -> list[np.ndarray]:
    """Run a LiteRT interpreter on one float32 HWC image; its outputs in the model's order, batch removed."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None].astype(np.float32))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()]


def _ssd_anchors(grids: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD detectors (fixed size, so centres only): ``per_cell`` anchors on
    each cell of each ``grid`` x ``grid`` layer, row by row."""
    anchors = []
    for grid, per_cell in grids:
        for y in range(grid):
            for x in range(grid):
                anchors.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.asarray(anchors, np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


# ---------------------------------------------------------------------------------------------------------
# People


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
            out = _invoke(_load_litert(name), image)[0]
        else:
            out = next(iter(_run(_load_net(name), image).values()))
        out = out.reshape(net_size[1], net_size[0])
        return cv2.resize(out, size or (w, h), interpolation=cv2.INTER_LINEAR).clip(0, 1).astype(np.float32)


# BlazePose's detector: 224x224 input, strides 8, 16, 32, 32, 32, two anchors per layer and cell, the three
# stride-32 layers sharing one 7x7 grid: 2254 anchors.
_POSE_ANCHORS = _ssd_anchors(((28, 2), (14, 2), (7, 6)))


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
        raw, logits = _invoke(_load_litert(POSE_DETECTOR_MODEL), image)
        scores = _sigmoid(logits[:, 0])
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
        landmarks, presence, segmentation, _heatmap, _world = _invoke(
            _load_litert(POSE_LANDMARK_MODEL), crop.astype(np.float32) / 255.0
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
            roi, float(presence.ravel()[0]), _sigmoid(logits), inside.astype(bool),
            PoseRoi.from_points(points[33], points[34]),
        )  # fmt: skip


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
    count, labels = cv2.connectedComponents((selfie > 0.5).astype(np.uint8), connectivity=8)
    touched = np.zeros(count, bool)
    touched[np.unique(labels[inside])] = True
    touched[0] = False
    gated = np.where(touched[labels], 0.0, selfie)
    return np.where(inside, pose, gated).astype(np.float32)


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

    def update(self, motion: Motion, people: np.ndarray) -> np.ndarray:
        """The supported pixels (bool) of a frame, given its ``motion`` and ``people`` (pixels a skeleton
        vouches for)."""
        state = people.astype(np.float32)
        independent = motion.independent
        if independent is not None:
            moving = (independent >= self.threshold).astype(np.uint8)
            side = 2 * self.reach + 1  # flow is smooth across a moving edge: reach the object's own edge
            moving = cv2.dilate(moving, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
            if motion.still is not None:  # there only the flow's smoothing moves: the frames stand still
                moving[motion.still] = 0
            state = np.maximum(state, moving)
        if motion.back is not None and self._state is not None:
            carried = self.decay * warp(self._state, motion.back)
            if motion.consistent is not None:  # what was hidden has no past: nothing is carried onto it
                carried[~motion.consistent] = 0.0
            state = np.maximum(state, carried)
        self._state = state
        return state > 0.5


# ---------------------------------------------------------------------------------------------------------
# Faces


# The short-range BlazeFace model: 2 anchors per cell of a 16x16 grid, 6 per cell of 8x8.
_ANCHORS = _ssd_anchors(((16, 2), (8, 6)))


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
        out = _run(_load_net(FACE_MODEL), image)
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
    on the third frame (→ 0.27).
    ``confident`` is the probability a region must reach somewhere to be kept at all; ``min_size`` the
    height it must have as a fraction of the frame's (upright) height.
    """

    rise: float = 0.8
    fall: float = 0.35
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


#: Grey levels (0-255, at the work size) within which a pixel matches a neighbouring frame (:attr:`Motion.still`);
#: the bikes walkers' legs differ by 20-100 where they pass, the parked bicycle between them by under 5.
STILL_DIFFERENCE = 8.0
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

    ``work_size`` is the (width, height) the flow and the state run at; masks come back at the frame's size.
    """

    def __init__(self, work_size: tuple[int, int], settings: MaskSettings = MaskSettings()):
        self.work_size = work_size
        self.settings = settings
        self._state: np.ndarray | None = None
        self._hard: np.ndarray | None = None

    def update(
        self, frame: np.ndarray, back: np.ndarray | None, probability: np.ndarray,
        gone: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The hard float32 mask, at frame size, of ``frame`` from its probability map (at ``work_size``) and
        ``back``, its flow to the previous frame (None when it starts a shot). Within ``gone`` (a person the
        models have seen leave) nothing is held from the previous frame: the mask there is what the model
        sees now."""
        s = self.settings
        state, was_on = probability, np.zeros(probability.shape, bool)
        if back is not None and self._state is not None and self._hard is not None:
            carried = warp(self._state, back)
            was_on = warp(self._hard.astype(np.float32), back) > 0.5
            weight = np.where(probability > carried, s.rise, s.fall)
            if gone is not None:
                weight[gone], was_on[gone] = 1.0, False
            state = weight * probability + (1 - weight) * carried
        hard = (state > s.on) | (was_on & (state > s.off))
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


def _to_edges(hard: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """A work-size hard mask at the frame's size, its edge moved onto the frame's own edges.

    The mask is upsampled smoothly, then a guided filter with the frame as guide (He et al. 2013) makes it
    locally a linear function of the frame's colours, which pulls the 0.5 level onto nearby image edges;
    the radius spans about one cell of the work grid, so it reaches the true edge from the coarse one.
    """
    h, w = frame.shape[:2]
    if not hard.any():
        return np.zeros((h, w), np.float32)
    soft = cv2.resize(hard.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    radius = max(2, round(2 * w / hard.shape[1]))
    refined = cv2.ximgproc.guidedFilter(
        cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), soft, radius, (0.1 * 255) ** 2
    )
    return (refined > 0.5).astype(np.float32)


def _work_size(width: int, height: int, longest: int = 320) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


# The per-frame evidence for :class:`TemporalMask`: ``(frame, work_size, motion)`` → the probability map at
# the work size and where a person has gone (or None).
Evidence = Callable[[np.ndarray, tuple[int, int], Motion], tuple[np.ndarray, np.ndarray | None]]


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
        probability, gone = evidence(upright, smoother.work_size, motion)
        mask = smoother.update(upright, motion.back, probability, gone)
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

    def evidence(frame: np.ndarray, size: tuple[int, int], motion: Motion):
        selfie = segmenter.probability(frame, size=size)
        if tracker is None:
            return selfie, None
        found = tracker.update(frame, selfie, motion.back is None)
        gated = gate_by_pose(selfie, found.people)
        skeletons = np.zeros(selfie.shape, bool)
        for person in found.people:
            skeletons |= person.inside
        supported = support.update(motion, skeletons & (gated > 0.5))
        unsupported = ~(skeletons | supported)  # nothing is held there either
        gone = unsupported if found.gone is None else unsupported | found.gone
        return np.where(unsupported, 0.0, gated).astype(np.float32), gone

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
        return face_probability(boxes, sw, sh), None

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
