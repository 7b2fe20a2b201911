"""Resumable transforms: render a clip in frame-range chunks, keep each finished chunk, assemble at the end.

Each chunk is a :class:`~shotcraft.render.Part` rendered by :func:`~shotcraft.render.render_part` into a
segment encoded as the take, as a split transform's parts are (whole segments of the clip's encode grid, so
a chunk holds at least one); a manifest records the finished chunks, so a job restarted after its worker
died renders only what is missing. The take is then joined from the segments by
:func:`~shotcraft.render.write_take` without decoding them, and is the file a one-pass transform writes.
Only specs that :func:`~shotcraft.render.split_refusal` accepts are chunked.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from shotcraft import __version__
from shotcraft.media.probe import MediaInfo, probe
from shotcraft.pipeline import TakeResult
from shotcraft.plan import plan_transform
from shotcraft.progress import Progress, no_progress
from shotcraft.render import (
    chunk_ranges,
    clip_grid,
    joined,
    part_overlap,
    render_part,
    split_refusal,
    write_take,
)
from shotcraft.spec import TransformSpec, input_paths

#: Frames per chunk (or one segment of the encode grid, when longer): the most work a restarted job repeats.
DEFAULT_CHUNK_FRAMES = 64
#: Joining a frame's packet costs a small share of rendering it (for the progress bar).
_ASSEMBLE_WEIGHT = 0.02


class ChunkedTransform:
    """Render ``spec`` on ``source`` into ``output`` chunk by chunk, keeping state in ``work_dir``.

    Running it again with the same arguments after an interruption reuses every finished chunk.
    ``attempt`` is recorded with each chunk so a caller can tell which run rendered what.
    """

    def __init__(
        self,
        source: Path,
        output: Path,
        spec: TransformSpec,
        work_dir: Path,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ):
        refusal = split_refusal(spec)
        if refusal is not None:
            raise ValueError(f"this transform cannot be chunked: {refusal}")
        if chunk_frames < 1:
            raise ValueError("chunk_frames must be at least 1")
        self.source, self.output, self.spec = Path(source), Path(output), spec
        self.work_dir, self.chunk_frames = Path(work_dir), chunk_frames
        self.manifest_path = self.work_dir / "chunks.json"

    # -- manifest ------------------------------------------------------------------------------------------

    def _fingerprint(self, info: MediaInfo) -> str:
        """Chunks are reused only for the same source bytes, spec, chunk size and shotcraft version."""
        stat = self.source.stat()
        data = [str(self.source), stat.st_size, stat.st_mtime_ns, self.spec.model_dump(mode="json")]
        data += [self.chunk_frames, info.require_video().frame_count, __version__]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.manifest_path.with_name(f".{self.manifest_path.name}.partial-{os.getpid()}")
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, self.manifest_path)

    def _segment(self, index: int) -> Path:
        return self.work_dir / f"chunk-{index:05d}.mov"

    # -- running -------------------------------------------------------------------------------------------

    def run(
        self, progress: Progress = no_progress, *, attempt: int = 1, lineage: dict[str, Any] | None = None
    ) -> TakeResult:
        """Render the missing chunks, then assemble the output; returns the finished take."""

        started = time.perf_counter()
        info = probe(self.source)
        whole = plan_transform(info, self.spec)  # every spec problem is reported before any work
        count = whole.frame_count
        self.work_dir.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest()
        fingerprint = self._fingerprint(info)
        if manifest.get("fingerprint") != fingerprint:
            manifest = {"fingerprint": fingerprint, "chunk_frames": self.chunk_frames, "chunks": {}}
        done: dict[str, Any] = manifest["chunks"]
        grid = clip_grid(whole.video, self.spec.output)
        ranges = chunk_ranges(grid, self.chunk_frames, part_overlap(self.spec))
        total_work = count * (1 + _ASSEMBLE_WEIGHT)
        rendered = sum(done[str(i)]["frames"] for i in range(len(ranges)) if str(i) in done)
        progress("render", rendered, round(total_work))
        engine_name = "identity"
        for index, part in enumerate(ranges):
            segment = self._segment(index)
            if str(index) in done and segment.exists():
                engine_name = done[str(index)]["engine"]
                continue
            engine_name = render_part(
                self.source,
                self.spec,
                part,
                segment,
                progress=lambda _, n, __, base=rendered: progress("render", base + n, round(total_work)),
                info=info,
            )
            rendered += part.frames
            done[str(index)] = {
                "start": part.start,
                "stop": part.stop,
                "frames": part.frames,
                "attempt": attempt,
                "engine": engine_name,
            }
            self._save_manifest(manifest)
        segments = joined(whole, [self._segment(i) for i in range(len(ranges))])

        def assembled(stage: str, written: int, total: int) -> None:
            progress("assemble", round(count + written * _ASSEMBLE_WEIGHT), round(total_work))

        # The job's own folder: a retried job may find its earlier finished file there and replaces it.
        sidecar, notices = write_take(
            whole, self.output, segments, engine_name, overwrite=True,
            inputs=input_paths(self.spec), lineage=lineage, progress=assembled, chunks=len(ranges),
            chunk_attempts=[done[str(i)]["attempt"] for i in range(len(ranges))],
        )  # fmt: skip
        return TakeResult(self.output, sidecar, count, engine_name, time.perf_counter() - started, notices)
