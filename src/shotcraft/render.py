"""The pieces of one render, shared by every way of running it: in one process (:func:`shotcraft.pipeline.transform`),
split into parts on local processes or a Ray cluster, and the studio's resumable chunks.

- :func:`render_frames`: the engine choice and the locks, i.e. a plan's output frames;
- :func:`render_part`: frames ``start..stop`` of a plan, rendered on their own into a segment encoded as the
  take will be;
- :func:`write_take`: frames (from an engine), or :class:`Segments` joined packet by packet, into the output
  with the source's timestamps, audio and subtitles, and the take record as its sidecar.

A transform may be split into parts only where nothing temporal crosses a part boundary
(:func:`split_refusal`). A part that needs earlier frames (a built-in look is pulled towards the previous
frame's look along the flow, and finds cuts against it) renders ``overlap`` frames before its start and
discards them, so it starts from exactly the state a one-process render has there. Parts are runs of whole
segments of the clip's :class:`~shotcraft.media.timing.EncodeGrid`, where a one-process writer restarts its
encoder too, so the joined packets are the ones a one-process render writes: the decoded frames are
identical, lossy codecs included.

>>> from fractions import Fraction
>>> from shotcraft.media.timing import EncodeGrid
>>> from shotcraft.spec import TransformSpec, RelightOp, RestyleOp
>>> split_refusal(TransformSpec(operations=[RelightOp(preset="night")])) is None
True
>>> split_refusal(TransformSpec(prompt="rain"))
'a prompt is rendered by a generative model across the whole clip'
>>> split_refusal(TransformSpec(operations=[RestyleOp(look="pencil")]))
'the pencil look carries its grain along the whole shot'
>>> grid = EncodeGrid.for_clip(250, Fraction(10), seconds=1)  # 8 segments of 31-32 frames
>>> [(p.start, p.stop, p.overlap) for p in split_parts(grid, 3, overlap=1)]
[(0, 94, 0), (94, 156, 1), (156, 250, 1)]
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain, islice, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from shotcraft import __version__
from shotcraft.engines import select_engine
from shotcraft.engines.base import EngineOptions
from shotcraft.finishing.locks import RAMP_FRAMES, locked_transform
from shotcraft.media.probe import MediaInfo, VideoInfo, probe, span_duration
from shotcraft.media.read import VideoReader
from shotcraft.media.timing import EncodeGrid
from shotcraft.media.write import RGB_PIX_FMTS, VideoWriter
from shotcraft.plan import TransformPlan, plan_transform
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import (
    MaskVideoLock,
    OutputSpec,
    PolygonLock,
    RectLock,
    RelightOp,
    RestyleOp,
    TransformSpec,
)
from shotcraft.threads import cores_share

if TYPE_CHECKING:
    from shotcraft.engines.diffusion import WindowRunner

#: Segments of a frame sequence (PNG files have no packets to join) are exact: RGB samples for engine
#: output, the source's own samples for the identity transform; assembly decodes them.
SEQUENCE_SEGMENT_OUTPUT = OutputSpec(format="mp4_h264", lossless=True, preset="ultrafast")
_STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def render_frames(
    plan: TransformPlan,
    reader: VideoReader,
    options: EngineOptions | None = None,
    progress: Progress = no_progress,
    runner: WindowRunner | None = None,
) -> tuple[str, Iterator[Any]]:
    """The engine's name and the plan's output frames, locks applied; decoded source frames for the identity.
    ``runner``: where a diffusion engine generates its windows (default: in this process)."""
    if passes_decoded_frames(plan):
        return "identity", reader.av_frames()
    engine = select_engine(plan, options, runner)
    return engine.name, locked_transform(plan, engine, reader, progress)


def passes_decoded_frames(plan: TransformPlan) -> bool:
    """Whether the plan's frames are the source's decoded frames (the identity), not RGB arrays."""
    return plan.is_identity and not plan.spec.locks


@dataclass(frozen=True)
class Segments:
    """A take's video as segment files in order, each encoded as the take (:func:`render_part`), made from
    frames given as ``frame_format`` (``rgb24`` for an engine's arrays)."""

    paths: list[Path]
    frame_format: str


def write_frames(
    writer: VideoWriter,
    frames: Iterable[Any],
    total: int,
    engine: str,
    progress: Progress = no_progress,
    stage: str = "write",
) -> None:
    """Write exactly ``total`` frames; an engine that makes more or fewer is a bug, said as such."""
    for frame in frames:
        if writer.frames_written == total:
            raise RuntimeError(f"engine {engine} produced more than the source's {total} frames")
        writer.write(frame)
        progress(stage, writer.frames_written, total)
    if writer.frames_written != total:
        raise RuntimeError(f"engine {engine} produced {writer.frames_written} frames for {total}")


def take_record(
    plan: TransformPlan,
    output: Path,
    engine: str,
    notices: list[str],
    lineage: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The sidecar of a transform's take: what was made from what, by which engine and version."""
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
        **extra,
        "lineage": lineage or {},
    }


def write_take(
    plan: TransformPlan,
    output: Path,
    frames: Iterable[Any],
    engine: str,
    *,
    overwrite: bool,
    inputs: list[Path],
    lineage: dict[str, Any] | None = None,
    progress: Progress = no_progress,
    stage: str = "write",
    **extra: Any,
) -> tuple[Path, list[str]]:
    """Write the take (the plan's frames, or its :class:`Segments` joined without decoding, the source's
    audio and subtitles, the sidecar); returns the sidecar's path and the notices (the plan's and the
    writer's)."""
    with VideoWriter(
        output, plan.source, plan.spec.output, size=plan.output_size, overwrite=overwrite, inputs=inputs
    ) as writer:
        if isinstance(frames, Segments):
            for path in frames.paths:
                writer.copy_segment(path, frames.frame_format)
                progress(stage, writer.frames_written, plan.frame_count)
            if writer.frames_written != plan.frame_count:
                raise RuntimeError(f"segments held {writer.frames_written} frames for {plan.frame_count}")
        else:
            write_frames(writer, frames, plan.frame_count, engine, progress, stage)
        notices = plan.notices + writer.notices
        writer.sidecar = take_record(plan, output, engine, notices, lineage, **extra)
    return writer.sidecar_path, notices


# -- parts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """Output frames ``start..stop``, rendered from ``overlap`` frames earlier (those are discarded)."""

    start: int
    stop: int
    overlap: int = 0

    @property
    def frames(self) -> int:
        return self.stop - self.start


def split_refusal(spec: TransformSpec) -> str | None:
    """Why ``spec`` must be rendered in one part (state carried across the whole clip), or ``None``."""
    if spec.prompt:
        return "a prompt is rendered by a generative model across the whole clip"
    if spec.keyframes:
        return "keyframes propagate across the whole clip"
    if spec.reframe is not None or spec.references:
        return "reframing and references are rendered across the whole clip"
    for op in spec.operations:
        if isinstance(op, RestyleOp):
            from shotcraft.engines.classic.look_video import shot_memory

            memory = shot_memory(op)
            if memory is not None:
                return memory
        elif not isinstance(op, RelightOp):
            return f"{op.op} follows the clip over time"
        elif op.keyframes:
            return "graded keyframes are interpolated across the whole clip"
    for lock in spec.locks:
        still_mask = isinstance(lock, MaskVideoLock) and lock.path.suffix.lower() in _STILL_SUFFIXES
        if not (isinstance(lock, (RectLock, PolygonLock)) or still_mask):
            return f"a {lock.kind} lock follows the clip over time"
    return None


def part_overlap(spec: TransformSpec) -> int:
    """Frames a part renders before its start: a built-in look reads the previous frame (steadiness, cuts),
    and a feathered lock's blend band follows the grade over the last :data:`RAMP_FRAMES` frames."""
    look = 1 if any(isinstance(op, RestyleOp) for op in spec.operations) else 0
    seam = RAMP_FRAMES - 1 if any(lock.feather > 0 for lock in spec.locks) else 0
    return max(look, seam)


def clip_grid(video: VideoInfo, output: OutputSpec) -> EncodeGrid:
    """Where the take of ``video`` restarts its encoder: every part starts on it."""
    return EncodeGrid.for_clip(video.frame_count, video.duration, output.segment_seconds)


def split_parts(grid: EncodeGrid, count: int, overlap: int = 0) -> list[Part]:
    """``count`` parts of near-equal length, each a run of whole segments of ``grid`` (fewer parts than
    ``count`` when the clip has fewer segments)."""
    count = max(1, min(count, grid.segments))
    starts = grid.starts()
    bounds = [starts[round(i * grid.segments / count)] for i in range(count + 1)]
    return [Part(a, b, min(overlap, a)) for a, b in pairwise(bounds)]


def chunk_ranges(grid: EncodeGrid, chunk_frames: int, overlap: int = 0) -> list[Part]:
    """Runs of whole segments of ``grid`` of at most ``chunk_frames`` frames (one segment when a segment
    is longer), covering the clip.

    >>> from fractions import Fraction
    >>> [(p.start, p.stop) for p in chunk_ranges(EncodeGrid(20, 4), 10)]
    [(0, 10), (10, 20)]
    >>> [(p.start, p.stop) for p in chunk_ranges(EncodeGrid(20, 4), 4)]
    [(0, 5), (5, 10), (10, 15), (15, 20)]
    """
    bounds = [0]
    for previous, stop in pairwise(grid.starts()):
        if stop - bounds[-1] > chunk_frames and previous > bounds[-1]:
            bounds.append(previous)
    bounds.append(grid.frames)
    return [Part(a, b, min(overlap, a)) for a, b in pairwise(bounds)]


def slice_info(info: MediaInfo, start: int, stop: int) -> MediaInfo:
    """The probe of a clip as if it held only frames ``start..stop`` (and no audio)."""
    video = info.require_video()
    pts = video.pts[start:stop]
    duration = span_duration(pts, video.fps, video.time_base, video.vfr)
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
                f"frame range {start}..{stop} is outside the part's {self.video.frame_count} frames"
            )
        return self._whole.av_frames(self._offset + start, self._offset + stop)


