"""Encoding under the output contract: source timestamps, rotation and colour tags kept, audio and subtitle
packets copied from the source without re-encoding, and the file appearing only when complete.

The writer is given the source's :class:`VideoInfo` as the timing template: frame ``i`` is stamped with the
source's own presentation time ``pts[i]``, so constant and variable frame rates both come back exactly.

Video is encoded on the clip's :class:`~shotcraft.media.timing.EncodeGrid`: a fresh encoder for every
segment (about ``OutputSpec.segment_seconds`` long), fed frame numbers as timestamps, with a fixed thread
count, so a segment's bytes depend only on its frames and the settings. A render split into parts encodes
its segments elsewhere and :meth:`VideoWriter.copy_segment` joins them without decoding: the same packets,
stamped with the source's times exactly as this writer stamps its own.

>>> import tempfile
>>> from pathlib import Path
>>> from shotcraft.media.probe import probe
>>> from shotcraft.media.read import VideoReader
>>> from shotcraft.media.samples import sample_clip
>>> source = probe(sample_clip("carphone"))
>>> out = Path(tempfile.mkdtemp()) / "copy.mp4"
>>> with VideoWriter(out, source) as writer:
...     for frame in VideoReader(source.path, source).frames():
...         writer.write(frame)
>>> probe(out).video.frame_count == source.video.frame_count
True
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from shotcraft.errors import MediaError
from shotcraft.media.output_path import (
    check_output,
    commit,
    remove_partial_folder,
    remove_stale_partials,
    sidecar_of,
    temp_name,
)
from shotcraft.media.probe import MediaInfo, VideoInfo
from shotcraft.media.read import from_rgb, to_rgb
from shotcraft.media.timing import EncodeGrid
from shotcraft.spec import OutputSpec

_CONTAINER_FOR_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_X26X_PIX_FMTS = {
    "yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le", "nv12",
}  # fmt: skip
#: Audio is muxed this far ahead of the video written so far, so players get well-interleaved files.
_AUDIO_LEAD = Fraction(1, 2)
#: Pixel formats whose samples are RGB: a segment holding them was fed RGB frames.
RGB_PIX_FMTS = ("gbrp", "rgb24", "bgr0", "bgr24")


def encoder_threads(height: int) -> int:
    """Encoder threads, fixed by the frame height: x264's and x265's output depends on their thread count
    (measured), so a segment encoded on any machine must use the same. Frame threads cost compression on
    small frames (+8 % at 640x272 with 4 threads against 1, +1.5 % at 720p), so small frames get fewer."""
    return min(8, max(2, height // 180))


def check_output_path(
    output: Path, source: Path | None = None, *, overwrite: bool = False, folder: bool = False
) -> Path:
    """Refuse an output that breaks a rule of :mod:`shotcraft.media.output_path` (the source, an existing
    file without ``overwrite``, a folder or device, a folder we cannot write to). Nothing is created."""
    return check_output(output, source=source, overwrite=overwrite, folder=folder)


class VideoWriter:
    """Write frames (RGB arrays or PyAV frames) to ``path`` under the output contract.

    ``source`` is the probed source clip: its video stream is the timing and colour template, and its
    audio and subtitle packets are copied into the output (``copy_streams=False`` to skip that). The
    file is written under a hidden temporary name and renamed on :meth:`close`; on error nothing is left.
    ``size`` overrides the output size (for reframing); ``video`` overrides the template (for generated
    takes with no source file).

    The path rules of :mod:`shotcraft.media.output_path` are checked when the writer is made and again
    just before the rename: an existing file is replaced only with ``overwrite``, and nothing is written
    over the source or the other ``inputs``. Set :attr:`sidecar` (the take record) before the writer
    closes and the output and its ``.json`` sidecar appear together, or neither does.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source: MediaInfo | None = None,
        output: OutputSpec | None = None,
        *,
        video: VideoInfo | None = None,
        size: tuple[int, int] | None = None,
        copy_streams: bool = True,
        overwrite: bool = False,
        inputs: Iterable[str | os.PathLike[str] | None] = (),
        with_sidecar: bool = True,
        grid: EncodeGrid | None = None,
    ):
        self.path = Path(path)
        self.source = source
        self.output = output or OutputSpec.for_path(self.path)
        template = video or (source.require_video() if source else None)
        if template is None:
            raise ValueError("VideoWriter needs a source clip or a video template")
        self.video = template
        self.width, self.height = size or (template.width, template.height)
        #: Where the encoder restarts; a part's writer is given the whole clip's grid seen from its start.
        self.grid = grid or EncodeGrid.for_clip(
            template.frame_count, template.duration, self.output.segment_seconds
        )
        self.copy_streams = copy_streams and source is not None
        self.frames_written = 0
        self.notices: list[str] = []
        self._sequence = self.output.format == "png_sequence"
        self._rules = {
            "source": source.path if source else None,
            "inputs": list(inputs),
            "overwrite": overwrite,
            "folder": self._sequence,
            "sidecar": with_sidecar,
        }
        check_output(self.path, **self._rules)
        #: The take record; when set before :meth:`close`, written as ``<output>.json`` with the output.
        self.sidecar: dict[str, Any] | None = None
        self.sidecar_path = sidecar_of(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MediaError(f"cannot create output folder {self.path.parent}: {_os_reason(exc)}") from None
        remove_stale_partials(self.path.parent)
        self._tmp = temp_name(self.path)
        self._sidecar_tmp = temp_name(self.sidecar_path)
        self._container: Any = None
        self._stream: Any = None
        self._pix_fmt: str = ""
        self._codec: tuple[str, dict[str, str]] = ("", {})
        self._encoder: Any = None
        self._encoder_first = 0
        self._passthrough: dict[int, Any] = {}
        self._packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._source_container: Any = None
        self._closed = False

    # -- context manager -----------------------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- writing -------------------------------------------------------------------------------------------

    def write(self, frame: np.ndarray | av.VideoFrame) -> None:
        """Append one frame; arrays are ``(H, W, 3)`` uint8 RGB."""
        if self._closed:
            raise MediaError("writer is already closed")
        try:
            if self._sequence:
                self._write_png(frame)
            else:
                if self._container is None:
                    self._open(frame.format.name if isinstance(frame, av.VideoFrame) else "rgb24")
                self._encode(frame)
        except OSError as exc:
            self.abort()
            raise MediaError(f"writing {self.path.name} failed: {_os_reason(exc)}") from None
        self.frames_written += 1

    def write_all(self, frames: Iterable[np.ndarray | av.VideoFrame]) -> None:
        """Append every frame of ``frames`` in order (see :meth:`write`)."""
        for frame in frames:
            self.write(frame)

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if self._closed:
            return self.path
        try:
            if self.frames_written == 0:
                raise MediaError(f"no frames were written to {self.path.name}")
            if self._sequence:
                self._copy_streams_to_sidecar()
            else:
                self._finish_encoder()
                self._mux_pending(until=None)
                self._container.close()
                self._container = None
            pairs = [(self._tmp, self.path)]
            if self.sidecar is not None:
                _write_json(self._sidecar_tmp, self.sidecar)
                pairs.append((self._sidecar_tmp, self.sidecar_path))
            # Checked again: the folder may have changed while the frames were made.
            check_output(self.path, **self._rules)
            commit(pairs)
        except av.error.FFmpegError as exc:
            error = self._muxer_refused(exc)
            self.abort()
            raise error from None
        except OSError as exc:
            self.abort()
            raise MediaError(f"finishing {self.path.name} failed: {_os_reason(exc)}") from None
        except BaseException:
            self.abort()
            raise
        finally:
            self._close_source()
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop the partial output; the destination is left as it was."""
        self._closed = True
        if self._container is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self._container.close()
            self._container = None
        self._close_source()
        with contextlib.suppress(OSError):
            if self._tmp.is_dir() and not self._tmp.is_symlink():
                remove_partial_folder(self._tmp)
            elif os.path.lexists(self._tmp):
                self._tmp.unlink()
        with contextlib.suppress(OSError):
            self._sidecar_tmp.unlink(missing_ok=True)

    # -- video ---------------------------------------------------------------------------------------------

    def _open(self, source_fmt: str, template: Any = None) -> None:
        """Create the container and its video stream for frames given as ``source_fmt``; with ``template``
        (a segment's stream), the stream copies that segment's codec parameters instead of encoding."""
        fmt = self.output.format
        container_format = _CONTAINER_FOR_SUFFIX.get(self.path.suffix.lower())
        if container_format is None:
            raise MediaError(
                f"output {self.path.name}: use a .mp4, .mov or .mkv name, or a folder for PNG frames"
            )
        codec, pix_fmt, options = self._codec_settings(source_fmt)
        if fmt == "mov_prores":
            options["profile"] = "hq" if pix_fmt.startswith("yuv422") else "4444"
        # H.264 holds the RGB that libx264rgb is given as planar GBR, the pixel format a decoder names.
        stored = "gbrp" if pix_fmt == "rgb24" else pix_fmt
        if template is not None and (template.codec_context.pix_fmt, template.width, template.height) != (
            stored,
            self.width,
            self.height,
        ):
            raise MediaError(
                f"a segment of {self.path.name} holds {template.width}x{template.height} "
                f"{template.codec_context.pix_fmt}, not the take's {self.width}x{self.height} {pix_fmt}"
            )
        try:
            self._container = av.open(str(self._tmp), "w", format=container_format)
        except (OSError, av.error.FFmpegError) as exc:
            raise MediaError(f"cannot create {self.path.name}: {_os_reason(exc)}") from None
        self._pix_fmt, self._codec = pix_fmt, (codec, options)
        if template is None:
            stream = self._container.add_stream(codec, rate=self.video.fps)
            # Never fed a frame: configured as every segment's encoder, it gives the header their parameters.
            self._configure(stream.codec_context)
        else:
            stream = self._container.add_stream_from_template(template)
        stream.time_base = self.video.time_base
        if self.video.rotation:
            stream.set_display_rotation(self.video.rotation)
        self._stream = stream
        if self.copy_streams:
            self._open_passthrough()

    def _configure(self, ctx: Any) -> None:
        """Set up an encoder (one per segment, and the stream's own) with the take's settings; every
        segment's encoder counts time in frames, so its bytes do not depend on where the segment lies."""
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, self._pix_fmt
        ctx.time_base = 1 / self.video.fps
        ctx.framerate = self.video.fps
        ctx.options = dict(self._codec[1])
        ctx.thread_type = "AUTO"
        ctx.thread_count = encoder_threads(self.height)
        if not self._pix_fmt.startswith(("rgb", "bgr", "gbr")):
            ctx.color_range = self.video.color_range
            ctx.colorspace = self.video.colorspace
        ctx.color_primaries = self.video.color_primaries
        ctx.color_trc = self.video.color_trc
        if self.video.sample_aspect_ratio and (self.width, self.height) == (
            self.video.width,
            self.video.height,
        ):
            ctx.sample_aspect_ratio = self.video.sample_aspect_ratio
        ctx.flags |= av.codec.context.Flags.global_header

    def _codec_settings(self, source_fmt: str) -> tuple[str, str, dict[str, str]]:
        fmt, lossless = self.output.format, self.output.lossless
        odd = self.width % 2 or self.height % 2
        if fmt == "mov_prores":
            pix = (
                "yuv444p10le"
                if "444" in self.video.pix_fmt or (source_fmt == "rgb24" and lossless)
                else "yuv422p10le"
            )
            if lossless:
                self.notices.append("ProRes is never lossless: use mp4_h264 with lossless for exact pixels")
            return "prores_ks", pix, {}
        codec = "libx265" if fmt == "mp4_h265" else "libx264"
        # x265 takes its threads from its own parameters; its output depends on the pool's size as well as on
        # its frame threads (measured), so both are fixed, as x264's threads are.
        threads = encoder_threads(self.height)
        x265_common = f"log-level=error:frame-threads={threads}:pools={threads}"
        if lossless and source_fmt in ("rgb24", "bgr24"):
            # RGB frames in, RGB samples out: no YUV round trip, so pixels come back exactly.
            if codec == "libx264":
                return "libx264rgb", "rgb24", {"qp": "0", "preset": self.output.preset}
            return codec, "gbrp", {"x265-params": f"lossless=1:{x265_common}", "preset": self.output.preset}
        pix = source_fmt if source_fmt in _X26X_PIX_FMTS else self.video.pix_fmt
        if pix not in _X26X_PIX_FMTS:
            pix = "yuv420p10le" if self.video.bit_depth > 8 else "yuv420p"
        if odd and not pix.startswith("yuv444"):
            pix = "yuv444p10le" if "10" in pix else "yuv444p"
            self.notices.append(
                f"{self.width}x{self.height} has odd dimensions, which 4:2:0 cannot hold: written as 4:4:4"
            )
        if codec == "libx264":
            opts = {"qp": "0"} if lossless else {"crf": str(self.output.crf)}
            opts["preset"] = self.output.preset
        else:
            params = "lossless=1" if lossless else f"crf={self.output.crf}"
            opts = {"x265-params": f"{params}:{x265_common}", "preset": self.output.preset}
        return codec, pix, opts

    def _encode(self, frame: np.ndarray | av.VideoFrame) -> None:
        index = self.frames_written
        if isinstance(frame, np.ndarray):
            if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
                raise MediaError(
                    f"frame {index} is {frame.shape} {frame.dtype}; expected ({self.height}, {self.width}, 3) uint8"
                )
            av_frame = from_rgb(frame, self.video, self._pix_fmt)
        else:
            av_frame = frame if frame.format.name == self._pix_fmt else frame.reformat(format=self._pix_fmt)
            # Let the encoder choose its own GOP instead of copying the source's frame types.
            av_frame.pict_type = av.video.frame.PictureType.NONE
        if self._encoder is None or self.grid.is_start(index):
            self._finish_encoder()
            self._encoder = av.CodecContext.create(self._codec[0], "w")
            self._configure(self._encoder)
            self._encoder_first = index
        av_frame.pts = index - self._encoder_first
        av_frame.time_base = self._encoder.time_base
        for packet in self._encoder.encode(av_frame):
            self._mux_video(packet, self._encoder_first)
        self._mux_pending(until=self.video.time_of(min(index, self.video.frame_count - 1)) + _AUDIO_LEAD)

    def _finish_encoder(self) -> None:
        """Drain the segment's encoder: its last packets belong to its own segment."""
        if self._encoder is not None:
            for packet in self._encoder.encode(None):
                self._mux_video(packet, self._encoder_first)
            self._encoder = None

    def _mux_video(self, packet: av.Packet, first: int) -> None:
        """Mux a packet whose times count frames from the writer's frame ``first``, stamped with the
        template's times (decode times too, so a B-frame's reordering delay is kept as the encoder made it)."""
        shown, decoded = (
            first + _frames_of(t, packet.time_base, self.video.fps) for t in (packet.pts, packet.dts)
        )
        packet.pts, packet.dts = self._pts_of(shown), self._pts_of(decoded)
        packet.duration = self._pts_of(shown + 1) - packet.pts
        packet.time_base = self.video.time_base
        packet.stream = self._stream
        self._container.mux(packet)

    def copy_segment(self, path: str | os.PathLike[str], source_fmt: str) -> int:
        """Append a segment's video packets as they are (no decoding): frames from :attr:`frames_written`
        on, made by a writer with this one's settings and grid for frames given as ``source_fmt``; returns
        how many frames it held. A segment must start on a keyframe of a fresh encoder."""
        if self._closed:
            raise MediaError("writer is already closed")
        first = self.frames_written
        try:
            with av.open(str(path)) as segment:
                stream = segment.streams.video[0]
                if self._container is None:
                    self._open(source_fmt, template=stream)
                for packet in segment.demux(stream):
                    if packet.size == 0:
                        continue
                    if self.frames_written == first and not packet.is_keyframe:
                        raise MediaError(f"segment {Path(path).name} does not start on a keyframe")
                    self._mux_video(packet, first)
                    last = min(self.frames_written, self.video.frame_count - 1)
                    self._mux_pending(until=self.video.time_of(last) + _AUDIO_LEAD)
                    self.frames_written += 1
        except (OSError, av.error.FFmpegError) as exc:
            self.abort()
            raise MediaError(f"joining segment {Path(path).name} failed: {_os_reason(exc)}") from None
        return self.frames_written - first

    def _pts_of(self, index: int) -> int:
        pts = self.video.pts
        step = 1 / (self.video.fps * self.video.time_base)
        if index < 0:
            # Decode times before the first frame (B-frame reordering): at the nominal rate before it.
            return (pts[0] if pts else 0) + round(index * step)
        if index < len(pts):
            return pts[index]
        # Past the template's end (generated or extended takes): continue at the nominal rate.
        last = pts[-1] if pts else 0
        extra = index - len(pts) + (1 if pts else 0)
        return last + round(extra * step)

    def _write_png(self, frame: np.ndarray | av.VideoFrame) -> None:
        """One frame as a PNG, turned upright: a PNG has no rotation tag to keep, so a rotated clip's
        frames are written as a player shows them (``VideoInfo.rotation`` is counter-clockwise degrees,
        the quarter turns ``np.rot90`` takes, as :attr:`VideoInfo.quarter_turns` reads it)."""
        turns = self.video.quarter_turns
        if self.frames_written == 0:
            self._tmp.mkdir(parents=True, exist_ok=False)
            if turns:
                self.notices.append(
                    f"PNG frames hold no rotation tag: the clip's {self.video.rotation}° rotation was "
                    "applied, so the frames are written upright, as a player shows the clip"
                )
        if isinstance(frame, av.VideoFrame):
            # The clip's own colour matrix, as the reader's arrays use, so every engine's PNGs agree.
            frame = to_rgb(frame, self.video)
        av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(frame, k=turns)), format="rgb24").save(
            str(self._tmp / f"{self.path.name}_{self.frames_written:06d}.png")
        )

    # -- audio and subtitle pass-through -------------------------------------------------------------------

    def _open_passthrough(self) -> None:
        assert self.source is not None
        indices = [a.index for a in self.source.audio] + [s.index for s in self.source.subtitles]
        if not indices:
            return
        self._source_container = av.open(str(self.source.path), metadata_errors="ignore")
        streams = [self._source_container.streams[i] for i in indices]
        for in_stream in streams:
            try:
                out_stream = self._container.add_stream_from_template(in_stream)
            except (ValueError, av.error.FFmpegError) as exc:
                raise MediaError(
                    f"{in_stream.type} stream {in_stream.index} ({in_stream.codec_context.name}) cannot be copied "
                    f"into {self.path.suffix} ({exc}); try a .mov or .mkv output"
                ) from None
            if in_stream.language:
                out_stream.metadata["language"] = in_stream.language
            self._passthrough[in_stream.index] = out_stream
        try:
            # Writing the header now is where a muxer refuses most codecs it cannot hold (Opus in MOV):
            # say so plainly up front instead of failing mid-file.
            self._container.start_encoding()
        except (ValueError, av.error.FFmpegError) as exc:
            raise self._muxer_refused(exc) from None
        self._packets = self._source_container.demux(streams)

    def _mux_pending(self, until: Fraction | None) -> None:
        """Copy source audio/subtitle packets whose time is before ``until`` (all of them if None)."""
        if self._packets is None:
            return
        source_video = self.source.video if self.source else None
        start = source_video.pts[0] * source_video.time_base if source_video and source_video.pts else 0
        while True:
            packet = self._pending
            if packet is None:
                packet = next(self._packets, None)
                if packet is None:
                    self._packets = None
                    return
                if packet.size == 0 and packet.pts is None:
                    continue
            timed = until is not None and packet.pts is not None and packet.time_base is not None
            if timed and packet.pts * packet.time_base - start > until:
                self._pending = packet
                return
            self._pending = None
            packet.stream = self._passthrough[packet.stream_index]
            try:
                self._container.mux(packet)
            except av.error.FFmpegError as exc:
                raise self._muxer_refused(exc) from None

    def _muxer_refused(self, exc: Exception) -> MediaError:
        """One plain sentence for a muxer error: which copied streams the container would not take."""
        reason = getattr(exc, "strerror", None) or str(exc)
        if not self._passthrough or self.source is None:
            return MediaError(f"writing {self.path.name} failed: {reason}")
        names = (
            ", ".join(
                f"{s.type} #{i} ({s.codec_context.name})"
                for i, s in ((i, self._source_container.streams[i]) for i in self._passthrough)
            )
            if self._source_container is not None
            else "audio/subtitle"
        )
        return MediaError(
            f"the source's {names} cannot be copied into {self.path.suffix} without re-encoding ({reason}); "
            "try a .mkv output, which holds any codec"
        )

    def _copy_streams_to_sidecar(self) -> None:
        """A frame sequence keeps its audio next to the frames, packets copied into ``audio.mka``."""
        if not self.copy_streams or self.source is None or not self.source.audio:
            return
        with (
            av.open(str(self.source.path), metadata_errors="ignore") as src,
            av.open(str(self._tmp / "audio.mka"), "w", format="matroska") as dst,
        ):
            streams = [src.streams[a.index] for a in self.source.audio]
            mapping = {s.index: dst.add_stream_from_template(s) for s in streams}
            for packet in src.demux(streams):
                if packet.size == 0 and packet.pts is None:
                    continue
                packet.stream = mapping[packet.stream_index]
                dst.mux(packet)

    def _close_source(self) -> None:
        if self._source_container is not None:
            self._source_container.close()
            self._source_container = None
            self._packets = None


def _frames_of(time: int | None, time_base: Fraction | None, fps: Fraction) -> int:
    """A packet time counted in frames (a segment's encoder counts time in frames at the nominal rate)."""
    if time is None or time_base is None:
        raise MediaError("a video packet without timestamps cannot be placed")
    frames = time * time_base * fps
    if frames.denominator != 1:
        raise MediaError(f"a video packet at {float(time * time_base)} s is not on a frame")
    return int(frames)


def _os_reason(exc: BaseException) -> str:
    errno = getattr(exc, "errno", None)
    if errno == 28:
        return "the disk is full"
    return getattr(exc, "strerror", None) or str(exc)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_sidecar(path: str | os.PathLike[str], data: dict[str, Any], *, overwrite: bool = True) -> Path:
    """Write ``<output>.json`` atomically: the record that makes an output file a take.

    Prefer :attr:`VideoWriter.sidecar`, which puts the output and its record in place together; this is for
    records of files made another way. An existing sidecar is replaced only with ``overwrite``, and never
    one that is not a regular file.
    """
    target = sidecar_of(path) if not str(path).endswith(".json") else Path(path)
    check_output(target, overwrite=overwrite, sidecar=False)
    tmp = temp_name(target)
    try:
        _write_json(tmp, data)
        commit([(tmp, target)])
    except OSError as exc:
        raise MediaError(f"writing {target.name} failed: {_os_reason(exc)}") from None
    return target
