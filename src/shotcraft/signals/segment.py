"""People and face masks from the models that ship in the ``mediapipe`` 0.10.21 wheel, run by OpenCV's DNN module.

mediapipe 0.10.21 carries ``selfie_segmentation.tflite`` (person segmentation) and
``face_detection_short_range.tflite`` (BlazeFace) inside its package folder. Its own Python code needs
numpy < 2, so shotcraft never imports it: the wheel is installed with ``pip install --no-deps
mediapipe==0.10.21`` purely as the carrier of those files, and OpenCV (``cv2.dnn.readNetFromTFLite``, already
a dependency) runs them; its outputs match the LiteRT interpreter's to 1e-4. ``SHOTCRAFT_MEDIAPIPE_MODELS``
may point at a folder holding the same ``modules/`` tree instead. Nothing is downloaded at run time.

Masks are smoothed over time so they do not flicker: each frame's probability map is blended with the
previous smoothed map carried along by optical flow, then cut with hysteresis (a pixel switches on above
0.6, and stays on down to 0.4 while it was on). The cut is dilated by a small safety band, because a lock
must cover every pixel of the person; its feather then grows outwards from there.

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
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.signals.flow import compute_flow, warp
from shotcraft.spec import FacesLock, PeopleLock

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

MODELS_ENV = "SHOTCRAFT_MEDIAPIPE_MODELS"
SELFIE_MODEL = "selfie_segmentation/selfie_segmentation.tflite"
SELFIE_LANDSCAPE_MODEL = "selfie_segmentation/selfie_segmentation_landscape.tflite"
FACE_MODEL = "face_detection/face_detection_short_range.tflite"


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
        out = next(iter(_run(_load_net(name), image).values())).reshape(net_size[1], net_size[0])
        return cv2.resize(out, size or (w, h), interpolation=cv2.INTER_LINEAR).clip(0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Faces


def _blazeface_anchors() -> np.ndarray:
    """Anchor centres of the short-range BlazeFace model: 2 per cell of a 16x16 grid, 6 per cell of 8x8."""
    anchors = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                anchors.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.asarray(anchors, np.float32)


_ANCHORS = _blazeface_anchors()


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
# Temporal smoothing


class TemporalMask:
    """Turns per-frame probabilities into hard masks that do not flicker (see the module docstring).

    ``work_size`` is the (width, height) the smoothing runs at; masks come back at the frame's size.
    """

    def __init__(self, work_size: tuple[int, int], *, keep: float = 0.5, on: float = 0.6, off: float = 0.4,
                 safety: int = 2):  # fmt: skip
        self.work_size = work_size
        self.keep, self.on, self.off, self.safety = keep, on, off, safety
        self._grey: np.ndarray | None = None
        self._smooth: np.ndarray | None = None
        self._hard: np.ndarray | None = None

    def update(self, frame: np.ndarray, probability: np.ndarray) -> np.ndarray:
        """Feed one frame and its probability map (at ``work_size``); get the hard float32 mask at frame size."""
        h, w = frame.shape[:2]
        grey = cv2.resize(
            cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), self.work_size, interpolation=cv2.INTER_AREA
        )
        if self._smooth is None or self._grey is None or self._hard is None:
            smooth = probability
            hard = smooth > 0.5
        else:
            # Carry the previous state along the motion from this frame to the previous one.
            flow = compute_flow(grey, self._grey, scale=1.0, preset="ultrafast")
            previous = warp(self._smooth, flow)
            was_on = warp(self._hard.astype(np.float32), flow) > 0.5
            smooth = (1 - self.keep) * probability + self.keep * previous
            hard = (smooth > self.on) | (was_on & (smooth > self.off))
        self._grey, self._smooth, self._hard = grey, smooth, hard
        full = cv2.resize(hard.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        if self.safety:
            size = 2 * self.safety + 1
            full = cv2.dilate(full, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        return full.astype(np.float32)


def _work_size(width: int, height: int, longest: int = 256) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


def _safety(width: int, height: int) -> int:
    """A band of about 1 % of the frame's short side around every person: the masks' edges are soft."""
    return max(2, round(min(width, height) / 100))


def _stable_masks(
    frames: Iterable[np.ndarray], turns: int, probability: Callable[[np.ndarray, tuple[int, int]], np.ndarray]
) -> Iterator[np.ndarray]:
    """One :class:`TemporalMask` over ``probability(frame, work_size)``, a map at the work size.

    The model sees the frames turned ``turns`` quarter turns, as a player shows them (it only finds people
    and faces standing up); the masks come back in the frames' own (storage) orientation.
    """
    smoother: TemporalMask | None = None
    for frame in frames:
        upright = np.ascontiguousarray(np.rot90(frame, turns)) if turns else frame
        h, w = upright.shape[:2]
        if smoother is None:
            smoother = TemporalMask(_work_size(w, h), safety=_safety(w, h))
        mask = smoother.update(upright, probability(upright, smoother.work_size))
        yield np.ascontiguousarray(np.rot90(mask, -turns)) if turns else mask


def people_masks(frames: Iterable[np.ndarray], turns: int = 0) -> Iterator[np.ndarray]:
    """Temporally stable hard person masks (float32, 1 = person), one per frame.

    ``turns`` is the clip's rotation in quarter turns (:attr:`VideoInfo.quarter_turns`): the model
    sees the frames upright and the masks come back in the frames' own (storage) orientation.
    """
    segmenter = PeopleSegmenter()
    yield from _stable_masks(frames, turns, lambda frame, size: segmenter.probability(frame, size=size))


def face_masks(frames: Iterable[np.ndarray], turns: int = 0) -> Iterator[np.ndarray]:
    """Temporally stable hard face masks (float32, 1 = face, hair and chin), one per frame; ``turns`` as for
    :func:`people_masks`."""
    detector = FaceDetector()

    def probability(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        h, w = frame.shape[:2]
        sw, sh = size
        boxes = [
            (x * sw / w, y * sh / h, bw * sw / w, bh * sh / h, s)
            for x, y, bw, bh, s in detector.detect(frame)
        ]
        return face_probability(boxes, sw, sh)

    yield from _stable_masks(frames, turns, probability)


def people_lock_masks(plan: TransformPlan, lock: PeopleLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``people``: every person, from the source frames."""

    model_path(SELFIE_MODEL)  # fail before the first frame is written, not in the middle
    return people_masks(reader.frames(0, plan.frame_count), plan.video.quarter_turns)


def faces_lock_masks(plan: TransformPlan, lock: FacesLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``faces``: every detected face with its hair and chin, from the source frames."""

    model_path(FACE_MODEL)
    return face_masks(reader.frames(0, plan.frame_count), plan.video.quarter_turns)