@dataclass
class PartCost:
    """Where one part's time went, filled in by :func:`render_part`: seconds of wall clock (``time.time()``,
    so comparable between the processes of one machine) and of CPU, of the whole process (every thread)
    and of the thread that renders, split into the engine's frames (decoding, the engine, the locks) and
    the rest (probing, planning, colour conversion, handing frames to the encoder and flushing it)."""

    #: the process's share of the cores it rendered on (:func:`~shotcraft.threads.share_cores`; 0: all)
    cores: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu: float = 0.0
    thread: float = 0.0
    frames: float = 0.0
    #: the rendering thread's CPU until the first kept frame came out: probe, plan, seeking and decoding
    #: to the part's first frame, the overlap frames, and that frame
    first_frame: float = 0.0
    _start_cpu: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def start(self) -> None:
        self.cores = cores_share()
        self.started = time.time()
        self._start_cpu = (time.process_time(), time.thread_time())

    def stop(self) -> None:
        self.finished = time.time()
        self.cpu = time.process_time() - self._start_cpu[0]
        self.thread = time.thread_time() - self._start_cpu[1]

    def timed(self, frames: Iterator[Any]) -> Iterator[Any]:
        """``frames``, counting the rendering thread's CPU spent making them."""
        while True:
            before = time.thread_time()
            frame = next(frames, None)
            self.frames += time.thread_time() - before
            if frame is None:
                return
            if not self.first_frame:
                self.first_frame = time.thread_time() - self._start_cpu[1]
            yield frame


