"""Exact time arithmetic: seconds, fractions of a clip and frame indices, and resampling to a model's
frame rate and frame grid and back, so that a transformed clip keeps its frame count and duration.

All maths is rational (:class:`fractions.Fraction`), so 29.97 fps is 30000/1001, never 29.97002997.

>>> from fractions import Fraction
>>> frame_at_seconds(4.2, Fraction(25))
105
>>> frame_at_fraction(1.0, 250)
249
>>> conform = TimeConform.build(250, Fraction(25), Fraction(16), grid=4)
>>> conform.model_frames, len(conform.to_source)
(161, 250)
>>> conform.to_model[conform.model_index(100)]  # source frame 100 is fed to the model as itself
100
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


def as_fraction(value: float | int | Fraction | str) -> Fraction:
    """A float written by a person (4.2) taken as the decimal it shows, not its binary neighbour."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def frame_at_seconds(seconds: float | Fraction, fps: Fraction, frame_count: int | None = None) -> int:
    """Index of the frame on screen at ``seconds`` (frame ``i`` covers ``[i/fps, (i+1)/fps)``)."""
    index = math.floor(as_fraction(seconds) * fps)
    if frame_count is not None:
        index = min(index, frame_count - 1)
    return index


def frame_at_fraction(fraction: float | Fraction, frame_count: int) -> int:
    """0 is the first frame, 1 the last; in between rounds to the nearest frame."""
    return round(as_fraction(fraction) * (frame_count - 1))


def grid_length(frames: int, grid: int) -> int:
    """The smallest ``grid * k + 1`` that holds ``frames`` (Wan: grid 4, LTX: grid 8)."""
    if frames < 1:
        raise ValueError("a clip needs at least one frame")
    return grid * math.ceil((frames - 1) / grid) + 1


def resample_indices(
    count: int, from_fps: Fraction, to_fps: Fraction, to_count: int | None = None
) -> list[int]:
    """For each frame of the resampled clip, the index of the source frame on screen at its start time.

    ``to_count`` defaults to the number of frames that cover the source's duration at ``to_fps``; indices
    past the end repeat the last frame (used to pad up to a model's frame grid).
    """
    duration = Fraction(count) / from_fps
    if to_count is None:
        to_count = math.ceil(duration * to_fps)
    return [min(count - 1, math.floor(Fraction(j) / to_fps * from_fps)) for j in range(to_count)]


@dataclass(frozen=True)
class TimeConform:
    """The mapping between a source clip and a model's frames.

    ``to_model[j]`` is the source frame fed as model frame ``j``; ``to_source[i]`` is the model frame that
    becomes output frame ``i``. Going to the model and back gives exactly ``source_frames`` frames at the
    source's fps, whatever the model's fps and grid.
    """

    source_frames: int
    source_fps: Fraction
    model_fps: Fraction
    model_frames: int
    to_model: tuple[int, ...]
    to_source: tuple[int, ...]

    @classmethod
    def build(
        cls, source_frames: int, source_fps: Fraction, model_fps: Fraction | None = None, grid: int = 1
    ) -> TimeConform:
        model_fps = Fraction(model_fps) if model_fps else Fraction(source_fps)
        needed = math.ceil(Fraction(source_frames) / source_fps * model_fps)
        model_frames = grid_length(max(needed, 1), grid)
        to_model = resample_indices(source_frames, source_fps, model_fps, model_frames)
        to_source = [
            min(model_frames - 1, round(Fraction(i) / source_fps * model_fps)) for i in range(source_frames)
        ]
        return cls(
            source_frames, Fraction(source_fps), model_fps, model_frames, tuple(to_model), tuple(to_source)
        )

    def model_index(self, source_index: int) -> int:
        """The model frame that carries source frame ``source_index`` (where its keyframe must land)."""
        return self.to_source[source_index]


@dataclass(frozen=True)
class EncodeGrid:
    """Where the encoder of a clip restarts: ``segments`` equal runs of frames covering ``frames``, each
    encoded by a fresh encoder (a keyframe first, nothing referenced across a boundary).

    The grid depends only on the clip and the output settings, so a one-process render and a render split
    into parts (each a run of whole segments) give the same bytes, and parts are joined by copying packets.
    The count is a power of two near ``duration / seconds``, so 2, 4, 8, … parts split a clip evenly; a
    segment is then 0.7–1.4 times ``seconds`` long. ``offset`` is where a writer's first frame lies in the
    clip (a part's writer starts mid-clip); indices given to :meth:`is_start` count from there.

    >>> grid = EncodeGrid.for_clip(250, Fraction(10), seconds=2)
    >>> grid.segments, grid.starts()
    (4, [0, 63, 125, 188, 250])
    >>> grid.at(125).is_start(63), grid.at(125).is_start(62)
    (True, False)
    """

    frames: int
    segments: int
    offset: int = 0

    @classmethod
    def for_clip(cls, frames: int, duration: Fraction, seconds: float) -> EncodeGrid:
        ratio = float(duration) / seconds if frames > 0 else 0.0
        exponent = max(0, round(math.log2(ratio))) if ratio > 0 else 0
        return cls(frames, max(1, min(2**exponent, frames)))

    def start(self, segment: int) -> int:
        """The clip frame where ``segment`` starts (also past the clip's end, for takes that grow)."""
        return (2 * segment * self.frames + self.segments) // (2 * self.segments)

    def starts(self) -> list[int]:
        """Every segment's first frame, and the clip's frame count last."""
        return [self.start(i) for i in range(self.segments + 1)]

    def is_start(self, index: int) -> bool:
        """Whether the writer's frame ``index`` (``offset`` + ``index`` in the clip) starts a segment."""
        frame = self.offset + index
        nearest = frame * self.segments // max(1, self.frames)
        return frame in (self.start(nearest), self.start(nearest + 1))

    def at(self, offset: int) -> EncodeGrid:
        """The same grid, seen by a writer whose first frame is clip frame ``offset``."""
        return EncodeGrid(self.frames, self.segments, offset)
