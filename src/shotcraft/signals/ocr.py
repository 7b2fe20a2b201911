"""On-screen text: boxes, strings and confidences from the PP-OCR models that ship inside ``rapidocr``.

No weights are downloaded: rapidocr's wheel carries its detection and recognition ONNX models. OCR is
slow on a CPU (0.1-0.5 s for a 640x360 frame with the settings here), so callers run it on sampled
frames and track the boxes in between (:mod:`shotcraft.signals.text_tracks`).

The detector is asked to keep the frame's own size (``limit_type="max"``): rapidocr's default
upscales every image to a 736 px short side, which is 10-20x slower on video frames and no better.

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
def _engine(max_side: int):
    # The engine layer's error, imported here so the CLI reports a missing package as bad set-up (exit 2).
    from shotcraft.engines.base import EngineUnavailable

    try:
        from rapidocr import RapidOCR
    except ImportError:
        raise EngineUnavailable(
            "on-screen text needs rapidocr and onnxruntime: install shotcraft with the 'localize' extra"
        ) from None
    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
        }
    )


def read_text(image: np.ndarray, *, min_confidence: float = 0.5, max_side: int = MAX_SIDE) -> list[TextBox]:
    """Every line of text in an RGB image, in reading order (top to bottom, then left to right)."""
    # rapidocr treats a 3-channel array as OpenCV's BGR.
    result = _engine(max_side)(np.ascontiguousarray(image[..., ::-1]))
    if result.boxes is None or result.txts is None:
        return []
    boxes = [
        TextBox(np.asarray(quad, dtype=np.float32).reshape(4, 2), text, float(score))
        for quad, text, score in zip(result.boxes, result.txts, result.scores, strict=True)
        if float(score) >= min_confidence and text.strip()
    ]
    return sorted(boxes, key=lambda b: (round(b.bounds[1] / 8), b.bounds[0]))


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
