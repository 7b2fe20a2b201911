"""The engine protocol: what every engine (classic, diffusion) offers the pipeline.

An engine turns a planned transform into new frames, streaming: it yields ``(H, W, 3)`` uint8 RGB
frames in order, exactly ``plan.frame_count`` of them, and never holds the whole clip in memory. Locks,
timing conform and audio are *not* the engine's business: the finishing step and the writer do those
the same way for every engine, so surfaces never branch on engine type.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from shotcraft.progress import Progress, no_progress

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


@dataclass(frozen=True)
class EngineOptions:
    """How to run, as opposed to what to make (that is the spec)."""

    weights: Path | None = None
    steps: int | None = None
    vram_gb: float | None = None
    device: str | None = None
    #: model frames per window (default: the model's own); tests and small GPUs use shorter windows.
    window_frames: int | None = None
    draft: bool = False

    @classmethod
    def from_environment(cls, **overrides: Any) -> EngineOptions:
        env = os.environ
        values: dict[str, Any] = {
            "weights": Path(env["SHOTCRAFT_WEIGHTS"]) if env.get("SHOTCRAFT_WEIGHTS") else None,
            "steps": int(env["SHOTCRAFT_STEPS"]) if env.get("SHOTCRAFT_STEPS") else None,
            "vram_gb": float(env["SHOTCRAFT_VRAM"]) if env.get("SHOTCRAFT_VRAM") else None,
            "device": env.get("SHOTCRAFT_DEVICE") or None,
            "window_frames": int(env["SHOTCRAFT_WINDOW"]) if env.get("SHOTCRAFT_WINDOW") else None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def over_environment(self) -> EngineOptions:
        """These options, with the environment's settings where they leave a field unset."""
        return EngineOptions.from_environment(**asdict(self))


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
