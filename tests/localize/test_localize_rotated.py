"""Phone footage carries a rotation tag: text is read and set on the frame as shown, not as stored.

The sign is rendered upright on the displayed frame and turned back to storage orientation for
writing, as a phone does; the market version, turned as a player shows it, must read the new text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shotcraft.markets import localize, signage_frames
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.signals.ocr import normalise, read_text

pytest.importorskip("rapidocr")

SOURCE, TARGET = "SUMMER SALE", "SOMMERSCHLUSSVERKAUF"
FRAMES, APPEAR = 16, 2
SHOWN = (480, 272)  # width, height as displayed


def _stored(rotation: int) -> Iterator[np.ndarray]:
    k = rotation // 90
    for upright in signage_frames(SOURCE, FRAMES, *SHOWN, appear=APPEAR):
        yield np.ascontiguousarray(np.rot90(upright, -k))


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_clip_gets_upright_replacement(tmp_path: Path, rotation: int) -> None:
    width, height = SHOWN
    clip = make_clip(
        tmp_path / "phone.mp4", frames=FRAMES, width=height, height=width, fps=25, rotation=rotation,
        content=_stored(rotation),
    )  # fmt: skip
    info = probe(clip).video
    assert info.rotation == rotation and info.display_size == SHOWN
    [result] = localize(clip, tmp_path / "out", ["de"], replacements={SOURCE: {"de": TARGET}})
    assert result.problems == []
    out = VideoReader(result.path)
    turns = probe(result.path).video.quarter_turns
    for index in (APPEAR + 3, FRAMES - 2):
        shown = np.ascontiguousarray(np.rot90(out.frame_at(index), turns))
        texts = [normalise(box.text) for box in read_text(shown)]
        assert normalise(TARGET) in texts, (index, texts)
        assert not any(normalise(SOURCE) in t for t in texts), (index, texts)
