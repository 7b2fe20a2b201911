"""People and face masks from the models that ship in the ``mediapipe`` 0.10.21 wheel, run by OpenCV's DNN module.

mediapipe 0.10.21 carries ``selfie_segmentation.tflite`` (person segmentation) and
``face_detection_short_range.tflite`` (BlazeFace) inside its package folder. Its own Python code needs
numpy < 2, so shotcraft never imports it: the wheel is installed with ``pip install --no-deps
mediapipe==0.10.21`` purely as the carrier of those files, and OpenCV (``cv2.dnn.readNetFromTFLite``, already
a dependency) runs them; its outputs match the LiteRT interpreter's to 1e-4. ``SHOTCRAFT_MEDIAPIPE_MODELS``
may point at a folder holding the same ``modules/`` tree instead. Nothing is downloaded at run time.

Masks hold in time and at the edge (:class:`TemporalMask`): each frame's probability is blended with the
previous state carried along the optical flow, cut with hysteresis, stripped of regions the model is never
sure of, and brought to full resolution on the frame's own edges with a guided filter; at a cut nothing is
carried over. The lock's feather then grows outwards from the mask's edge.

What the bundled model misses: it was trained on people near the camera. People shorter than about a
fifth of the frame, far away or seen through glass are found late, in part or not at all; it also takes
things shaped or coloured like a person's clothes (a dark passing car, a bollard beside a leg, a bicycle's
chain ring) when they touch or overlap one. ``min_size`` (``--lock people:min-size=0.2``) leaves out
regions shorter than that fraction of the frame's height.

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
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.signals.flow import compute_flow, is_cut, warp
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


class TemporalMask:
    """Turns per-frame probabilities into hard masks that hold in time and follow the image's edges.

    Per frame: the previous state is carried along the optical flow and blended with the model's new probability, faster up than down; hysteresis
    cuts it; regions the model is nowhere confident about, or smaller than ``min_size``, are dropped; the
    cut is brought to the frame's full resolution with a guided filter on the frame itself, so the edge
    follows the picture instead of the stair-steps of the model's grid. At a cut (:func:`is_cut`) the state is
    dropped and the new shot starts from its own first frame: nothing is carried over a cut.

    ``work_size`` is the (width, height) the flow and the state run at; masks come back at the frame's size.
    """

    def __init__(self, work_size: tuple[int, int], settings: MaskSettings = MaskSettings()):
        self.work_size = work_size
        self.settings = settings
        self._grey: np.ndarray | None = None
        self._state: np.ndarray | None = None
        self._hard: np.ndarray | None = None

    def update(self, frame: np.ndarray, probability: np.ndarray) -> np.ndarray:
        """Feed one frame and its probability map (at ``work_size``); get the hard float32 mask at frame size."""
        s = self.settings
        grey = cv2.resize(
            cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), self.work_size, interpolation=cv2.INTER_AREA
        )
        state, was_on = probability, np.zeros(probability.shape, bool)
        if self._grey is not None and self._state is not None and self._hard is not None:
            back = compute_flow(grey, self._grey, scale=1.0, preset="fast")  # this frame → the previous one
            forward = compute_flow(self._grey, grey, scale=1.0, preset="fast")
            if not is_cut(self._grey, grey, forward, back):
                carried = warp(self._state, back)
                was_on = warp(self._hard.astype(np.float32), back) > 0.5
                weight = np.where(probability > carried, s.rise, s.fall)
                state = weight * probability + (1 - weight) * carried
        hard = (state > s.on) | (was_on & (state > s.off))
        hard = self._keep_people(hard, state, was_on)
        self._grey, self._state, self._hard = grey, state, hard
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


def _stable_masks(
    frames: Iterable[np.ndarray],
    turns: int,
    probability: Callable[[np.ndarray, tuple[int, int]], np.ndarray],
    settings: MaskSettings,
) -> Iterator[np.ndarray]:
    """One :class:`TemporalMask` over ``probability(frame, work_size)``, a map at the work size.

    The model sees the frames turned ``turns`` quarter turns, as a player shows them (it only finds people
    and faces standing up); the masks come back in the frames' own (storage) orientation.
    """
    smoother: TemporalMask | None = None
    for frame in frames:
        upright = np.ascontiguousarray(np.rot90(frame, turns)) if turns else frame
        if smoother is None:
            smoother = TemporalMask(_work_size(upright.shape[1], upright.shape[0]), settings)
        mask = smoother.update(upright, probability(upright, smoother.work_size))
        yield np.ascontiguousarray(np.rot90(mask, -turns)) if turns else mask


def people_masks(
    frames: Iterable[np.ndarray], turns: int = 0, *, min_size: float = 0.0
) -> Iterator[np.ndarray]:
    """Hard person masks (float32, 1 = person) that hold in time and follow the picture's edges, one per frame.

    ``turns`` is the clip's rotation in quarter turns (:attr:`VideoInfo.quarter_turns`): the model
    sees the frames upright and the masks come back in the frames' own (storage) orientation. ``min_size``
    drops people shorter than that fraction of the upright frame's height.
    """
    segmenter = PeopleSegmenter()
    yield from _stable_masks(
        frames,
        turns,
        lambda frame, size: segmenter.probability(frame, size=size),
        MaskSettings(min_size=min_size),
    )


def face_masks(
    frames: Iterable[np.ndarray], turns: int = 0, *, min_size: float = 0.0
) -> Iterator[np.ndarray]:
    """Hard face masks (float32, 1 = face, hair and chin), one per frame, treated as :func:`people_masks`
    treats people; ``min_size`` drops faces whose box is shorter than that fraction of the frame's height."""
    detector = FaceDetector()

    def probability(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        h, w = frame.shape[:2]
        sw, sh = size
        boxes = [
            (x * sw / w, y * sh / h, bw * sw / w, bh * sh / h, s)
            for x, y, bw, bh, s in detector.detect(frame)
            if bh >= min_size * h
        ]
        return face_probability(boxes, sw, sh)

    # A face is a detection, not a segmentation: every ellipse is confident, and size was judged on the box.
    yield from _stable_masks(frames, turns, probability, MaskSettings(confident=0.5, min_area=0.0))


def people_lock_masks(plan: TransformPlan, lock: PeopleLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``people``: every person, from the source frames."""

    model_path(SELFIE_MODEL)  # fail before the first frame is written, not in the middle
    frames = reader.frames(0, plan.frame_count)
    return people_masks(frames, plan.video.quarter_turns, min_size=lock.min_size)


def faces_lock_masks(plan: TransformPlan, lock: FacesLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """Lock masks for ``faces``: every detected face with its hair and chin, from the source frames."""

    model_path(FACE_MODEL)
    return face_masks(reader.frames(0, plan.frame_count), plan.video.quarter_turns, min_size=lock.min_size)