def render_part(
    source: str | os.PathLike[str],
    spec: TransformSpec,
    part: Part,
    segment: Path,
    options: EngineOptions | None = None,
    progress: Progress = no_progress,
    info: MediaInfo | None = None,
    cost: PartCost | None = None,
) -> str:
    """Render ``part`` of ``spec`` on ``source`` into ``segment``; returns the engine's name.

    The engine sees only the part's frames (plus its overlap), numbered from 0, so a part renders the same
    on any machine that has the source. The segment is encoded as the take will be (its codec and settings,
    the encoder restarted on the clip's grid), a constant-rate clip whose times count frames from the part's
    start; :meth:`VideoWriter.copy_segment` stamps the source's times on its packets. A frame sequence's
    segment is lossless instead. ``cost``, when given, is filled in with where the time went.
    """
    if cost is not None:
        cost.start()
    info = info or probe(source)
    video = info.require_video()
    first = part.start - part.overlap
    plan = plan_transform(slice_info(info, first, part.stop), spec)
    engine, frames = render_frames(plan, RangeReader(source, info, first, part.stop), options)
    kept = islice(frames, part.overlap, None)
    if cost is not None:
        kept = cost.timed(kept)
    output = SEQUENCE_SEGMENT_OUTPUT if spec.output.format == "png_sequence" else spec.output
    in_frames = replace(
        slice_info(info, part.start, part.stop).require_video(), time_base=1 / video.fps, pts=(), vfr=False
    )
    with VideoWriter(
        segment,
        video=in_frames,
        output=output,
        size=plan.output_size,
        overwrite=True,
        with_sidecar=False,
        grid=clip_grid(video, spec.output).at(part.start),
    ) as writer:
        write_frames(writer, kept, part.frames, engine, progress, "render")
    if cost is not None:
        cost.stop()
    return engine


def joined(plan: TransformPlan, paths: list[Path]) -> Segments | Iterator[Any]:
    """The take's video from its parts' segments (from :func:`render_part`, in order) for :func:`write_take`:
    joined packet by packet, or decoded for a frame sequence."""
    if plan.spec.output.format == "png_sequence":
        return chain.from_iterable(segment_frames(path) for path in paths)
    return Segments(paths, plan.video.pix_fmt if passes_decoded_frames(plan) else "rgb24")


def segment_frames(path: Path) -> Iterator[Any]:
    """A frame sequence's segment's frames as the writer should get them: RGB arrays from RGB segments (so
    the writer applies the clip's colour matrix), the decoded frames themselves from YUV segments."""
    for frame in VideoReader(path).av_frames():
        if frame.format.name in RGB_PIX_FMTS:
            yield frame.to_ndarray(format="rgb24")
        else:
            yield frame
