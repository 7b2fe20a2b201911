"""What a media file holds: exact rational fps, exact frame count, rotation, colour tags, every stream.

Frame counts and timestamps come from demuxing every video packet (no decoding), because container
headers lie (edit lists, missing ``nb_frames``). Demuxing a 10-minute 4K clip reads it once from disk
but keeps only one integer per frame.

>>> from shotcraft.media.samples import sample_clip
>>> info = probe(sample_clip("bigbuckbunny"))
>>> info.video.width, info.video.height, info.video.fps, info.video.frame_count
(1280, 720, Fraction(25, 1), 132)
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from shotcraft.errors import MediaError

#: Frame rates worth snapping to when the stream's own rate is not exact.
_COMMON_RATES = [Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001), Fraction(120000, 1001)]
#: The rates cameras and editors record at: preferred when coarse timestamps fit more than one rate.
_STANDARD_RATES = [*_COMMON_RATES, *(Fraction(r) for r in (24, 25, 30, 48, 50, 60, 100, 120))]


@dataclass(frozen=True)
class VideoInfo:
    index: int
    codec: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration: Fraction
    pix_fmt: str
    bit_depth: int
    rotation: int = 0
    vfr: bool = False
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    sample_aspect_ratio: Fraction | None = None
    bit_rate: int | None = None
    #: presentation timestamps of every frame in display order, in ``time_base`` units.
    pts: tuple[int, ...] = field(default=(), repr=False)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as a player shows them (after the rotation tag)."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)

    @property
    def quarter_turns(self) -> int:
        """Quarter turns counter-clockwise (``np.rot90``'s ``k``) from the stored frame to the displayed one."""
        from shotcraft.media.orientation import quarter_turns

        return quarter_turns(self.rotation)

    def time_of(self, index: int) -> Fraction:
        """Presentation time (seconds from the first frame) of frame ``index``."""
        if self.pts:
            return (self.pts[index] - self.pts[0]) * self.time_base
        return index / self.fps


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    channels: int
    layout: str
    sample_rate: int
    time_base: Fraction
    duration: Fraction | None
    language: str | None = None


@dataclass(frozen=True)
class SubtitleInfo:
    index: int
    codec: str
    language: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str
    size_bytes: int
    video: VideoInfo | None
    audio: tuple[AudioInfo, ...] = ()
    subtitles: tuple[SubtitleInfo, ...] = ()
    other_streams: int = 0

    @property
    def duration(self) -> Fraction:
        return self.video.duration if self.video else Fraction(0)

    def require_video(self) -> VideoInfo:
        """The video stream, or a clear error for audio-only and empty files."""
        if self.video is None:
            kinds = "audio only" if self.audio else "no video stream"
            raise MediaError(f"{self.path.name} has {kinds}: a video clip is needed")
        if self.video.frame_count == 0:
            raise MediaError(f"{self.path.name} has a video stream with zero frames")
        return self.video

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (rationals as strings, no per-frame timestamps)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Fraction):
                return str(value)
            if isinstance(value, Path):
                return str(value)
            return value

        def stream(obj: Any) -> dict[str, Any]:
            return {k: plain(v) for k, v in obj.__dict__.items() if k != "pts"}

        return {
            "path": str(self.path),
            "container": self.container,
            "size_bytes": self.size_bytes,
            "duration": str(self.duration),
            "duration_seconds": float(self.duration),
            "video": stream(self.video) if self.video else None,
            "audio": [stream(a) for a in self.audio],
            "subtitles": [stream(s) for s in self.subtitles],
        }


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read a media file's streams and exact timing. Raises :class:`MediaError` with one plain reason."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path} does not exist")
    if path.is_dir():
        raise MediaError(f"{path} is a folder, not a media file")
    if not path.is_file():
        # A FIFO, socket or device: opening it to read could block or never end.
        raise MediaError(f"{path} is not a regular file (a pipe or device?): give a media file")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path.name} is not a readable media file ({_reason(exc)})") from None
    with container:
        audio = tuple(_audio_info(s) for s in container.streams.audio)
        subtitles = tuple(
            SubtitleInfo(s.index, s.codec_context.name if s.codec_context else "unknown", s.language)
            for s in container.streams.subtitles
        )
        video = _video_info(container, path) if container.streams.video else None
        other = len(container.streams) - len(audio) - len(subtitles) - len(container.streams.video)
        return MediaInfo(
            path=path,
            container=container.format.name,
            size_bytes=size,
            video=video,
            audio=audio,
            subtitles=subtitles,
            other_streams=other,
        )


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _audio_info(stream: av.audio.stream.AudioStream) -> AudioInfo:
    ctx = stream.codec_context
    duration = stream.duration * stream.time_base if stream.duration and stream.time_base else None
    return AudioInfo(
        index=stream.index,
        codec=ctx.name,
        channels=ctx.channels,
        layout=ctx.layout.name if ctx.layout else "",
        sample_rate=ctx.sample_rate,
        time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, ctx.sample_rate or 1),
        duration=Fraction(duration) if duration is not None else None,
        language=stream.language,
    )


