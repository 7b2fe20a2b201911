"""Soft windows for the time-of-day grades: where in the frame a grade is pulled down or lit, as a smooth
map at low resolution, steady in time.

A colourist making day look like night keys the sky and the far background and pulls them down hardest,
and leaves the practical lights alone. :class:`SkyWindow` is that key, made from cues that hold on any
footage rather than on one clip:

- **large and bright**: the frame's luma after a morphological *opening* with a disc about 4 % of the frame
  wide, so a lamp, a headlight or a glint (smaller than the disc) drops out and only broad bright areas
  stay: sky, a white wall, a sunlit roof;
- **high in the frame**: sky and distance are usually at the top, so the key is weighted from 1 at the top
  down to 0.7 at the bottom, and a faint graduated filter darkens the top even where it is not bright;
- **smooth**: sky and out-of-focus distance have little fine texture, so textured bright areas (a face,
  foliage in the sun) are keyed less; **blue** bright areas (sky) a little more.

The key is made at the working resolution as the guided filter's local linear model on the luma
(:meth:`SkyWindow.model`) and applied to each full-size pixel's own luma, so its edge is the picture's edge,
pixel for pixel: a roofline, a tree against the sky or a dark object lying on a white roof keeps no pale
rim of the bright side, half out of the window.

"Bright" is relative to the frame's own white (its 98th luma percentile), so an underexposed clip is keyed
like a well exposed one. That white level is the one statistic taken from the footage, and it is taken
from each frame alone: a broad percentile moves little from frame to frame within a shot (tested), follows a
cut at once, and leaves no state to carry, so a clip split into parts, or a conform of a range with
handles, grades every frame exactly as a whole-clip render does.

>>> import numpy as np
>>> frame = np.full((90, 160, 3), 60, np.uint8); frame[:30] = (170, 200, 235)  # pale sky over dark ground
>>> frame[60:63, 20:23] = 255  # a small lamp
>>> sky = SkyWindow(160, 90)(frame)
>>> bool(sky[:20].mean() > 0.8 > 0.1 > sky[60:63, 20:23].max())
True
"""

from __future__ import annotations

import cv2
import numpy as np

from shotcraft.engines.classic.tone import smoothstep
from shotcraft.signals.structure import guided_coefficients

#: Width of the frames the windows are worked out on: light and sky are smooth, so nothing finer is needed.
WORK_WIDTH = 192


def shrink(frame: np.ndarray, width: int = WORK_WIDTH) -> np.ndarray:
    """``frame`` at about ``width`` pixels wide (area-averaged), never enlarged."""
    h, w = frame.shape[:2]
    if w <= width:
        return frame
    if w >= 4 * width and h >= 4:
        # Halving first is OpenCV's 2x2 box fast path; the area resize then averages a quarter of the pixels.
        frame = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(frame, (width, max(4, round(h * width / w))), interpolation=cv2.INTER_AREA)


class SkyWindow:
    """The sky and far-background key of a clip, frame after frame (see the module's description).

    Calling it with a frame gives a float32 map at the frame's size in ``0..1`` (1: pull down hardest).
    Each frame is keyed on its own (see the module's description), so frames may come in any order.
    """

    def __init__(self, width: int, height: int):
        self.size = (width, height)
        #: The white level of the last frame keyed.
        self.white: float | None = None

    def model(self, frame: np.ndarray, shrunk: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The key as a local linear function of the luma, ``key = slope * luma + offset``: the two maps at
        the working resolution, to be upsampled and applied to the full-size frame's own luma (0..1, as
        OpenCV's RGB to grey gives it) and clipped to 0..1, as :meth:`__call__` does. ``shrunk`` is
        :func:`shrink` of ``frame`` if already made."""
        small = (shrink(frame) if shrunk is None else shrunk).astype(np.float32) / 255.0
        h, w = small.shape[:2]
        luma = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        self.white = max(0.25, float(np.percentile(luma, 98)))
        radius = max(2, round(0.04 * w))
        # Large and bright: an opening with the disc drops whatever is smaller than it (a lamp, a glint),
        # and a broad area's strips narrower than the disc with it, such as the roof between a dark plate
        # lying on it and the frame's edge. Grown back under the luma by the disc's radius, a working pixel
        # a step, those strips return (a key weaker round a dark object than on the rest of the roof left
        # the roof's pixels round it paler than the roof), while a lamp, gone altogether, stays out.
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        broad = cv2.morphologyEx(luma, cv2.MORPH_OPEN, disc)
        step = np.ones((3, 3), np.uint8)
        for _ in range(radius):
            broad = np.minimum(cv2.dilate(broad, step), luma)
        bright = smoothstep(0.5 * self.white, 0.82 * self.white, broad)
        texture = cv2.GaussianBlur(np.abs(cv2.Laplacian(luma, cv2.CV_32F, ksize=3)), (0, 0), radius / 2)
        smooth = 1.0 - smoothstep(0.02, 0.1, texture)
        blue = smoothstep(0.0, 0.12, small[..., 2] - small[..., 0])
        height = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None]
        key = bright * (0.7 + 0.3 * height) * (0.75 + 0.25 * smooth) * (0.85 + 0.15 * blue)
        # Keyed firmly, as a colourist sets a key's clip levels: a clearly broad bright area is fully in.
        key = smoothstep(0.1, 0.6, key)
        key = key + 0.25 * height**2 * (1.0 - key)
        # Grown by a working pixel first, so the window's edge falls just outside a bright area's own rim
        # (a roof's sunlit edge) rather than leaving it as a bright outline.
        key = cv2.dilate(key, step)
        # Fit the key's edge to the picture's: the guided filter's linear model on the luma, applied at
        # full size, puts the window's edge on the picture's own edge pixel for pixel. Upsampled as a
        # finished map, a key made at 192 pixels wide fell a few full-size pixels either side of an edge,
        # and the bright side's pixels there, half out of the window, were left as a pale rim.
        slope, offset = guided_coefficients(luma, key.astype(np.float32), radius, 1e-3)
        return cv2.GaussianBlur(slope, (0, 0), 1.0), cv2.GaussianBlur(offset, (0, 0), 1.0)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        slope, offset = (cv2.resize(m, self.size, interpolation=cv2.INTER_LINEAR) for m in self.model(frame))
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        return np.clip(slope * luma + offset, 0.0, 1.0)


__all__ = ["WORK_WIDTH", "SkyWindow", "shrink"]
