"""Exact time arithmetic and the conform to a model's frame grid and back."""

from __future__ import annotations

from fractions import Fraction

import pytest

from shotcraft.media.timing import (
    TimeConform,
    frame_at_fraction,
    frame_at_seconds,
    grid_length,
    resample_indices,
)

NTSC = Fraction(30000, 1001)


def test_seconds_to_frames_is_exact() -> None:
    assert frame_at_seconds(4.2, Fraction(25)) == 105
    assert frame_at_seconds(0.28, Fraction(25)) == 7  # 0.28 * 25 is 7.000000000000001 in floats
    assert frame_at_seconds(1001 / 30000 * 3, NTSC) == 3
    assert frame_at_seconds(Fraction(1001, 30000) * 300, NTSC) == 300
    assert frame_at_seconds(99.0, Fraction(25), frame_count=250) == 249


def test_fraction_to_frames() -> None:
    assert [frame_at_fraction(f, 250) for f in (0, 0.5, 1.0)] == [0, 124, 249]


@pytest.mark.parametrize(
    ("frames", "grid", "expected"), [(1, 4, 1), (81, 4, 81), (82, 4, 85), (250, 8, 257), (97, 8, 97)]
)
def test_grid_length(frames: int, grid: int, expected: int) -> None:
    assert grid_length(frames, grid) == expected
    assert (grid_length(frames, grid) - 1) % grid == 0


@pytest.mark.parametrize(
    ("count", "src_fps", "model_fps", "grid"),
    [
        (250, Fraction(25), Fraction(16), 4),
        (300, NTSC, Fraction(24), 8),
        (121, Fraction(24000, 1001), Fraction(16), 4),
        (7, Fraction(60), Fraction(25), 8),
    ],
)
def test_conform_round_trip_keeps_count_and_order(
    count: int, src_fps: Fraction, model_fps: Fraction, grid: int
) -> None:
    conform = TimeConform.build(count, src_fps, model_fps, grid)
    assert (conform.model_frames - 1) % grid == 0
    assert len(conform.to_model) == conform.model_frames
    assert len(conform.to_source) == count
    assert list(conform.to_source) == sorted(conform.to_source)  # time never runs backwards
    # every output frame shows the model frame nearest its own time: at most half a model frame away
    for i, j in enumerate(conform.to_source):
        assert abs(Fraction(i) / src_fps - Fraction(j) / model_fps) <= 1 / (2 * model_fps)


def test_conform_same_rate_is_identity() -> None:
    conform = TimeConform.build(250, Fraction(25), Fraction(25), grid=4)
    assert conform.model_frames == 253
    assert list(conform.to_source) == list(range(250))
    assert list(conform.to_model[:250]) == list(range(250))
    assert conform.to_model[250:] == (249, 249, 249)


def test_resample_covers_duration() -> None:
    idx = resample_indices(250, Fraction(25), Fraction(16))
    assert len(idx) == 160 and idx[0] == 0 and idx[-1] == 248
