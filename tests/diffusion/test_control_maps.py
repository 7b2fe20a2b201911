"""The control videos VACE is given: structure adherence goes from the loosest control (coarse scribbled
lines) to the tightest (grey levels, which fix every pixel's luminance), and flow is drawn with Baker et
al.'s colour wheel, as VACE's flow annotator draws it."""

from __future__ import annotations

import cv2
import numpy as np

from shotcraft.engines.diffusion.controls import control_choice, control_frames, flow_colour
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.signals.structure import luminance


def _fine_detail(image: np.ndarray) -> float:
    """Share of a map that is finer than a few pixels: what a 2-pixel blur takes away."""
    grey = image[..., 0].astype(np.float32)
    return float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0)).mean() / max(grey.mean(), 1e-6))


def test_structure_adherence_runs_from_the_loosest_control_to_the_tightest():
    kinds = [control_choice(level, "off")[0] for level in range(1, 10)]
    assert kinds == ["scribble"] * 3 + ["edges"] * 3 + ["grey"] * 3
    frame = next(iter(VideoReader(sample_clip("bikes")).frames()))[None]
    scribble, edges, grey = (control_frames(frame, kind)[0] for kind in ("scribble", "edges", "grey"))
    # Looser means less of the frame is fixed: scribbles keep only coarse lines, edges keep fine ones,
    # grey levels keep every pixel's brightness.
    assert _fine_detail(scribble) < 0.5 * _fine_detail(edges)
    assert np.abs(grey[..., 0] / 255.0 - luminance(frame[0])).max() < 1 / 255 + 1e-6


def test_flow_is_coloured_with_the_baker_et_al_wheel():
    # right, left, down, up (image rows grow downwards), still, and right at half the top speed
    flow = np.array([[[1, 0], [-1, 0], [0, 1], [0, -1], [0, 0], [0.5, 0]]], np.float32)
    colours = flow_colour(flow)[0].tolist()
    assert colours == [
        [255, 0, 0],  # the wheel's first colour
        [0, 209, 255],  # colour 27 of 55, in the cyan-blue run
        [255, 229, 0],  # halfway between colours 13 and 14, in the red-yellow run
        [88, 0, 255],  # halfway between colours 40 and 41, in the blue-magenta run
        [255, 255, 255],  # still: white
        [255, 127, 127],  # half speed: half way to white
    ]
