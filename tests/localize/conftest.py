"""A clip of real footage with a moving, perspective-turning sign, shared by the localization tests so
the OCR pass over it runs once (it is cached per clip file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotcraft.markets import signage_frames
from shotcraft.media.synth import make_clip

SOURCE = "SUMMER SALE"
FRAMES, APPEAR = 40, 5


@pytest.fixture(scope="session")
def sign_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signage")
    return make_clip(
        folder / "sign.mp4", frames=FRAMES, width=480, height=272, fps=25, audio_channels=2,
        content=signage_frames(SOURCE, FRAMES, 480, 272, appear=APPEAR),
    )  # fmt: skip
