"""Clips made to order for tests, benchmarks and demos: any size, rate, pixel format, rotation, audio tracks,
or variable frame rate, with content taken from real footage (a bundled sample clip) or a moving pattern.

It writes with PyAV directly, independent of :mod:`shotcraft.media.write`, so tests of the writer do not
check the writer against itself.

>>> import tempfile, pathlib
>>> from fractions import Fraction
>>> path = make_clip(pathlib.Path(tempfile.mkdtemp()) / "c.mp4", frames=10, width=64, height=48,
...                  fps=Fraction(30000, 1001), audio_channels=2)
>>> from shotcraft.media.probe import probe
>>> info = probe(path)
>>> info.video.fps, info.video.frame_count, len(info.audio)
(Fraction(30000, 1001), 10, 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pattern_frames(frames: int, width: int, height: int, seed: int = 0) -> Iterator[np.ndarray]:
    """A textured pattern drifting diagonally: real edges and smooth motion for flow to follow."""
    rng = np.random.default_rng(seed)
    big_h, big_w = height + frames * 2 + 8, width + frames * 3 + 8
    texture = rng.integers(0, 256, (big_h // 8 + 1, big_w // 8 + 1, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), np.uint8))[:big_h, :big_w]
    ys, xs = np.mgrid[0:big_h, 0:big_w]
    ramp = ((np.sin(xs / 23.0) + np.cos(ys / 17.0)) * 40).astype(np.int16)
    texture = np.clip(texture.astype(np.int16) // 2 + 64 + ramp[..., None], 0, 255).astype(np.uint8)
    for i in range(frames):
        y0, x0 = 2 * i, 3 * i
        yield np.ascontiguousarray(texture[y0 : y0 + height, x0 : x0 + width])


def footage_frames(sample: str, frames: int, width: int, height: int) -> Iterator[np.ndarray]:
    """Real footage from a bundled sample clip, looped and resized to ``width`` x ``height``."""
    from PIL import Image

    from shotcraft.media.read import VideoReader
    from shotcraft.media.samples import sample_clip

    reader = VideoReader(sample_clip(sample))
    produced = 0
    while produced < frames:
        for frame in reader.frames():
            if produced == frames:
                return
            if frame.shape[:2] != (height, width):
                frame = np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR))
            yield frame
            produced += 1


def make_clip(
    path: Path | str,
    *,
    frames: int = 25,
    width: int = 128,
    height: int = 96,
    fps: Fraction | int = 25,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    audio_channels: int = 0,
    audio_tracks: int = 1,
    audio_codecs: Sequence[str] = (),
    rotation: int = 0,
    vfr: bool = False,
    footage: str | None = None,
    lossless: bool = False,
    content: Iterator[np.ndarray] | None = None,
) -> Path:
    """Write a test clip and return its path. ``vfr`` alternates short and long frame durations.

    Audio: ``audio_tracks`` AAC tracks of ``audio_channels`` channels, or one track per name in
    ``audio_codecs`` (e.g. ``("aac", "pcm_s16le", "libopus")``; stereo unless ``audio_channels`` says),
    each a tone of its own pitch, so tracks can be told apart.
    """
    path = Path(path)
    fps = Fraction(fps)
    time_base = Fraction(1, 90000) if vfr else 1 / fps
    if content is None:
        content = (
            footage_frames(footage, frames, width, height)
            if footage
            else pattern_frames(frames, width, height)
        )
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if codec in ("libx264", "libx265"):
            stream.options = {"qp": "0"} if lossless else {"crf": "16", "preset": "ultrafast"}
        if rotation:
            stream.set_display_rotation(rotation)
        codecs = list(audio_codecs) or ["aac"] * (audio_tracks if audio_channels else 0)
        audio_streams = []
        for name in codecs:
            a = container.add_stream(name, rate=48000)
            a.layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(audio_channels, "stereo")
            audio_streams.append(a)
        pts = 0
        for i, image in enumerate(content):
            if i == frames:
                break
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
            frame.pts = pts
            frame.time_base = time_base
            container.mux(stream.encode(frame))
            step = 1 / fps / time_base
            pts += int(step * (Fraction(1, 2) if i % 2 == 0 else Fraction(3, 2))) if vfr else 1
        container.mux(stream.encode(None))
        duration = Fraction(frames) / fps
        for k, a in enumerate(audio_streams):
            _write_tone(container, a, duration, 220.0 * (k + 1))
    return path


def _write_tone(
    container: av.container.OutputContainer, stream: av.AudioStream, duration: Fraction, hz: float
) -> None:
    rate = 48000
    # Codecs with a fixed frame size (AAC 1024, Opus 960) need exactly that many samples per frame but
    # the last; PCM takes any count (frame_size 0).
    samples_per_frame = stream.codec_context.frame_size or 1024
    total = math.ceil(duration * rate)
    channels = stream.layout.nb_channels
    fmt = stream.codec_context.format
    t0 = 0
    while t0 < total:
        n = min(samples_per_frame, total - t0)
        t = (np.arange(t0, t0 + n) / rate).astype(np.float32)
        wave = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.tile(wave, (channels, 1)), format="fltp", layout=stream.layout.name
        )
        frame.sample_rate = rate
        if fmt is not None and fmt.name != "fltp":
            frame = _resampled(frame, fmt.name, stream.layout.name)
        frame.pts = t0
        container.mux(stream.encode(frame))
        t0 += n
    container.mux(stream.encode(None))


def _resampled(frame: av.AudioFrame, fmt: str, layout: str) -> av.AudioFrame:
    """``frame`` in the sample format an encoder takes (s16 for PCM, for example); same rate and length."""
    (out,) = av.AudioResampler(format=fmt, layout=layout, rate=frame.sample_rate).resample(frame)
    return out


def truncate_file(source: Path, target: Path, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of a file's bytes: a clip cut off mid-download."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: int(len(data) * keep)])
    return Path(target)


def planar_label_path(frames: int, width: int, height: int, label_size: tuple[int, int]) -> np.ndarray:
    """Ground-truth corners ``(frames, 4, 2)`` of a flat label moving in perspective: it drifts, turns,
    zooms and tilts smoothly, always fully inside a ``width`` x ``height`` frame (for tracker tests)."""
    lw, lh = label_size
    rect = np.array([[-lw / 2, -lh / 2], [lw / 2, -lh / 2], [lw / 2, lh / 2], [-lw / 2, lh / 2]], np.float64)
    path = np.empty((frames, 4, 2), np.float64)
    for i in range(frames):
        t = i / 25.0
        scale = 1.0 + 0.15 * math.sin(2 * math.pi * t / 5.3)
        angle = 0.25 * math.sin(2 * math.pi * t / 6.1)
        # Projective terms tilt the plane towards and away from the camera.
        px, py = 0.0012 * math.sin(2 * math.pi * t / 4.7), 0.0010 * math.cos(2 * math.pi * t / 3.9)
        cx = width / 2 + 0.18 * width * math.sin(2 * math.pi * t / 7.0)
        cy = height / 2 + 0.15 * height * math.sin(2 * math.pi * t / 5.0 + 1.0)
        c, s = math.cos(angle) * scale, math.sin(angle) * scale
        homography = np.array([[c, -s, cx], [s, c, cy], [0, 0, 1]]) @ np.array(
            [[1, 0, 0], [0, 1, 0], [px, py, 1]]
        )
        points = np.c_[rect, np.ones(4)] @ homography.T
        path[i] = points[:, :2] / points[:, 2:]
    return path


def planar_label_frames(
    corners: np.ndarray, label: np.ndarray, background: Iterator[np.ndarray]
) -> Iterator[np.ndarray]:
    """Paint ``label`` (an RGB image) onto each background frame at the matching ``corners`` (see
    :func:`planar_label_path`), anti-aliased at its edges."""
    import cv2

    lh, lw = label.shape[:2]
    source = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    ones = np.full((lh, lw), 255, np.uint8)
    for quad, frame in zip(corners, background, strict=False):
        h, w = frame.shape[:2]
        homography = cv2.getPerspectiveTransform(source, quad.astype(np.float32))
        warped = cv2.warpPerspective(label, homography, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(ones, homography, (w, h), flags=cv2.INTER_LINEAR)[..., None] / 255.0
        yield np.clip(frame * (1 - alpha) + warped * alpha + 0.5, 0, 255).astype(np.uint8)
