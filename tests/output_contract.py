"""Checks of the transform output contract, by numbers: what a take must keep of its source.

Used by the general-case matrix (``test_general_case.py``); each check reads the files independently of
the writer (demuxing with PyAV), so the writer is never checked against itself.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from shotcraft.media.probe import MediaInfo, probe
from shotcraft.media.read import VideoReader


def audio_packets(path: Path) -> list[list[tuple[Fraction | None, Fraction | None, str]]]:
    """Per audio track, every packet as (time, duration, sha1 of its bytes), in stream order."""
    with av.open(str(path)) as container:
        tracks = {s.index: [] for s in container.streams.audio}
        if not tracks:  # demux() with no stream named reads every stream
            return []
        for packet in container.demux(*container.streams.audio):
            if packet.size == 0:
                continue
            tb = packet.time_base
            tracks[packet.stream_index].append(
                (
                    None if packet.pts is None else packet.pts * tb,
                    None if packet.duration is None else packet.duration * tb,
                    hashlib.sha1(bytes(packet)).hexdigest(),
                )
            )
    return list(tracks.values())


def video_packets(path: Path) -> list[tuple[int | None, int | None, bool, str]]:
    """Every video packet as (pts, dts, keyframe, sha1 of its bytes), in stream order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (p.pts, p.dts, p.is_keyframe, hashlib.sha1(bytes(p)).hexdigest())
            for p in container.demux(stream)
            if p.size
        ]


def video_times(path: Path) -> list[Fraction]:
    """Presentation time of every frame, seconds from the first, in display order (from packets only)."""
    video = probe(path).require_video()
    return [(p - video.pts[0]) * video.time_base for p in video.pts]


def display_frames(path: Path) -> list[np.ndarray]:
    """Every frame as RGB, turned the way a player shows it (the clip is tiny; tests only)."""
    reader = VideoReader(path)
    k = reader.video.rotation // 90
    return [np.rot90(frame, k) for frame in reader.frames()]


def check_contract(source: Path, output: Path) -> None:
    """Frame count, exact fps, duration, timestamps, size, rotation and audio packets all as in the source.

    Into the same kind of container everything is exact. Into another one, packet bytes are still exact
    but times are held to the coarser container's tick (Matroska counts milliseconds and starts at 0,
    shifting every stream alike) and are compared relative to the first video frame, as a player syncs.
    """
    src, out = probe(source), probe(output)
    sv, ov = src.require_video(), out.require_video()
    same = src.container == out.container
    assert ov.frame_count == sv.frame_count, (ov.frame_count, sv.frame_count)
    assert isinstance(ov.fps, Fraction) and ov.fps == sv.fps, (ov.fps, sv.fps)
    assert ov.duration == sv.duration, (ov.duration, sv.duration)
    assert ov.vfr == sv.vfr
    tick = Fraction(0) if same else max(sv.time_base, ov.time_base, *_audio_ticks(src), *_audio_ticks(out))
    for a, b in zip(video_times(output), video_times(source), strict=True):
        assert abs(a - b) <= tick, (a, b)
    assert (ov.width, ov.height, ov.rotation) == (sv.width, sv.height, sv.rotation)
    assert ov.display_size == sv.display_size
    assert [a.codec for a in out.audio] == [a.codec for a in src.audio]
    if same:
        assert audio_packets(output) == audio_packets(source)
        return
    t_src, t_out = sv.pts[0] * sv.time_base, ov.pts[0] * ov.time_base
    for got, want in zip(audio_packets(output), audio_packets(source), strict=True):
        assert [p[2] for p in got] == [p[2] for p in want]
        for (a, _, _), (b, _, _) in zip(got, want, strict=True):
            assert a is not None and b is not None and abs((a - t_out) - (b - t_src)) <= tick, (a, b)


def _audio_ticks(info: MediaInfo) -> list[Fraction]:
    return [a.time_base for a in info.audio]
