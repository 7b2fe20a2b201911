"""The directional light's fast path (16-bit fixed point) gives what multiplying by its float gain map gives."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shotcraft.engines.classic.relight import PRESETS, LightShader, PresetGrade
from shotcraft.media.read import VideoReader
from shotcraft.spec import DirectionalLight


@pytest.mark.parametrize(
    "light",
    [
        PRESETS["golden_hour"][1],
        PRESETS["night"][1],
        DirectionalLight(intensity=4.0, colour=(1.0, 2.0, 0.5), softness=0.0),
        # So bright that 16 bits cannot hold the gain finely: the float path, and a negative channel.
        DirectionalLight(intensity=4.0, colour=(300.0, 1.0, -1.0)),
    ],
)
def test_apply_matches_the_float_gain_map(bigbuckbunny: Path, light: DirectionalLight) -> None:
    reader = VideoReader(bigbuckbunny)
    shader = LightShader(light, reader.video.width, reader.video.height)
    grade = PresetGrade(None, PRESETS["golden_hour"][0], None, reader.video.width, reader.video.height)
    for index in (10, 90):  # twice, so the reused working planes are exercised
        frame = reader.frame_at(index)
        graded = grade(frame)
        expected = cv2.multiply(graded, shader.gain(frame), dtype=cv2.CV_8U).astype(int)
        lit = shader.apply(graded, frame)
        assert lit.dtype == np.uint8 and lit.shape == frame.shape
        diff = np.abs(lit.astype(int) - expected)
        assert diff.max() <= 1 and diff.mean() < 0.01
