"""One transform, end to end: probe → plan → engine → finishing → write, streaming frame by frame.

This is the single place that strings the stages together; the CLI, the Python API and the studio's
workers all call :func:`transform` so they behave identically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotcraft import __version__
from shotcraft.engines import select_engine
from shotcraft.engines.base import Progress, no_progress
from shotcraft.finishing.locks import locked_transform
from shotcraft.media.output_path import check_output
from shotcraft.media.read import VideoReader
from shotcraft.media.write import VideoWriter
from shotcraft.plan import TransformPlan, check_output_format, plan_transform
from shotcraft.spec import OutputSpec, TransformSpec, input_paths


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
    engine_options: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> TakeResult:
    """Transform ``source`` into ``output`` under the output contract.

    ``engine_options`` say how to run the engine, not what to make: for the diffusion engine ``weights``
    (a folder), ``steps``, ``vram_gb`` and ``device`` (default: from the environment).

    With an empty spec this is the identity transform: decoded frames are re-encoded without a trip
    through RGB, so lossless output is pixel-identical to the source.

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
    reader = VideoReader(plan.source.path, plan.source)
    total = plan.frame_count
    with VideoWriter(
        output, plan.source, spec.output, size=plan.output_size, overwrite=overwrite, inputs=inputs
    ) as writer:
        if plan.is_identity and not spec.locks:
            engine_name = "identity"
            frames: Iterator[Any] = reader.av_frames()
        else:
            engine = select_engine(plan, **(engine_options or {}))
            engine_name = engine.name
            frames = locked_transform(plan, engine, reader, progress)
        for index, frame in enumerate(frames):
            if index == total:
                raise RuntimeError(f"engine {engine_name} produced more than the source's {total} frames")
            writer.write(frame)
            progress("write", index + 1, total)
        if writer.frames_written != total:
            raise RuntimeError(f"engine {engine_name} produced {writer.frames_written} frames for {total}")
        notices = plan.notices + writer.notices
        writer.sidecar = _take_record(plan, output, engine_name, notices, lineage)
    elapsed = time.perf_counter() - started
    return TakeResult(output, writer.sidecar_path, total, engine_name, elapsed, notices)


def _take_record(
    plan: TransformPlan, output: Path, engine: str, notices: list[str], lineage: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "kind": "transform",
        "shotcraft": __version__,
        "output": str(output),
        "source": plan.source.to_dict(),
        "spec": plan.spec.model_dump(mode="json"),
        "engine": engine,
        "frame_count": plan.frame_count,
        "fps": str(plan.video.fps),
        "notices": notices,
        "lineage": lineage or {},
    }