def span_duration(pts: list[int], fps: Fraction, time_base: Fraction, vfr: bool) -> Fraction:
    """How long frames with presentation times ``pts`` last: frames / fps at a constant rate; first to last
    time plus the last step (one frame at ``fps`` when there is only one) at a variable one.

    >>> span_duration([0, 1, 3], Fraction(1), Fraction(1), vfr=True)
    Fraction(5, 1)
    >>> span_duration([0, 1, 2], Fraction(25), Fraction(1, 25), vfr=False)
    Fraction(3, 25)
    """
    if not pts:
        return Fraction(0)
    if not vfr:
        return len(pts) / fps
    last_step = pts[-1] - pts[-2] if len(pts) > 1 else round(1 / (fps * time_base))
    return (pts[-1] - pts[0] + last_step) * time_base


def _video_info(container: av.container.InputContainer, path: Path) -> VideoInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    time_base = Fraction(stream.time_base)
    pts = _packet_timestamps(container, stream, path)
    first = _first_frame(path, stream.index) if pts else None
    pix_fmt = (first.format.name if first is not None else ctx.pix_fmt) or "unknown"
    fps, vfr = _frame_rate(stream, pts, time_base)
    duration = span_duration(pts, fps, time_base, vfr)
    return VideoInfo(
        index=stream.index,
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        fps=fps,
        time_base=time_base,
        frame_count=len(pts),
        duration=duration,
        pix_fmt=pix_fmt,
        bit_depth=_bit_depth(pix_fmt),
        rotation=int(first.rotation) % 360 if first is not None else 0,
        vfr=vfr,
        color_range=int(first.color_range) if first is not None else 0,
        colorspace=int(first.colorspace) if first is not None else 2,
        color_primaries=int(first.color_primaries) if first is not None else 2,
        color_trc=int(first.color_trc) if first is not None else 2,
        sample_aspect_ratio=Fraction(stream.sample_aspect_ratio) if stream.sample_aspect_ratio else None,
        bit_rate=ctx.bit_rate or None,
        pts=tuple(pts),
    )


def _packet_timestamps(container: av.container.InputContainer, stream: Any, path: Path) -> list[int]:
    """Every frame's pts in display order, from demuxing only (packets carry pts in display order once sorted)."""
    pts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's end-of-stream flush packet
                continue
            if packet.pts is not None:
                pts.append(packet.pts)
            elif packet.dts is not None:
                pts.append(packet.dts)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name} is damaged or truncated ({_reason(exc)})") from None
    pts.sort()
    return pts


def _first_frame(path: Path, index: int) -> av.VideoFrame | None:
    """Decode the first frame for the real pixel format, colour tags and rotation; a file that can't
    give even one frame is reported as damaged."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams[index]
            for frame in container.decode(stream):
                return frame
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name} cannot be decoded ({_reason(exc)})") from None
    raise MediaError(f"{path.name} has video packets but not one decodable frame (truncated?)")


def _frame_rate(stream: Any, pts: list[int], time_base: Fraction) -> tuple[Fraction, bool]:
    """The exact rational frame rate, and whether the timestamps are variable-rate.

    The rate is the stream's declared rate when its frame period matches the median timestamp step and it
    is a standard (integer or NTSC) rate; otherwise a standard rate whose frame grid fits every timestamp;
    otherwise the median step snapped to the nearest common NTSC rate or an integer.
    """
    steps = [b - a for a, b in itertools.pairwise(pts)]
    declared = [Fraction(r) for r in (stream.average_rate, stream.base_rate, stream.guessed_rate) if r]
    if not steps:
        return (declared[0] if declared else Fraction(25)), False
    median = sorted(steps)[len(steps) // 2]
    if median <= 0:
        return (declared[0] if declared else Fraction(25)), True
    measured_period = median * time_base
    fps = None
    for rate in declared:
        if abs(1 / rate - measured_period) <= time_base:
            fps = rate
            break
    if fps is None or fps.denominator not in (1, 1001):
        # A declared rate off the standard ones is often the demuxer's own estimate from a few coarse
        # timestamps (Matroska counts milliseconds: 59.94 fps over 12 frames reads as 19001/317); a standard
        # rate whose frame grid gives every timestamp to within one tick is the real one. Of several that
        # fit, the nearest to the mean rate over the clip (where the rounding of single steps averages out).
        estimate = (len(pts) - 1) / ((pts[-1] - pts[0]) * time_base)
        fitting = [r for r in _STANDARD_RATES if _grid_fits(pts, r, time_base)] or [
            r for r in (Fraction(round(estimate)),) if _grid_fits(pts, r, time_base)
        ]
        if fitting:
            fps = min(fitting, key=lambda r: abs(r - estimate))
    if fps is None:
        estimate = 1 / measured_period
        candidates = [*_COMMON_RATES, Fraction(round(estimate))]
        fps = min(candidates, key=lambda r: abs(r - estimate))
        if abs(fps - estimate) / estimate > Fraction(1, 500):
            fps = estimate.limit_denominator(1001)
    # One tick of jitter is muxer rounding; a step a tenth of a frame off the nominal period is real VFR.
    period_ticks = 1 / (fps * time_base)
    tolerance = max(Fraction(1), period_ticks / 10)
    vfr = any(abs(step - period_ticks) > tolerance for step in steps)
    return fps, vfr


def _grid_fits(pts: list[int], fps: Fraction, time_base: Fraction) -> bool:
    """Whether every timestamp lies within one tick of frame ``i``'s time at ``fps`` (rates must be > 0)."""
    if fps <= 0:
        return False
    period = 1 / (fps * time_base)
    return all(abs(p - pts[0] - i * period) <= 1 for i, p in enumerate(pts))


def _bit_depth(pix_fmt: str) -> int:
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        return 8
    return max((c.bits for c in fmt.components), default=8)
