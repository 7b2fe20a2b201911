"""Long clips as sliding windows: each window fits the model, overlaps the previous one, and is conditioned
on the previous window's last frames; colour and exposure are anchored to the source so nothing drifts
(except where keyframes set a new look).

Every model frame is produced by exactly one window (the first window that reaches it), so stitching has
no missing or duplicated frames; the overlap frames of a later window are *inputs* (held to what was
already emitted), not outputs.

>>> [(w.start, w.emit_from, w.stop) for w in plan_windows(161, window=81, overlap=9, grid=4)]
[(0, 0, 81), (72, 81, 153), (144, 153, 161)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Model frames ``[start, stop)``; frames before ``emit_from`` are held to the previous window's output.
    ``length`` frames are generated (on the grid); any past ``stop`` fall beyond the clip and are dropped."""

    start: int
    emit_from: int
    stop: int
    length: int


def _on_grid(frames: int, grid: int) -> int:
    return grid * max(0, -(-(frames - 1) // grid)) + 1


def plan_windows(
    total: int,
    *,
    window: int,
    overlap: int,
    grid: int,
    keyframes: list[int] | None = None,
    capacity: int | None = None,
) -> list[Window]:
    """Cover model frames ``[0, total)`` with windows of at most ``window`` frames on the model's grid.

    Later windows start ``overlap`` frames before the previous window's end (rounded so their length stays
    on the grid); the last window may run past ``total`` to stay on the grid. When ``keyframes`` (model
    frame indices) and a per-window ``capacity`` are given, a window that would hold more keyframes than it
    can take is shortened, so the keyframes spread over more windows, but never below the shortest
    window that still emits a new frame: every window moves the plan on, so there are at most ``total``.
    """
    if total < 1:
        raise ValueError("nothing to generate")
    if window < grid + 1 or (window - 1) % grid:
        raise ValueError(f"window of {window} frames is not on the {grid}k+1 grid")
    overlap = min(max(overlap, 1), window - grid)
    keys = sorted(keyframes or [])
    windows: list[Window] = []
    emitted = 0
    while emitted < total:
        start = 0 if not windows else max(0, emitted - overlap)
        length = min(window, _on_grid(total - start, grid))
        if capacity is not None and keys:
            # Shorter than this, the window would end inside the frames it holds and emit nothing.
            shortest = max(grid + 1, _on_grid(emitted + 1 - start, grid))
            while length > shortest and _held_keys(keys, emitted, start + length) > capacity:
                length -= grid
        stop = min(total, start + length)
        assert stop > emitted, "every window emits at least one new frame"
        windows.append(Window(start, emitted, stop, length))
        emitted = stop
    return windows


def _held_keys(keys: list[int], first: int, stop: int) -> int:
    return sum(first <= k < stop for k in keys)


class ColourAnchor:
    """Keep each window's look *relative to its source* equal to the look last set, so exposure cannot
    creep from join to join.

    The first window sets the anchor: per-channel mean and spread of (output − source). A later window
    gets the per-channel gain and offset that give it the same relation to its own source, so a grade
    chosen by the model in window 1 carries on. A window that holds keyframes is the user's look, not
    drift: it is left as generated and sets the anchor afresh from its last keyframe on, so the windows
    after it carry the keyframe's look instead of being pulled back to window 1's.
    """

    def __init__(self) -> None:
        self._anchor: tuple[np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = frames.reshape(-1, frames.shape[-1]).astype(np.float64)
        return flat.mean(axis=0), flat.std(axis=0) + 1e-3

    def apply(
        self, generated: np.ndarray, source: np.ndarray | None, keyframes: Sequence[int] = ()
    ) -> np.ndarray:
        """``generated`` (uint8 ``(T, H, W, 3)``) corrected to the anchor; ``keyframes`` are the window's
        frames a keyframe fixes. The first call, and any call with keyframes, sets the anchor instead."""
        if source is None:
            return generated
        g_mean, g_std = self._stats(generated)
        s_mean, s_std = self._stats(source)
        if self._anchor is None or keyframes:
            first = max(keyframes, default=0)
            k_mean, k_std = self._stats(generated[first:])
            c_mean, c_std = self._stats(source[first:])
            self._anchor = (k_mean - c_mean, k_std / c_std)
            return generated
        offset, gain = self._anchor
        target_mean, target_std = s_mean + offset, s_std * gain
        corrected = (generated.astype(np.float32) - g_mean) * (target_std / g_std) + target_mean
        return np.clip(corrected + 0.5, 0, 255).astype(np.uint8)


__all__ = ["ColourAnchor", "Window", "plan_windows"]
