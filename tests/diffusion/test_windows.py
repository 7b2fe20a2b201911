"""The window planner and the colour anchor: pure numpy, no model."""

from __future__ import annotations

from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from shotcraft.engines.diffusion import windows as windows_module
from shotcraft.engines.diffusion.windows import Window, plan_windows


@st.composite
def _plans(draw: st.DrawFn) -> dict:
    grid = draw(st.sampled_from([4, 8]))
    total = draw(st.integers(1, 300))
    return {
        "total": total,
        "grid": grid,
        "window": grid * draw(st.integers(1, 16)) + 1,
        "overlap": draw(st.integers(1, 2 * grid + 1)),
        "keyframes": draw(st.lists(st.integers(0, total - 1), max_size=40, unique=True)),
        "capacity": draw(st.none() | st.integers(0, 20)),
    }


class _TooManyWindows(Exception):
    pass


@settings(max_examples=300, deadline=None)
@given(_plans())
# SHOTCRAFT_WINDOW=9 with one keyframe on 37 frames (the engine's capacity was 0): planned forever
@example({"total": 37, "grid": 4, "window": 9, "overlap": 9, "keyframes": [20], "capacity": 0})
# window 13 and three adjacent keyframes: planned forever
@example({"total": 60, "grid": 4, "window": 13, "overlap": 9, "keyframes": [30, 31, 32], "capacity": 1})
def test_windows_end_and_cover_every_frame_once(plan):
    total = plan["total"]
    made: list[Window] = []

    def counted(*args):
        # a planner that does not move on would make windows (and memory) without end
        if len(made) >= total:
            raise _TooManyWindows(f"more than {total} windows for {total} frames")
        made.append(Window(*args))
        return made[-1]

    with mock.patch.object(windows_module, "Window", counted):
        planned = plan_windows(**plan)
    emitted = [f for w in planned for f in range(w.emit_from, w.stop)]
    assert emitted == list(range(total))
    window, grid, keys = plan["window"], plan["grid"], plan["keyframes"]
    for w in planned:
        assert w.length <= window and (w.length - 1) % grid == 0
        assert w.start <= w.emit_from < w.stop <= w.start + w.length
        held_keys = sum(w.emit_from <= k < w.stop for k in keys)
        capacity = plan["capacity"]
        if capacity is not None and held_keys > capacity:
            # only a window that cannot be shorter (on the grid, and still emitting) holds more
            assert w.length - grid <= max(grid, w.emit_from - w.start)
