"""Streaming, frame-accurate decoding with PyAV: memory is bounded by one chunk, never by clip length.

Frames come in the file's storage orientation (a rotation tag is kept as a tag, see
:mod:`shotcraft.media.write`) and, as arrays, as 8-bit RGB converted with the clip's own colour matrix
and range, so that converting back with the same tags round-trips.

>>> from shotcraft.media.samples import sample_clip
>>> reader = VideoReader(sample_clip("bikes"))
>>> reader.frame_at(120).shape
(272, 640, 3)
>>> sum(chunk.shape[0] for chunk in reader.chunks(64))
250
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from shotcraft.media.errors import MediaError
from shotcraft.media.probe import MediaInfo, VideoInfo, probe

# swscale's colourspace ids for the matrix coefficients ffmpeg tags (AVCOL_SPC_* → SWS_CS_*).
_SWS_COLORSPACE = {1: 1, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9, 4: 4}


def to_rgb(frame: av.VideoFrame, video: VideoInfo) -> np.ndarray:
    """One decoded frame as an ``(H, W, 3)`` uint8 RGB array, using the clip's colour matrix."""
    return frame.to_ndarray(format="rgb24", **_colour_args(video, to_rgb=True))


def from_rgb(array: np.ndarray, video: VideoInfo, pix_fmt: str) -> av.VideoFrame:
    """An RGB array back into a frame of ``pix_fmt``, with the same colour matrix as :func:`to_rgb`."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
    if pix_fmt in ("rgb24", "bgr24", "gbrp"):
        return frame.reformat(format=pix_fmt) if pix_fmt != "rgb24" else frame
    return frame.reformat(format=pix_fmt, **_colour_args(video, to_rgb=False))


def _colour_args(video: VideoInfo, *, to_rgb: bool) -> dict[str, int]:
    matrix = _SWS_COLORSPACE.get(video.colorspace)
    if matrix is None:
        # Untagged: players assume BT.709 for HD and BT.601 for SD; so do we.
        matrix = 1 if video.height >= 720 else 5
    full = video.color_range == 2
    if to_rgb:
        return {"src_colorspace": matrix, "src_color_range": 2 if full else 1, "dst_color_range": 2}
    return {"dst_colorspace": matrix, "src_color_range": 2, "dst_color_range": 2 if full else 1}


class VideoReader:
    """Decode a clip's video frames lazily: by iteration, in chunks, or one frame by index or time.

    ``info`` may be passed when the clip was already probed, to avoid demuxing twice.
    """

    def __init__(self, path: str | os.PathLike[str], info: MediaInfo | None = None, threads: int = 0):
        self.path = Path(path)
        self.info = info or probe(self.path)
        self.video = self.info.require_video()
        self.threads = threads

    def __len__(self) -> int:
        return self.video.frame_count

    # -- raw frames ----------------------------------------------------------------------------------------

    def av_frames(self, start: int = 0, stop: int | None = None) -> Iterator[av.VideoFrame]:
        """Decoded frames ``start`` to ``stop`` (exclusive) in display order, as PyAV frames in the
        source's own pixel format (what an exact pass-through needs)."""
        count = self.video.frame_count
        stop = count if stop is None else min(stop, count)
        if not 0 <= start <= stop:
            raise MediaError(f"frame range {start}..{stop} is outside the clip's {count} frames")
        if start == stop:
            return
        pts = self.video.pts
        with av.open(str(self.path), metadata_errors="ignore") as container:
            stream = container.streams[self.video.index]
            stream.thread_type = "AUTO"
            if self.threads:
                stream.codec_context.thread_count = self.threads
            if start > 0:
                container.seek(pts[start], stream=stream, backward=True, any_frame=False)
            index = None
            try:
                for frame in container.decode(stream):
                    if frame.pts is None:
                        continue
                    if index is None:
                        # Position in display order of the first frame after the seek.
                        index = _index_of(pts, frame.pts)
                    else:
                        index += 1
                    if index < start:
                        continue
                    if index >= stop:
                        return
                    yield frame
            except av.error.FFmpegError as exc:
                raise MediaError(f"{self.path.name} could not be decoded past frame {index}: {exc}") from None
        if index is None or index < stop - 1:
            got = 0 if index is None else index + 1
            raise MediaError(f"{self.path.name} ended after {got} of {stop} frames (truncated or damaged)")

    # -- RGB arrays ----------------------------------------------------------------------------------------

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames as ``(H, W, 3)`` uint8 RGB arrays."""
        for frame in self.av_frames(start, stop):
            yield to_rgb(frame, self.video)

    __iter__ = frames

    def chunks(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames stacked into ``(T, H, W, 3)`` chunks of at most ``size`` frames."""
        if size < 1:
            raise ValueError("chunk size must be at least 1")
        batch: list[np.ndarray] = []
        for frame in self.frames(start, stop):
            batch.append(frame)
            if len(batch) == size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)

    def frame_at(self, index: int) -> np.ndarray:
        """Frame ``index`` (negative counts from the end) as RGB; frame-accurate, seeks from the nearest
        keyframe."""
        count = self.video.frame_count
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise MediaError(f"frame {index} is outside the clip (it has {count} frames)")
        return next(self.frames(index, index + 1))

    def frame_at_time(self, seconds: float | Fraction) -> np.ndarray:
        """The frame on screen at ``seconds`` from the first frame."""
        return self.frame_at(self.index_at_time(seconds))

    def index_at_time(self, seconds: float | Fraction) -> int:
        """Index of the frame displayed at ``seconds`` (uses real timestamps, so VFR clips work too)."""
        t = Fraction(str(seconds)) if isinstance(seconds, float) else Fraction(seconds)
        if t < 0 or t >= self.video.duration:
            raise MediaError(
                f"{float(t):g} s is outside the clip (it lasts {float(self.video.duration):.3f} s)"
            )
        pts = self.video.pts
        target = pts[0] + t / self.video.time_base
        return max(0, _index_of(pts, target, at_or_before=True))


def _index_of(pts: tuple[int, ...], value: int | Fraction, at_or_before: bool = False) -> int:
    """Index of ``value`` in the sorted timestamps (or of the last one at or before it)."""
    i = bisect.bisect_right(pts, value) - 1
    if at_or_before:
        return i
    return i if i >= 0 and pts[i] == value else bisect.bisect_left(pts, value)


def read_frames(
    path: str | os.PathLike[str], start: int = 0, stop: int | None = None
) -> Iterator[np.ndarray]:
    """Shorthand for ``VideoReader(path).frames(start, stop)``."""
    return VideoReader(path).frames(start, stop)
