"""The mediapipe 0.10.21 model files shotcraft runs, and the two runtimes that run them.

mediapipe 0.10.21 carries ``selfie_segmentation.tflite`` (person segmentation), BlazePose
(``pose_detection.tflite`` and ``pose_landmark_full.tflite``: people, their landmarks and their own
segmentation) and ``face_detection_short_range.tflite`` and ``face_detection_full_range_sparse.tflite``
(BlazeFace, near and far faces) inside its package folder. Its own Python
code needs numpy < 2, so shotcraft never imports it: the wheel is installed with ``pip install --no-deps
mediapipe==0.10.21`` purely as the carrier of those files. OpenCV (``cv2.dnn.readNetFromTFLite``) runs the
selfie and short-range face models (its outputs match the LiteRT interpreter's to 1e-4); BlazePose and the
full-range face model run in LiteRT (``ai-edge-litert``), as OpenCV's importer misreads them. ``SHOTCRAFT_MEDIAPIPE_MODELS`` may point at a folder
holding the same ``modules/`` tree instead. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MODELS_ENV = "SHOTCRAFT_MEDIAPIPE_MODELS"
SELFIE_MODEL = "selfie_segmentation/selfie_segmentation.tflite"
SELFIE_LANDSCAPE_MODEL = "selfie_segmentation/selfie_segmentation_landscape.tflite"
FACE_MODEL = "face_detection/face_detection_short_range.tflite"
FACE_FULL_RANGE_MODEL = "face_detection/face_detection_full_range_sparse.tflite"
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
def load_net(name: str) -> cv2.dnn.Net:
    # The classic engine exposes every output of the face model (the new one drops 'classificators').
    return cv2.dnn.readNetFromTFLite(str(model_path(name)), engine=cv2.dnn.ENGINE_CLASSIC)


def run_net(net: cv2.dnn.Net, image: np.ndarray) -> dict[str, np.ndarray]:
    """Run a TFLite net on one float32 HWC image (OpenCV's importer wants NCHW)."""
    net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
    names = net.getUnconnectedOutLayersNames()
    return dict(zip(names, net.forward(names), strict=True))


def pose_available() -> bool:
    """True when the LiteRT runtime BlazePose needs is installed (its wheels exist for Linux x86-64/aarch64,
    macOS arm64 and Windows x86-64 only); elsewhere people are found by the selfie model alone."""
    return importlib.util.find_spec("ai_edge_litert") is not None


@lru_cache(maxsize=4)
def load_litert(name: str):  # -> ai_edge_litert.interpreter.Interpreter
    # BlazePose's models use ops OpenCV's TFLite importer reads wrongly (its landmarks come out as garbage), so
    # they run in LiteRT, Google's own TFLite runtime (the ai-edge-litert wheel, ~22 MB, numpy only).
    from ai_edge_litert.interpreter import Interpreter

    path = str(model_path(name))
    with _native_stderr_silenced():
        interpreter = Interpreter(model_path=path, num_threads=min(4, os.cpu_count() or 1))
        interpreter.allocate_tensors()
    return interpreter


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at the null device for the duration. LiteRT's C++ core prints "INFO: Created
    TensorFlow Lite XNNPACK delegate for CPU." straight to it, with no setting to turn it off, in the middle
    of the CLI's progress; its errors still reach Python as exceptions. Held only while an interpreter is
    built (once per model and process)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def invoke(interpreter, image: np.ndarray) -> list[np.ndarray]:
    """Run a LiteRT interpreter on one float32 HWC image; its outputs in the model's order, batch removed."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None].astype(np.float32))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()]


def ssd_anchors(grids: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD detectors (fixed size, so centres only): ``per_cell`` anchors on
    each cell of each ``grid`` x ``grid`` layer, row by row."""
    anchors = []
    for grid, per_cell in grids:
        for y in range(grid):
            for x in range(grid):
                anchors.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.asarray(anchors, np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))
