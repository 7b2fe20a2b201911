"""One transform, end to end: probe → plan → engine → finishing → write, streaming frame by frame.

This is the single place that strings the stages together, from the pieces in :mod:`shotcraft.render`; the
CLI, the Python API and the studio's workers all call :func:`transform` (the studio's resumable chunks call
the same pieces), so they behave identically.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotcraft import engines
from shotcraft.engines.base import EngineOptions
from shotcraft.media.output_path import check_output
from shotcraft.media.read import VideoReader
from shotcraft.plan import check_output_format, plan_transform
from shotcraft.progress import Progress, no_progress
from shotcraft.render import (
    Part,
    clip_grid,
    part_overlap,
    render_frames,
    split_parts,
    split_refusal,
    write_take,
)
from shotcraft.spec import OutputSpec, TransformSpec, input_paths

if TYPE_CHECKING:
    from shotcraft.executors import PartExecutor


@dataclass
class TakeResult:
    """What a finished transform or generation produced: the file, its sidecar, and what to tell the user."""

    path: Path
    sidecar: Path
    frame_count: int
    engine: str
    seconds: float
    notices: list[str] = field(default_factory=list)


def transform(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    spec: TransformSpec | None = None,
    *,
    progress: Progress = no_progress,
    lineage: dict[str, Any] | None = None,
    engine_options: EngineOptions | None = None,
    overwrite: bool = False,
    parts: int = 1,
    executor: PartExecutor | None = None,
) -> TakeResult:
    """Transform ``source`` into ``output`` under the output contract.

    ``engine_options`` say how to run the engine, not what to make: for the diffusion engine ``weights``
    (a folder), ``steps``, ``vram_gb`` and ``device`` (default: from the environment).

    With an empty spec this is the identity transform: decoded frames are re-encoded without a trip
    through RGB, so lossless output is pixel-identical to the source.

    ``parts`` > 1 splits the clip into that many frame ranges rendered side by side by ``executor`` (local
    processes by default, :class:`~shotcraft.executors.RayExecutor` for a cluster) and assembled into one
    take with the same video packets as a one-part render (parts are runs of the clip's encode segments,
    ``spec.output.segment_seconds`` long, so a short clip gives fewer parts); a spec that carries state
    across the whole clip (:func:`~shotcraft.render.split_refusal`) renders as one part, and a notice says
    why. A diffusion transform given an executor with a ``window_runner`` (Ray) generates its windows
    there, one clip's windows in order, on actors that keep the model loaded.

    An existing output (or sidecar) file is replaced only with ``overwrite``; folders, devices, the source
    and the spec's other inputs never are (:mod:`shotcraft.media.output_path`).
    """
    started = time.perf_counter()
    spec = spec or TransformSpec()
    output = Path(output)
    if "format" not in spec.output.model_fields_set:
        spec = spec.model_copy(
            update={"output": OutputSpec.for_path(output, **spec.output.model_dump(exclude={"format"}))}
        )
    # Checked again by the writer; here so a bad output path fails before the source is probed and planned.
    check_output_format(output, spec.output)
    inputs = input_paths(spec)
    folder = spec.output.format == "png_sequence"
    check_output(output, source=source, inputs=inputs, folder=folder, overwrite=overwrite)
    plan = plan_transform(source, spec)
    # A diffusion clip is one part whose windows go to the executor's actors, when it has them.
    window_runner = (
        getattr(executor, "window_runner", None) if engines.engine_name(spec) == "diffusion" else None
    )
    refusal = split_refusal(spec) if parts > 1 and window_runner is None else None
    pieces: list[Part] = []
    if refusal is not None:
        plan.notices.append(f"rendered as one part: {refusal}")
    elif parts > 1 and window_runner is None:
        grid = clip_grid(plan.video, spec.output)
        pieces = split_parts(grid, parts, part_overlap(spec))
        if len(pieces) < parts:
            plan.notices.append(
                f"rendered as {len(pieces)} part(s), not {parts}: parts are whole encode segments, and the "
                f"clip holds {grid.segments} of about {spec.output.segment_seconds:g} s (--segment-seconds)"
            )
    if len(pieces) > 1:
        from shotcraft.executors import LocalExecutor, render_parts

        # Processes started here for this transform alone stop with it; a caller's executor is the caller's.
        runner = LocalExecutor(len(pieces)) if executor is None else contextlib.nullcontext(executor)
        with runner as ex, render_parts(plan, pieces, ex, output, engine_options, progress) as rendered:
            engine_name, frames = rendered
            sidecar, notices = write_take(
                plan, output, frames, engine_name, overwrite=overwrite, inputs=inputs, lineage=lineage,
                progress=progress, parts=len(pieces),
            )  # fmt: skip
    else:
        reader = VideoReader(plan.source.path, plan.source)
        engine_name, frames = render_frames(plan, reader, engine_options, progress, window_runner)
        sidecar, notices = write_take(
            plan, output, frames, engine_name, overwrite=overwrite, inputs=inputs, lineage=lineage,
            progress=progress,
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    return TakeResult(output, sidecar, plan.frame_count, engine_name, elapsed, notices)
