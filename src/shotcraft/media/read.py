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
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from shotcraft.errors import MediaError
from shotcraft.media.probe import MediaInfo, VideoInfo, probe
from shotcraft.threads import cores_share

# swscale's colourspace ids for the matrix coefficients ffmpeg tags (AVCOL_SPC_* → SWS_CS_*).
_SWS_COLORSPACE = {1: 1, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9, 4: 4}


#: swscale threads per conversion. One: the decoder's and the encoder's own threads already keep every core
#: busy, and on two cores slicing a 720p conversion across threads costs ~60% more CPU than it saves in time.
_SWS_THREADS = 1


def to_rgb(frame: av.VideoFrame, video: VideoInfo) -> np.ndarray:
    """One decoded frame as an ``(H, W, 3)`` uint8 RGB array, using the clip's colour matrix."""
    return frame.to_ndarray(format="rgb24", threads=_SWS_THREADS, **_colour_args(video, to_rgb=True))


def from_rgb(array: np.ndarray, video: VideoInfo, pix_fmt: str) -> av.VideoFrame:
    """An RGB array back into a frame of ``pix_fmt``, with the same colour matrix as :func:`to_rgb`."""
    array = np.ascontiguousarray(array)
    if pix_fmt in ("rgb24", "bgr24", "gbrp"):
        # The frame itself goes to the encoder, so it owns a copy of the pixels.
        frame = av.VideoFrame.from_ndarray(array, format="rgb24")
        return frame.reformat(format=pix_fmt, threads=_SWS_THREADS) if pix_fmt != "rgb24" else frame
    # Converted at once into a new frame: a view of the array is enough, no copy.
    frame = av.VideoFrame.from_numpy_buffer(array, format="rgb24")
    return frame.reformat(format=pix_fmt, threads=_SWS_THREADS, **_colour_args(video, to_rgb=False))


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
            # A part's process decodes on its share of the cores (decoded frames do not depend on it).
            threads = self.threads or cores_share()
            if threads:
                stream.codec_context.thread_count = threads
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


class TeeReader(VideoReader):
    """A :class:`VideoReader` whose first whole-clip pass of RGB frames is kept for one more consumer.

    The lock step needs each source frame next to the engine's output for it; when the engine decodes the
    clip anyway, :meth:`replay` hands over copies of the frames that pass decoded instead of decoding the
    clip a second time. The copies wait in a queue of at most ``max_lead_bytes``: when the pass runs
    further ahead of the replay than that (an engine working on long windows), or has not got to the frame
    the replay needs (an engine that does not decode in order), the queue is dropped and the replay
    decodes the rest itself. Either way it yields exactly frames ``0..n-1``, and memory stays bounded.

    >>> from shotcraft.media.samples import sample_clip
    >>> tee = TeeReader(VideoReader(sample_clip("carphone")))
    >>> pairs = zip(tee.frames(), tee.replay(), strict=True)
    >>> all(np.array_equal(a, b) for a, b in pairs), tee.replayed_from_pass
    (True, 120)
    """

    def __init__(self, reader: VideoReader, max_lead_bytes: int = 128 << 20):
        super().__init__(reader.path, reader.info, reader.threads)
        self._inner = reader
        frame_bytes = self.video.width * self.video.height * 3
        self._max_lead = max(2, max_lead_bytes // max(1, frame_bytes))
        self._queue: deque[np.ndarray] = deque()
        self._claimed = False
        self._detached = False
        #: How many frames :meth:`replay` took from the shared pass rather than decoding them itself.
        self.replayed_from_pass = 0

    def av_frames(self, start: int = 0, stop: int | None = None) -> Iterator[av.VideoFrame]:
        # Decoding is the wrapped reader's (which may show only part of a clip).
        return self._inner.av_frames(start, stop)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        frames = super().frames(start, stop)
        whole = start == 0 and (stop is None or stop >= len(self))
        return self._shared(frames) if whole else frames

    __iter__ = frames

    def _shared(self, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        # This body runs at the first next(): the first whole pass to *start* is the shared one, and a pass
        # created but never iterated claims nothing.
        if self._claimed:
            yield from frames
            return
        self._claimed = True
        for frame in frames:
            if not self._detached:
                if len(self._queue) >= self._max_lead:
                    self._detach()
                else:
                    # A copy: the consumer of this pass may write into its frame.
                    self._queue.append(frame.copy())
            yield frame

    def replay(self) -> Iterator[np.ndarray]:
        """Frames ``0..n-1`` as RGB: from the shared pass while it is ahead, else decoded here."""
        count = len(self)
        index = 0
        while index < count:
            if not self._queue:
                self._detach()
                yield from super().frames(index)
                return
            yield self._queue.popleft()
            index += 1
            self.replayed_from_pass += 1

    def _detach(self) -> None:
        self._detached = True
        self._queue.clear()


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
