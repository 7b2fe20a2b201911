"""The engine protocol: what every engine (classic, diffusion) offers the pipeline.

An engine turns a planned transform into new frames, streaming: it yields ``(H, W, 3)`` uint8 RGB
frames in order, exactly ``plan.frame_count`` of them, and never holds the whole clip in memory. Locks,
timing conform and audio are *not* the engine's business: the finishing step and the writer do those
the same way for every engine, so surfaces never branch on engine type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

#: Progress callback: (stage name, done, total).
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@runtime_checkable
class Engine(Protocol):
    name: str

    def capabilities(self) -> frozenset[str]:
        """Operation names it can carry out: 'identity', 'relight', 'restyle', 'swap', 'localize', 'prompt',
        'generate', ..."""
        ...

    def transform(
        self, plan: TransformPlan, reader: VideoReader, progress: Progress = no_progress
    ) -> Iterator[np.ndarray]:
        """Yield the transformed frames of ``plan`` in order, one ``(H, W, 3)`` uint8 RGB array each."""
        ...
