"""Resumable transforms: render a clip in frame-range chunks, keep each finished chunk, assemble at the end.

Each chunk is rendered by the same plan → engine → locks steps as :func:`shotcraft.pipeline.transform`,
on a view of the source that shows only the chunk's frames, and written to a *lossless* intermediate
segment (exact RGB for engine output, exact source samples for the identity transform). A manifest
records the finished chunks, so a job restarted after its worker died renders only what is missing.
The final file is then written by the media layer's :class:`~shotcraft.media.write.VideoWriter` from the
segments, with the source's timestamps and its audio copied, exactly as a one-pass transform writes it.

Chunking is only correct when every output frame depends on its own source frame alone, so
:func:`chunk_refusal` says when a spec must run in one pass (keyframe propagation, tracking, prompts).

>>> from shotcraft.spec import TransformSpec, RelightOp
>>> chunk_refusal(TransformSpec(operations=[RelightOp(preset="night")])) is None
True
>>> chunk_refusal(TransformSpec(prompt="rain"))
'a prompt is rendered by a generative model across the whole clip'
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import av

from shotcraft import __version__
from shotcraft.engines import select_engine
from shotcraft.engines.base import Progress, no_progress
from shotcraft.finishing.locks import locked_transform
from shotcraft.media.probe import MediaInfo, probe
from shotcraft.media.read import VideoReader
from shotcraft.media.write import VideoWriter
from shotcraft.pipeline import TakeResult
from shotcraft.plan import plan_transform
from shotcraft.spec import (
    MaskVideoLock,
    OutputSpec,
    PolygonLock,
    RectLock,
    RelightOp,
    TransformSpec,
    input_paths,
)

#: Frames per chunk: the most work a restarted job repeats.
DEFAULT_CHUNK_FRAMES = 64
#: Assembling a frame from its segment costs about a quarter of rendering one (for the progress bar).
_ASSEMBLE_WEIGHT = 0.25
_SEGMENT_OUTPUT = OutputSpec(format="mp4_h264", lossless=True, preset="ultrafast")
_STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def chunk_refusal(spec: TransformSpec) -> str | None:
    """Why ``spec`` cannot be rendered chunk by chunk, or ``None`` when it can."""
    if spec.prompt:
        return "a prompt is rendered by a generative model across the whole clip"
    if spec.keyframes:
        return "keyframes propagate across the whole clip"
    if spec.reframe is not None or spec.references:
        return "reframing and references are rendered across the whole clip"
    for op in spec.operations:
        if not isinstance(op, RelightOp):
            return f"{op.op} follows the clip over time"
        if op.keyframes:
            return "graded keyframes are interpolated across the whole clip"
    for lock in spec.locks:
        still_mask = isinstance(lock, MaskVideoLock) and lock.path.suffix.lower() in _STILL_SUFFIXES
        if not (isinstance(lock, (RectLock, PolygonLock)) or still_mask):
            return f"a {lock.kind} lock follows the clip over time"
    return None


def chunk_ranges(frame_count: int, chunk_frames: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..frame_count``.

    >>> chunk_ranges(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    """
    return [(a, min(a + chunk_frames, frame_count)) for a in range(0, frame_count, chunk_frames)]


def slice_info(info: MediaInfo, start: int, stop: int) -> MediaInfo:
    """The probe of a clip as if it held only frames ``start..stop`` (and no audio)."""
    video = info.require_video()
    pts = video.pts[start:stop]
    if video.vfr and pts:
        step = pts[-1] - pts[-2] if len(pts) > 1 else round(1 / (video.fps * video.time_base))
        duration = (pts[-1] - pts[0] + step) * video.time_base
    else:
        duration = (stop - start) / video.fps
    sliced = replace(video, frame_count=stop - start, pts=pts, duration=duration)
    return replace(info, video=sliced, audio=(), subtitles=())


