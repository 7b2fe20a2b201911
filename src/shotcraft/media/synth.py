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
from dataclasses import dataclass
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


#: Renders averaged over the open shutter: a 20 px streak (40 px per frame, 180°) in steps of about 1 px.
_SHUTTER_SAMPLES = 21


@dataclass(frozen=True)
class PlanarScene:
    """A flat textured label inserted into footage under a known path (see :func:`planar_scene`)."""

    corners: np.ndarray  # (frames, 4, 2): the label's true corners, also where it is hidden or outside
    visible: np.ndarray  # (frames,): share of the label's area that is in the picture and not covered
    frames: list[np.ndarray]


def fast_planar_path(t: float, width: int, height: int, label_size: tuple[int, int]) -> np.ndarray:
    """The label's corners at (fractional) frame ``t``: it swings left and right at up to 40 px per frame
    while it bobs, turns, zooms and tilts, then (from frame 100) leaves the picture to the right at 30."""
    lw, lh = label_size
    rect = np.array([[-lw / 2, -lh / 2], [lw / 2, -lh / 2], [lw / 2, lh / 2], [-lw / 2, lh / 2]], np.float64)
    swing = 0.31 * width  # amplitude x angular rate = 40 px per frame at the centre of the swing
    rate = 40.0 / swing
    # It starts at the left end of its swing (still: a sharp reference frame).
    cx = width / 2 - swing * math.cos(rate * min(t, 100.0)) + 30.0 * max(0.0, t - 100.0)
    cy = height / 2 + 0.12 * height * math.sin(t / 9.0)
    scale = 1.0 + 0.2 * math.sin(t / 13.0)
    angle = 0.3 * math.sin(t / 11.0)
    px, py = 0.0008 * math.sin(t / 7.0), 0.0008 * math.cos(t / 10.0)
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    homography = np.array([[c, -s, cx], [s, c, cy], [0, 0, 1]]) @ np.array(
        [[1, 0, 0], [0, 1, 0], [px, py, 1]]
    )
    points = np.c_[rect, np.ones(4)] @ homography.T
    return points[:, :2] / points[:, 2:]


def planar_scene(
    label: np.ndarray, background: Iterator[np.ndarray], frames: int, *, hidden: range = range(70, 78)
) -> PlanarScene:
    """A hard planar-tracking ground truth: ``label`` moving along :func:`fast_planar_path` over real
    ``background`` frames with 180°-shutter motion blur (sub-frame renders averaged), a light that
    dims to 55 % and brightens to 125 % with a shadow gradient across the label, a pole in front that
    covers part of it as it swings past, and a passing panel that hides it completely on the ``hidden``
    frames. It leaves the picture for good near the end of a clip of 110 frames or more."""
    import cv2

    lh, lw = label.shape[:2]
    source = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    ones = np.full((lh, lw), 255, np.uint8)
    gradient = np.linspace(0.8, 1.2, lw, dtype=np.float32)[None, :, None]
    corners, visible, out = [], [], []
    for index, frame in zip(range(frames), background, strict=False):
        h, w = frame.shape[:2]
        light = 0.9 + 0.35 * math.sin(index / 15.0)
        lit = (label.astype(np.float32) * gradient * light).clip(0, 255)
        colour = np.zeros((h, w, 3), np.float32)
        alpha = np.zeros((h, w), np.float32)
        for offset in np.linspace(-0.25, 0.25, _SHUTTER_SAMPLES):
            quad = fast_planar_path(index + offset, w, h, (lw, lh)).astype(np.float32)
            homography = cv2.getPerspectiveTransform(source, quad)
            colour += cv2.warpPerspective(lit, homography, (w, h), flags=cv2.INTER_LINEAR)
            alpha += cv2.warpPerspective(ones, homography, (w, h), flags=cv2.INTER_LINEAR) / 255.0
        # The renders are premultiplied by their coverage, so their average over the shutter is too.
        alpha = alpha[..., None] / _SHUTTER_SAMPLES
        picture = frame * (1 - alpha) + colour / _SHUTTER_SAMPLES
        truth = fast_planar_path(index, w, h, (lw, lh))
        cover = np.zeros((h, w), np.uint8)
        pole = round(0.62 * w)
        cover[:, pole : pole + w // 14] = 1
        if index in hidden:
            x0, y0 = np.floor(truth.min(axis=0)).astype(int) - 12
            x1, y1 = np.ceil(truth.max(axis=0)).astype(int) + 12
            cover[max(0, y0) : y1, max(0, x0) : x1] = 1
        picture[cover > 0] = (70, 78, 90)
        region = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(region, np.round(truth * 16).astype(np.int32), 1, cv2.LINE_8, 4)
        area = abs(cv2.contourArea(truth.astype(np.float32)))
        corners.append(truth)
        visible.append(float((region & (1 - cover)).sum()) / max(area, 1.0))
        out.append(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
    return PlanarScene(np.array(corners), np.array(visible), out)


def leaving_card_scene(background: np.ndarray, frames: int = 16) -> PlanarScene:
    """A plain card (flat colour, a darker rim, one crease and a small mark: a roof plate, a sign) sliding
    down over a still ``background`` at 13 px per frame, growing and turning towards the camera, out through
    the bottom edge: whole on the first 10 frames of a 320x240 picture, then 90 % down to a quarter of it
    in the picture. Plain regions are tracked mostly by their outline; leaving, only a strip of it is left.
    ``visible`` is the share of the card inside the picture."""
    import cv2

    card = np.zeros((90, 70, 3), np.uint8)
    card[:] = (120, 95, 80)
    cv2.rectangle(card, (0, 0), (69, 89), (90, 70, 60), 2)
    cv2.line(card, (6, 10), (62, 78), (105, 85, 72), 2)
    cv2.putText(card, "V2", (8, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (70, 55, 45), 1)
    h, w = background.shape[:2]
    corners = []
    for t in range(frames):
        quad = np.array([[-35, -45], [35, -45], [35, 45], [-35, 45]], np.float64) * (1 + 0.012 * t)
        quad[:2, 0] *= 1 - 0.004 * t  # the far edge narrower: the card tilts towards the camera
        corners.append(quad + np.array([w * 0.47 + 0.6 * t, 70 + 13.0 * t]))
    path = np.array(corners)
    top, bottom = path[:, :, 1].min(axis=1), path[:, :, 1].max(axis=1)
    visible = np.clip((h - top) / (bottom - top), 0, 1)
    pictures = list(planar_label_frames(path, card, iter([background] * frames)))
    return PlanarScene(path, visible, pictures)
