"""Something passing in front of a sign: the new text stays behind it, and the track holds through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shotcraft.markets import localize, signage_frames
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.signals.ocr import normalise, read_text
from shotcraft.signals.text_tracks import find_text_tracks

pytest.importorskip("rapidocr")

SOURCE, TARGET = "SUMMER SALE", "SOMMERSCHLUSSVERKAUF"
FRAMES, APPEAR, POLE = 30, 3, (10, 26)  # the pole crosses the sign from frame 10 to frame 26
POLE_RGB = np.array([52, 44, 40])


@pytest.fixture(scope="module")
def occluded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("occluded")
    clip = make_clip(
        folder / "pole.mp4", frames=FRAMES, width=480, height=272, fps=25,
        content=signage_frames(SOURCE, FRAMES, 480, 272, appear=APPEAR, occluder=POLE),
    )  # fmt: skip
    table = folder / "strings.csv"
    table.write_text(f"source,de\n{SOURCE},{TARGET}\n", encoding="utf-8")
    [result] = localize(clip, folder / "out", ["de"], table=table)
    assert result.problems == []
    return clip, result.path


def test_the_track_holds_while_the_sign_is_partly_covered(occluded: tuple[Path, Path]) -> None:
    clip, _ = occluded
    tracks = find_text_tracks(VideoReader(clip), [SOURCE], every=8)
    covered = set().union(*(t.homographies for t in tracks))
    assert set(range(APPEAR + 1, FRAMES)) <= covered


def test_the_occluder_is_not_painted_over(occluded: tuple[Path, Path]) -> None:
    clip, output = occluded
    source, result = VideoReader(clip), VideoReader(output)
    track = find_text_tracks(source, [SOURCE], every=8)[0]
    checked = 0
    for index in range(POLE[0], POLE[1] + 1, 2):
        before, after = source.frame_at(index), result.frame_at(index)
        quad = track.quad_at(index)
        if quad is None:
            continue
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
        rows = slice(max(0, y0), y1)
        pole = np.abs(before[rows].astype(int) - POLE_RGB).max(axis=2) < 20
        cols = np.nonzero(pole.all(axis=0))[0]
        cols = cols[(cols > x0 + 3) & (cols < x1 - 3)]  # pole columns over the sign's text
        if len(cols) < 6:
            continue
        inner = cols[2:-2]  # off the pole's edges, where the feathering may blend
        change = np.abs(after[rows, inner].astype(int) - before[rows, inner]).max(axis=2)
        # As the source there, up to re-encoding noise: no letters (new or old) on the pole.
        assert change.mean() < 4 and np.percentile(change, 99) < 24, (index, change.mean(), change.max())
        checked += 1
    assert checked >= 4
    # Away from the pole the sign shows the new text, never the old.
    for index in (POLE[0] + 2, (POLE[0] + POLE[1]) // 2):
        seen = " ".join(normalise(b.text) for b in read_text(result.frame_at(index)))
        assert "summer" not in seen and "sale" not in seen, seen