class RangeReader(VideoReader):
    """A :class:`VideoReader` showing frames ``start..stop`` of a clip, numbered from 0."""

    def __init__(self, path: str | os.PathLike[str], info: MediaInfo, start: int, stop: int):
        self._whole = VideoReader(path, info)
        self._offset = start
        super().__init__(path, slice_info(info, start, stop))

    def av_frames(self, start: int = 0, stop: int | None = None) -> Iterator[av.VideoFrame]:
        stop = self.video.frame_count if stop is None else min(stop, self.video.frame_count)
        if not 0 <= start <= stop:
            raise ValueError(
                f"frame range {start}..{stop} is outside the chunk's {self.video.frame_count} frames"
            )
        return self._whole.av_frames(self._offset + start, self._offset + stop)


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
        refusal = chunk_refusal(spec)
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
        ranges = chunk_ranges(count, self.chunk_frames)
        total_work = count * (1 + _ASSEMBLE_WEIGHT)
        rendered = sum(done[str(i)]["frames"] for i in range(len(ranges)) if str(i) in done)
        progress("render", rendered, round(total_work))
        engine_name = "identity"
        notices: list[str] = list(whole.notices)
        for index, (start, stop) in enumerate(ranges):
            segment = self.work_dir / f"chunk-{index:05d}.mkv"
            if str(index) in done and segment.exists():
                engine_name = done[str(index)]["engine"]
                continue
            engine_name = self._render_chunk(
                info,
                start,
                stop,
                segment,
                lambda n, base=rendered: progress("render", base + n, round(total_work)),
            )
            rendered += stop - start
            done[str(index)] = {
                "start": start,
                "stop": stop,
                "frames": stop - start,
                "attempt": attempt,
                "engine": engine_name,
            }
            self._save_manifest(manifest)
        # The job's own folder: a retried job may find its earlier finished file there and replaces it.
        inputs = input_paths(self.spec)
        with VideoWriter(self.output, info, self.spec.output, overwrite=True, inputs=inputs) as writer:
            for index in range(len(ranges)):
                for frame in _segment_frames(self.work_dir / f"chunk-{index:05d}.mkv"):
                    writer.write(frame)
                    if writer.frames_written % 8 == 0 or writer.frames_written == count:
                        progress(
                            "assemble",
                            round(count + writer.frames_written * _ASSEMBLE_WEIGHT),
                            round(total_work),
                        )
            if writer.frames_written != count:
                raise RuntimeError(f"the chunks held {writer.frames_written} frames for {count}")
            notices += writer.notices
            writer.sidecar = {
                "kind": "transform",
                "shotcraft": __version__,
                "output": str(self.output),
                "source": info.to_dict(),
                "spec": self.spec.model_dump(mode="json"),
                "engine": engine_name,
                "frame_count": count,
                "fps": str(whole.video.fps),
                "notices": notices,
                "chunks": len(ranges),
                "chunk_attempts": [done[str(i)]["attempt"] for i in range(len(ranges))],
                "lineage": lineage or {},
            }
        sidecar = writer.sidecar_path
        return TakeResult(self.output, sidecar, count, engine_name, time.perf_counter() - started, notices)

    def _render_chunk(self, info: MediaInfo, start: int, stop: int, segment: Path, advanced: Any) -> str:
        sub = slice_info(info, start, stop)
        plan = plan_transform(sub, self.spec)
        reader = RangeReader(self.source, info, start, stop)
        if plan.is_identity and not self.spec.locks:
            name, frames = "identity", reader.av_frames()
        else:
            engine = select_engine(plan)
            name = engine.name
            frames = locked_transform(plan, engine, reader)
        with VideoWriter(
            segment, sub, _SEGMENT_OUTPUT, copy_streams=False, overwrite=True, with_sidecar=False
        ) as writer:
            for frame in frames:
                writer.write(frame)
                advanced(writer.frames_written)
            if writer.frames_written != stop - start:
                raise RuntimeError(
                    f"engine {name} produced {writer.frames_written} frames for {stop - start}"
                )
        return name


def _segment_frames(path: Path) -> Iterator[Any]:
    """A segment's frames as the writer should get them: RGB arrays from RGB segments (so the final
    encode applies the clip's colour matrix), the decoded frames themselves from YUV segments."""
    reader = VideoReader(path)
    for frame in reader.av_frames():
        if frame.format.name in ("gbrp", "rgb24", "bgr0", "bgr24"):
            yield frame.to_ndarray(format="rgb24")
        else:
            yield frame
