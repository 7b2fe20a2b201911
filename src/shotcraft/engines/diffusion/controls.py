"""The brief's transform controls in diffusion terms.

- **strength preset** → the noise level the source is re-noised to before denoising (0: untouched,
  1: pure noise); **motion adherence** caps that level (a lower level keeps the source's motion in the
  latents) and, when it is the stronger of the two adherences, makes the control video a flow map.
- **structure adherence** → a control video and its strength; the higher the adherence, the tighter the
  control: coarse scribbled lines (1-3), edges (4-6), grey levels (7-9; VACE's colourisation control, which
  fixes the luminance of every pixel). The strength fades the control video only (keyframes and masks
  always hold in full).
- **reframe** → an outpainting canvas (:func:`shotcraft.plan.reframe_canvas`): the source placed on a larger
  frame, the new area masked for generation.

>>> renoise_level(0.55, motion=9)
0.45
>>> control_choice(structure=5, motion=3)
('edges', 0.56)
>>> control_choice(structure=2, motion="off")[0], control_choice(structure=8, motion="off")[0]
('scribble', 'grey')
>>> control_choice(structure="off", motion="off")
(None, 0.0)
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from shotcraft.spec import Adherence, adherence_level

ControlKind = Literal["scribble", "edges", "grey", "flow"]
#: Structure controls from the loosest to the tightest, one per third of the adherence scale.
STRUCTURE_CONTROLS: tuple[ControlKind, ...] = ("scribble", "edges", "grey")


def renoise_level(strength: float, motion: Adherence = "off") -> float:
    """Noise level the source is re-noised to: the strength preset's level, capped by motion adherence
    (9 caps at 0.45, 1 at 0.85) because motion lives in the low-noise structure of the latents."""
    level = adherence_level(motion)
    if level == 0:
        return strength
    cap = 0.9 - 0.05 * level
    return round(min(strength, cap), 4)


def control_choice(structure: Adherence, motion: Adherence) -> tuple[ControlKind | None, float]:
    """Which control video to give the model and its strength (0 .. 1).

    Whichever adherence is higher picks the map (flow for motion; for structure, the looser
    :data:`STRUCTURE_CONTROLS` at lower levels). The strength is the level over 9; it fades the control
    video alone (:func:`~shotcraft.engines.diffusion.wan.vace_inputs`).
    """
    s, m = adherence_level(structure), adherence_level(motion)
    if s == 0 and m == 0:
        return None, 0.0
    if m > s:
        return "flow", round(m / 9, 2)
    return STRUCTURE_CONTROLS[(s - 1) // 3], round(s / 9, 2)


def control_frames(frames: np.ndarray, kind: ControlKind) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 control video for ``frames`` of the same shape."""
    from shotcraft.signals.structure import edge_map, luminance

    out = np.empty_like(frames)
    if kind == "flow":
        from shotcraft.signals.flow import compute_flow

        for i in range(len(frames)):
            j = min(i + 1, len(frames) - 1)
            out[i] = flow_colour(
                compute_flow(frames[i], frames[j]) if j != i else np.zeros((*frames.shape[1:3], 2))
            )
        return out
    for i, frame in enumerate(frames):
        if kind == "scribble":
            grey = scribble(frame)
        else:
            grey = edge_map(frame) * 2.0 if kind == "edges" else luminance(frame)
        out[i] = (np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None]
    return out


def scribble(frame: np.ndarray) -> np.ndarray:
    """Coarse lines, ``(H, W)`` in 0..1: the edges of the frame at a quarter of its size, scaled back up,
    so only the main shapes are drawn, thick and soft, as in a scribble."""
    from shotcraft.signals.structure import edge_map

    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    return cv2.resize(np.clip(edge_map(small) * 2.0, 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)


def _colour_wheel() -> np.ndarray:
    """The optical-flow colour wheel of Baker et al., "A Database and Evaluation Methodology for Optical
    Flow" (IJCV 2011): 55 hues in six runs (red-yellow 15, yellow-green 6, green-cyan 4, cyan-blue 11,
    blue-magenta 13, magenta-red 6), each run ramping one channel; ``(55, 3)`` floats in 0..255."""
    runs = [(15, 0, 1, +1), (6, 1, 0, -1), (4, 1, 2, +1), (11, 2, 1, -1), (13, 2, 0, +1), (6, 0, 2, -1)]
    colours = []
    for length, full, ramp, direction in runs:
        for i in range(length):
            colour = [0.0, 0.0, 0.0]
            colour[full] = 255.0
            step = np.floor(255.0 * i / length)
            colour[ramp] = step if direction > 0 else 255.0 - step
            colours.append(colour)
    return np.array(colours)


_WHEEL = _colour_wheel()


def flow_colour(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Optical flow as Baker et al.'s colour wheel, the coding VACE's flow annotator (RAFT's) produces and
    its flow control was trained on: the hue is the direction, interpolated between the wheel's 55
    colours; the saturation is the speed over the frame's fastest (white: still); speeds beyond
    ``max_magnitude`` are darkened to 75 %."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    radius = np.sqrt(u * u + v * v)
    scale = max_magnitude or float(radius.max()) + 1e-5
    u, v, radius = u / scale, v / scale, radius / scale
    position = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * (len(_WHEEL) - 1)
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % len(_WHEEL)
    f = (position - k0)[..., None]
    colour = ((1 - f) * _WHEEL[k0] + f * _WHEEL[k1]) / 255.0
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    return np.floor(255.0 * colour).astype(np.uint8)


def model_size(width: int, height: int, default: tuple[int, int], multiple: int) -> tuple[int, int]:
    """The generation size for a ``width`` x ``height`` frame: the same aspect, no more pixels than the
    model's default resolution, snapped to ``multiple``."""
    budget = default[0] * default[1]
    scale = min(1.0, (budget / (width * height)) ** 0.5)
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return w, h


def resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image or mask to ``(width, height)`` (area filter down, cubic up)."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    shrinking = size[0] * size[1] < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def letterbox(image: np.ndarray, size: tuple[int, int], fill: int = 255) -> np.ndarray:
    """``image`` fitted inside ``(width, height)`` with its aspect kept, centred on ``fill`` (white): where
    VACE's pipeline puts a reference image (diffusers pads references on white), done here with
    :func:`resize`'s filters so the pipeline has nothing left to resample.

    >>> boxed = letterbox(np.zeros((10, 40, 3), np.uint8), (32, 32))  # 4:1 into a square
    >>> boxed.shape, np.flatnonzero(boxed[:, 16, 0] == 0).tolist()
    ((32, 32, 3), [12, 13, 14, 15, 16, 17, 18, 19])
    """
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    fit_w = min(width, max(1, round(image.shape[1] * scale)))
    fit_h = min(height, max(1, round(image.shape[0] * scale)))
    top, left = (height - fit_h) // 2, (width - fit_w) // 2
    canvas = np.full((height, width, *image.shape[2:]), fill, image.dtype)
    canvas[top : top + fit_h, left : left + fit_w] = resize(image, (fit_w, fit_h))
    return canvas


__all__ = [
    "STRUCTURE_CONTROLS", "control_choice", "control_frames", "flow_colour", "letterbox", "model_size",
    "renoise_level", "resize", "scribble",
]  # fmt: skip
