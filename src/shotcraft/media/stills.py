"""Edited stills (keyframes, swap images, references) read as RGB arrays that match a clip.

>>> import tempfile
>>> from fractions import Fraction
>>> from PIL import Image
>>> from shotcraft.media.probe import VideoInfo
>>> path = Path(tempfile.mkdtemp()) / "key.png"
>>> Image.new("RGB", (32, 18), "red").save(path)
>>> video = VideoInfo(0, "h264", 64, 36, Fraction(25), Fraction(1, 25), 1, Fraction(1, 25), "yuv420p", 8)
>>> notices = []
>>> load_still(path, video, notices, "keyframe").shape, notices
((36, 64, 3), ['keyframe (key.png) was 32x18; resized to 64x36'])
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from shotcraft.errors import SpecError
from shotcraft.media.orientation import to_storage_image

if TYPE_CHECKING:
    from shotcraft.media.probe import VideoInfo

#: Stills whose aspect ratio differs from the clip's by more than this are refused, not resized.
ASPECT_TOLERANCE = 0.02


def load_still(
    path: Path, video: VideoInfo, notices: list[str] | None = None, what: str = "image"
) -> np.ndarray:
    """Load an edited still to match the clip: RGB uint8, storage orientation, the clip's size.

    A still painted on the displayed (rotated) frame is turned back (:func:`to_storage_image`); one of
    another size but the same aspect ratio is resized with a notice; another aspect ratio is refused.
    """
    image = to_storage_image(read_image(path, what), video)
    h, w = image.shape[:2]
    if (w, h) != (video.width, video.height):
        aspect, clip_aspect = w / h, video.width / video.height
        if abs(aspect / clip_aspect - 1) > ASPECT_TOLERANCE:
            raise SpecError(
                f"{what} ({path.name}) is {w}x{h} but the clip is {video.width}x{video.height}: "
                "the aspect ratio differs, so it cannot be resized to fit"
            )
        image = np.asarray(
            Image.fromarray(image).resize((video.width, video.height), Image.Resampling.LANCZOS)
        )
        if notices is not None:
            notices.append(f"{what} ({path.name}) was {w}x{h}; resized to {video.width}x{video.height}")
    return image


def read_image(path: Path, what: str = "image") -> np.ndarray:
    """An image file as an RGB uint8 array, or a SpecError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what}: {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise SpecError(f"{what}: {path.name} is not a readable image ({exc})") from None
