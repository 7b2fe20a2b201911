"""Face masks from mediapipe's BlazeFace, short and full range (:mod:`shotcraft.signals.mediapipe_models`):
each face a soft ellipse grown over its hair, ears and chin, held in time and at the edge as people are
(:mod:`shotcraft.signals.temporal_masks`).

A face is part of a person, at their head: a detection is kept only where the selfie model
(:class:`~shotcraft.signals.people.PeopleSegmenter`) sees a person over the middle of its box
(:func:`on_people`) and, where BlazePose found that person, near their skeleton's face (:func:`at_heads`);
and a face holds no other face (a box round most of a smaller one is a head and shoulders). On ordinary
footage BlazeFace, run on tiles to find the smaller faces, also fires on car grilles, wheels, window
reflections, a hand or a fist, at scores its true faces share (bikes: 72 of 109 detections outside the two
faces in view, scores 0.60-0.76 against 0.60-0.85), and a face lock there kept an ungraded oval on a passing
car. What is left: a face-like fold of clothing on someone BlazePose does not find (a walker seen from the
waist down), and now and then an oval over a head and shoulders where BlazeFace found no face inside it.

>>> from skimage import data
>>> boxes = FaceDetector().detect(data.astronaut())
>>> len(boxes), [round(v, -1) for v in boxes[0][:2]]
(1, [170.0, 70.0])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.signals.mediapipe_models import (
    FACE_FULL_RANGE_MODEL,
    FACE_MODEL,
    POSE_DETECTOR_MODEL,
    POSE_LANDMARK_MODEL,
    SELFIE_MODEL,
    invoke,
    load_litert,
    load_net,
    model_path,
    pose_available,
    run_net,
    sigmoid,
    ssd_anchors,
)
from shotcraft.signals.people import PeopleSegmenter
from shotcraft.signals.pose import PosePerson, PoseTracker
from shotcraft.signals.temporal_masks import MaskSettings, Motion, stable_masks
from shotcraft.spec import FacesLock

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


#: A face's box: x, y, width, height (pixels) and the detector's score.
Box = tuple[float, float, float, float, float]


@dataclass(frozen=True)
class _BlazeFace:
    """One of BlazeFace's two models: its file, input side, anchor centres, the score a face needs, and
    whether it runs in LiteRT (OpenCV misreads the full-range model) or OpenCV (faster on the short-range one,
    and it names the outputs)."""

    name: str
    side: int
    anchors: np.ndarray
    min_score: float
    litert: bool

    def run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box regressors (N, 16) and score logits (N,) for one square float32 image in -1..1."""
        if self.litert:
            raw, logits = invoke(load_litert(self.name), image)
            return raw.reshape(-1, 16), logits.reshape(-1)
        out = run_net(load_net(self.name), image)
        return out["regressors"].reshape(-1, 16), out["classificators"].reshape(-1)


# Short range (faces within about 2 m): 2 anchors per cell of a 16x16 grid, 6 per cell of 8x8, on 128x128.
# Full range (to about 5 m): 1 anchor per cell of 48x48, on 192x192; its scores run lower (MediaPipe's own
# default threshold for it is 0.5): on bikes the cyclist's face 30-38 px wide at f79 and f103-107, which
# the short-range model misses even on tiles, scores 0.57-0.78.
SHORT_RANGE = _BlazeFace(FACE_MODEL, 128, ssd_anchors(((16, 2), (8, 6))), 0.6, litert=False)
FULL_RANGE = _BlazeFace(FACE_FULL_RANGE_MODEL, 192, ssd_anchors(((48, 1),)), 0.5, litert=True)


