"""On-screen text: boxes, strings and confidences from the PP-OCR models that ship inside ``rapidocr``.

No weights are downloaded: rapidocr's wheel carries its detection and recognition ONNX models. OCR is
slow on a CPU (0.1-0.5 s for a 640x360 frame with the settings here), so callers run it on sampled
frames and track the boxes in between (:mod:`shotcraft.signals.text_tracks`). Detection
(:func:`detect_text`) and recognition (:func:`recognise`) are separate steps so a caller that already
knows what a box says can skip reading it again; :func:`read_text` does both.

The detector is asked to keep the frame's own size up to ``max_side`` (``limit_type="max"``):
rapidocr's default upscales every image to a 736 px short side, which is 10-20x slower on video frames
and no better. The text-direction classifier is off: it only matters for text upside down, and costs a
fifth of the time.

>>> import numpy as np
>>> from PIL import Image, ImageDraw, ImageFont
>>> import fontpkg
>>> image = Image.new("RGB", (320, 96), (235, 225, 200))
>>> font = ImageFont.truetype(str(fontpkg.path("Noto Sans")), 40)
>>> ImageDraw.Draw(image).text((16, 24), "OPEN DAILY", font=font, fill=(20, 30, 90))
>>> [box.text for box in read_text(np.asarray(image))]
['OPEN DAILY']
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np

#: The detector's longest side: frames larger than this are downscaled for detection only.
MAX_SIDE = 960


@dataclass(frozen=True)
class TextBox:
    """One line of text found in an image: ``quad`` holds its four corners (x, y), clockwise from
    top-left, in image pixels."""

    quad: np.ndarray
    text: str
    confidence: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the quad."""
        return (
            float(self.quad[:, 0].min()),
            float(self.quad[:, 1].min()),
            float(self.quad[:, 0].max()),
            float(self.quad[:, 1].max()),
        )


@functools.cache
def _engine(max_side: int | None):
    """A rapidocr engine: detection only with a ``max_side``, recognition only with None."""
    # The engine layer's error, imported here so the CLI reports a missing package as bad set-up (exit 2).
    from shotcraft.errors import EngineUnavailable

    try:
        from rapidocr import RapidOCR
    except ImportError:
        raise EngineUnavailable(
            "on-screen text needs rapidocr and onnxruntime: install shotcraft with the 'localize' extra"
        ) from None
    steps = (
        {
            "Global.use_det": True,
            "Global.use_rec": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
        }
        if max_side is not None
        else {"Global.use_det": False, "Global.use_rec": True}
    )
    return RapidOCR(params={"Global.log_level": "error", "Global.use_cls": False, **steps})


def detect_text(image: np.ndarray, *, max_side: int = MAX_SIDE) -> list[np.ndarray]:
    """The quads (4x2, clockwise from top-left) of the text lines in an RGB image, not yet read.
    Frames larger than ``max_side`` are downscaled for detection (big text needs no more)."""
    # rapidocr treats a 3-channel array as OpenCV's BGR.
    result = _engine(max_side)(np.ascontiguousarray(image[..., ::-1]))
    boxes = getattr(result, "boxes", None)
    if boxes is None:
        return []
    return [np.asarray(quad, dtype=np.float32).reshape(4, 2) for quad in boxes]


def rectify(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The pixels inside ``quad`` warped to an upright rectangle its own width and height."""
    width = round(max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])))
    height = round(max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])))
    width, height = max(width, 2), max(height, 2)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(
        image, warp, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def recognise(image: np.ndarray, quads: list[np.ndarray], *, min_confidence: float = 0.5) -> list[TextBox]:
    """Read the text in each quad of an RGB image; lines read with less than ``min_confidence`` are
    dropped. Returned in reading order (top to bottom, then left to right)."""
    boxes = []
    for quad in quads:
        crop = rectify(image, quad)
        if crop.shape[0] >= 1.5 * crop.shape[1]:
            crop = np.rot90(crop)  # a tall box is a line set vertically (rapidocr's own crop does this too)
        result = _engine(None)(np.ascontiguousarray(crop[..., ::-1]))
        texts, scores = getattr(result, "txts", None), getattr(result, "scores", None)
        if not texts:
            continue
        text, score = texts[0], float(scores[0])
        if score >= min_confidence and text.strip():
            boxes.append(TextBox(quad, text, score))
    return sorted(boxes, key=lambda b: (round(b.bounds[1] / 8), b.bounds[0]))


def read_text(image: np.ndarray, *, min_confidence: float = 0.5, max_side: int = MAX_SIDE) -> list[TextBox]:
    """Every line of text in an RGB image, in reading order (top to bottom, then left to right)."""
    return recognise(image, detect_text(image, max_side=max_side), min_confidence=min_confidence)


def normalise(text: str) -> str:
    """Text as compared across OCR and tables: NFKC, case-folded, whitespace collapsed.

    OCR reads ``Ａ`` and ``A`` alike and drops or adds spaces between words; tables hold what people typed.

    >>> normalise("  Summer   SALE ")
    'summer sale'
    """
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def similarity(a: str, b: str) -> float:
    """How alike two strings are once normalised and spaces removed, in [0, 1] (1: same)."""
    from difflib import SequenceMatcher

    x, y = normalise(a).replace(" ", ""), normalise(b).replace(" ", "")
    if not x or not y:
        return 0.0
    return SequenceMatcher(None, x, y, autojunk=False).ratio()
