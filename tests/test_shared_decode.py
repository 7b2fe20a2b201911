"""The lock step reuses the frames the engine decoded (one decode of the source), and falls back to its own
decoding, with the same frames, whenever the engine's pass cannot be shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shotcraft.engines import select_engine
from shotcraft.finishing.locks import apply_locks, locked_transform
from shotcraft.media.read import TeeReader, VideoReader
from shotcraft.plan import plan_transform
from shotcraft.spec import TransformSpec

LOCKED_RELIGHT = {
    "operations": [{"op": "relight", "preset": "golden_hour"}],
    "locks": [{"kind": "rect", "x": 20, "y": 10, "width": 60, "height": 40, "feather": 6}],
}


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """Every (start, stop) the source is decoded with, recorded as decoding starts."""
    calls: list[tuple[int, int | None]] = []
    decode = VideoReader.av_frames

    def counted(self: VideoReader, start: int = 0, stop: int | None = None) -> Iterator:
        calls.append((start, stop))
        return decode(self, start, stop)

    monkeypatch.setattr(VideoReader, "av_frames", counted)
    return calls


def test_locked_transform_decodes_the_source_once(small_clip: Path, passes: list) -> None:
    plan = plan_transform(small_clip, TransformSpec.model_validate(LOCKED_RELIGHT))
    engine = select_engine(plan)
    shared = list(locked_transform(plan, engine, VideoReader(small_clip, plan.source)))
    assert passes == [(0, None)]
    passes.clear()
    reader = VideoReader(small_clip, plan.source)
    twice = list(apply_locks(plan, engine.transform(plan, reader), reader))
    assert passes == [(0, None), (0, None)]
    assert len(shared) == plan.frame_count
    assert all(np.array_equal(a, b) for a, b in zip(shared, twice, strict=True))


def test_replay_is_exact_when_the_pass_runs_far_ahead(small_clip: Path, passes: list) -> None:
    tee = TeeReader(VideoReader(small_clip), max_lead_bytes=1)  # room for two frames
    engine_pass = tee.frames()
    ahead = [next(engine_pass), next(engine_pass)]
    replayed = tee.replay()
    first = next(replayed)  # from the queue
    ahead += list(engine_pass)  # two frames ahead, and more: the queue is dropped
    replayed_rest = list(replayed)  # decoded from frame 1 on
    assert tee.replayed_from_pass == 1 and passes == [(0, None), (1, None)]
    assert all(np.array_equal(a, b) for a, b in zip(ahead, [first, *replayed_rest], strict=True))


def test_replay_is_exact_when_it_runs_ahead_of_the_pass(small_clip: Path) -> None:
    tee = TeeReader(VideoReader(small_clip))
    replayed = tee.replay()
    first = next(replayed)  # nothing decoded yet: the replay decodes for itself
    engine_pass = tee.frames()
    assert np.array_equal(first, next(engine_pass))
    rest = list(zip(engine_pass, replayed, strict=True))
    assert len(rest) == 47 and tee.replayed_from_pass == 0
    assert all(np.array_equal(a, b) for a, b in rest)


def test_the_shared_frames_are_safe_from_an_engine_writing_into_its_own(small_clip: Path) -> None:
    tee = TeeReader(VideoReader(small_clip))
    for frame, source in zip(tee.frames(), tee.replay(), strict=True):
        original = source.copy()
        frame[:] = 0  # an engine stage working in place
        assert np.array_equal(source, original)
    assert tee.replayed_from_pass == 48
