"""The old text must be gone, not faded: where the new text is not, a market version looks like the
bare sign.

The sign is rendered a second time with its letters in the board's colour (same geometry, grain and
dimming): a clean plate of the sign. Inside the old text's box, away from the new glyphs, the output
must match that plate closely and carry nothing of the old string's stroke pattern.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shotcraft.markets import localize, signage_frames
from shotcraft.media.read import VideoReader

from .conftest import APPEAR, FRAMES, SOURCE

pytest.importorskip("rapidocr")

BOARD = (236, 226, 198)  # signage_frames' default board colour
SAMPLED = list(range(APPEAR + 3, FRAMES, 6))


@pytest.fixture(scope="module")
def japanese(sign_clip: Path) -> Path:
    [result] = localize(
        sign_clip, sign_clip.parent / "ghost", ["ja"], replacements={SOURCE: {"ja": "夏のセール"}}
    )
    assert result.problems == []
    return result.path


def test_no_ghost_of_the_old_text(sign_clip: Path, japanese: Path) -> None:
    height, width = VideoReader(sign_clip).frame_at(0).shape[:2]
    lettered = list(signage_frames(SOURCE, FRAMES, width, height, appear=APPEAR))
    bare = list(signage_frames(SOURCE, FRAMES, width, height, appear=APPEAR, ink=BOARD))
    reader = VideoReader(japanese)
    for index in SAMPLED:
        out = reader.frame_at(index).astype(np.float32)
        clean, old = bare[index].astype(np.float32), lettered[index].astype(np.float32)
        strokes = np.abs(old - clean).max(axis=2) > 12
        rows, cols = np.nonzero(strokes)
        box = np.zeros(strokes.shape, bool)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        new_glyphs = (np.abs(out - clean).max(axis=2) > 40).astype(np.uint8)
        region = box & ~(cv2.dilate(new_glyphs, np.ones((7, 7), np.uint8)) > 0)
        # Old text left in place would count as "new glyphs" and drop out of the region: bound that.
        assert region.sum() > 0.4 * box.sum(), index
        # Lightly blurred: the codec's noise and the sign's grain are not what this is about.
        error = cv2.GaussianBlur(out - clean, (0, 0), 1.0).mean(axis=2)[region]
        pattern = (old - clean).mean(axis=2)[region]
        assert np.abs(error).mean() < 3.5, (index, float(np.abs(error).mean()))
        assert abs(np.corrcoef(error, pattern)[0, 1]) < 0.15, (
            index,
            float(np.corrcoef(error, pattern)[0, 1]),
        )