class FaceDetector:
    """Face boxes ``(x, y, w, h, score)`` in pixels from mediapipe's BlazeFace.

    The short-range model sees 128x128 and finds faces that fill a good part of its input, so the frame is
    also cut into overlapping square tiles, which finds the smaller faces of ordinary footage; the
    full-range model, where LiteRT is installed (:func:`pose_available`), looks at the whole frame for the
    small, distant ones. Overlapping boxes are merged (non-maximum suppression).
    """

    def __init__(self, tiles: bool = True, full_range: bool | None = None):
        self.tiles = tiles
        self.full_range = pose_available() if full_range is None else full_range

    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        side = max(h, w)
        whole = ((w - side) // 2, (h - side) // 2, side)  # the whole frame, letterboxed in the middle
        windows = [(SHORT_RANGE, *whole)] + ([(FULL_RANGE, *whole)] if self.full_range else [])
        if self.tiles:
            side = min(h, w) // 2
            stride = max(1, side * 2 // 3)
            for y in range(0, max(1, h - side + 1), stride):
                for x in range(0, max(1, w - side + 1), stride):
                    windows.append((SHORT_RANGE, x, y, side))
        boxes, scores = [], []
        for model, x0, y0, side in windows:
            for box, score in self._detect_square(frame, model, x0, y0, side):
                boxes.append(box)
                scores.append(score)
        if not boxes:
            return []
        kept = [(*boxes[i], scores[i]) for i in np.asarray(cv2.dnn.NMSBoxes(boxes, scores, 0.0, 0.3)).ravel()]
        # A face holds no other face: a box round most of a smaller one is a head and shoulders, or a whole
        # body, taken for a face (bikes f79 and f108: the cyclist's face and a box twice its size round it).
        return [box for box in kept if not any(other is not box and _holds(box, other) for other in kept)]

    @staticmethod
    def _detect_square(
        frame: np.ndarray, model: _BlazeFace, x0: int, y0: int, side: int
    ) -> Iterator[tuple[list[float], float]]:
        h, w = frame.shape[:2]
        square = np.zeros((side, side, 3), np.uint8)  # the square at (x0, y0) of the frame, black outside it
        crop = frame[max(0, y0) : y0 + side, max(0, x0) : x0 + side]
        square[max(0, -y0) : max(0, -y0) + crop.shape[0], max(0, -x0) : max(0, -x0) + crop.shape[1]] = crop
        size = (model.side, model.side)
        image = cv2.resize(square, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        raw, logits = model.run(image)
        scores = sigmoid(logits)
        for i in np.flatnonzero(scores >= model.min_score):
            cx = (model.anchors[i, 0] + raw[i, 0] / model.side) * side + x0
            cy = (model.anchors[i, 1] + raw[i, 1] / model.side) * side + y0
            bw, bh = raw[i, 2] / model.side * side, raw[i, 3] / model.side * side
            if bw <= 0 or bh <= 0 or not (0 <= cx < w and 0 <= cy < h):
                continue
            yield [float(cx - bw / 2), float(cy - bh / 2), float(bw), float(bh)], float(scores[i])


def _holds(outer: Box, inner: Box) -> bool:
    """Whether ``outer`` is the larger box and covers 80 % or more of ``inner``."""
    (ox, oy, ow, oh, _), (ix, iy, iw, ih, _) = outer, inner
    overlap = max(0.0, min(ox + ow, ix + iw) - max(ox, ix)) * max(0.0, min(oy + oh, iy + ih) - max(oy, iy))
    return ow * oh > iw * ih and overlap >= 0.8 * iw * ih


def face_probability(boxes: Iterable[Box], width: int, height: int) -> np.ndarray:
    """Soft ellipses over the detected faces, grown to take in hair, ears and chin (the performance)."""
    canvas = np.zeros((height, width), np.float32)
    for x, y, w, h, _score in boxes:
        centre = (round(x + w / 2), round(y + h * 0.45))
        axes = (max(1, round(w * 0.75)), max(1, round(h * 0.95)))
        cv2.ellipse(canvas, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    return canvas


#: The selfie model's mean probability over the middle half of a face's box (each side) that makes it a face on
#: a person. On bikes the true faces (the man turning his head, the cyclist's helmeted face, 35-67 px) reach
#: 0.39-0.99 there, every detection on a car, a wheel or an empty street 0.00-0.21.
FACE_ON_PERSON = 0.3


def on_people(boxes: Iterable[Box], people: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)) -> list[Box]:
    """The face boxes ``(x, y, w, h, score)`` whose middle half the person probability map ``people`` covers at
    :data:`FACE_ON_PERSON` or more on average; ``scale`` takes box coordinates onto the map's grid.

    >>> people = np.zeros((100, 100), np.float32); people[10:60, 20:50] = 1.0  # someone
    >>> [b[0] for b in on_people([(25, 12, 20, 20, 0.9), (70, 70, 20, 20, 0.9)], people)]
    [25]
    """
    return [box for box in boxes if _middle_mean(box, people, scale) >= FACE_ON_PERSON]


def _middle_mean(box: Box, grid: np.ndarray, scale: tuple[float, float]) -> float:
    """The mean of ``grid`` over the middle half (each side) of ``box``, whose coordinates ``scale`` takes
    onto the grid; 0 where that lies outside it."""
    x, y, bw, bh, _score = box
    h, w = grid.shape
    x0, x1 = (int(np.clip(round(v * scale[0]), 0, w)) for v in (x + bw / 4, x + 3 * bw / 4))
    y0, y1 = (int(np.clip(round(v * scale[1]), 0, h)) for v in (y + bh / 4, y + 3 * bh / 4))
    middle = grid[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]
    return float(middle.mean()) if middle.size else 0.0


def at_heads(
    boxes: Iterable[Box], people: list[PosePerson], scale: tuple[float, float] = (1.0, 1.0)
) -> list[Box]:
    """The face boxes that lie at a skeleton's head where they lie on its body: where the middle of a box is
    on a person BlazePose found (as :func:`on_people` judges it, on the skeleton's own segmentation: ``scale``
    takes box coordinates onto its grid), one of that person's face landmarks must lie within the box's size
    of its centre. BlazeFace takes a knee or a hand for a face now and then (the cyclist on bikes, 30
    frames); a skeleton knows where its face is. (Not how big: on a cartoon BlazePose's face landmarks span
    anything from 5 to 100 px round one head.)

    >>> from shotcraft.signals.pose import PoseRoi
    >>> body = np.zeros((100, 100), np.float32); body[10:90, 40:60] = 1.0
    >>> roi = PoseRoi((50.0, 50.0), 100.0, 0.0)
    >>> person = PosePerson(roi, 1.0, body, body > 0, roi, np.array([[50.0, 15.0]] * 11))
    >>> [b[1] for b in at_heads([(42, 8, 16, 16, 0.9), (42, 70, 16, 16, 0.9)], [person])]  # face, knee
    [8]
    """
    kept = []
    for box in boxes:
        x, y, bw, bh, _score = box
        centre = np.array([x + bw / 2, y + bh / 2])
        for person in people:
            if _middle_mean(box, person.probability, scale) < FACE_ON_PERSON:
                continue
            if np.linalg.norm(person.face - centre, axis=1).min() > max(bw, bh):
                break
        else:
            kept.append(box)
    return kept


def face_masks(
    frames: Iterable[np.ndarray], turns: int = 0, *, min_size: float = 0.0, pose: bool | None = None
) -> Iterator[np.ndarray]:
    """Hard face masks (float32, 1 = face, hair and chin), one per frame, treated as
    :func:`~shotcraft.signals.people.people_masks` treats people; ``min_size`` drops faces whose box is
    shorter than that fraction of the frame's height. Only faces on a person (:func:`on_people`) and, where
    BlazePose finds that person, at their head (:func:`at_heads`) count; ``pose``: as for people masks."""
    detector, segmenter = FaceDetector(), PeopleSegmenter()
    tracker = PoseTracker() if (pose_available() if pose is None else pose) else None

    def evidence(frame: np.ndarray, size: tuple[int, int], motion: Motion):
        h, w = frame.shape[:2]
        sw, sh = size
        scale = (sw / w, sh / h)
        selfie = segmenter.probability(frame, size=size)
        # followed on every frame, faces or not: BlazePose tracks people from frame to frame
        skeletons = [] if tracker is None else tracker.update(frame, selfie, motion.back is None).people
        found = [box for box in detector.detect(frame) if box[3] >= min_size * h]
        found = at_heads(on_people(found, selfie, scale), skeletons, scale)
        boxes = [(x * sw / w, y * sh / h, bw * sw / w, bh * sh / h, s) for x, y, bw, bh, s in found]
        return face_probability(boxes, sw, sh), None, None

    # A face is a detection, not a segmentation: every ellipse is confident, and size was judged on the box.
    yield from stable_masks(frames, turns, evidence, MaskSettings(confident=0.5, min_area=0.0))


def faces_lock_masks(plan: TransformPlan, lock: FacesLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``faces``: every detected face with its hair and chin, from the source frames."""

    model_path(FACE_MODEL)
    model_path(SELFIE_MODEL)
    if pose_available():
        model_path(FACE_FULL_RANGE_MODEL)
        model_path(POSE_DETECTOR_MODEL)
        model_path(POSE_LANDMARK_MODEL)
    return face_masks(reader.frames(0, plan.frame_count), plan.video.quarter_turns, min_size=lock.min_size)
