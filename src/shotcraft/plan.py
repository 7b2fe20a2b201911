"""A spec bound to one probed clip: keyframes as frame indices, file inputs checked, every problem reported.

All validation that needs the source happens here, before any heavy work starts, and all problems are
reported together (one sentence each) in a :class:`~shotcraft.spec.SpecError`.

>>> from shotcraft.media.samples import sample_clip
>>> from shotcraft.spec import TransformSpec
>>> plan = plan_transform(sample_clip("bikes"), TransformSpec())
>>> plan.video.frame_count, plan.is_identity
(250, True)
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from shotcraft.media.errors import MediaError
from shotcraft.media.probe import MediaInfo, VideoInfo, probe
from shotcraft.media.timing import frame_at_fraction, frame_at_seconds
from shotcraft.spec import (
    STRENGTH_LEVELS,
    GradedKeyframe,
    Keyframe,
    LocalizeOp,
    MaskVideoLock,
    PolygonLock,
    RectLock,
    RelightOp,
    RestyleOp,
    SpecError,
    SwapOp,
    TimePoint,
    TrackLock,
    TransformSpec,
)

#: Keyframe images whose aspect ratio differs from the clip's by more than this are refused, not resized.
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class PlannedKeyframe:
    """A keyframe placed on a frame index; ``image`` is loaded on demand by :meth:`TransformPlan.keyframe_image`."""

    index: int
    image: Path
    at: TimePoint


@dataclass(frozen=True)
class Canvas:
    """The output frame of a reframe: its size, and where the source frame sits on it."""

    width: int
    height: int
    x: int
    y: int


def reframe_canvas(width: int, height: int, aspect: str, anchor: str = "center") -> Canvas:
    """The smallest even-sized canvas of ``aspect`` that holds a ``width`` x ``height`` frame.

    >>> reframe_canvas(640, 360, "1:1")
    Canvas(width=640, height=640, x=0, y=140)
    >>> reframe_canvas(640, 360, "9:16", "top")
    Canvas(width=640, height=1138, x=0, y=0)
    """
    w, h = (int(v) for v in aspect.split(":"))
    ratio = Fraction(w, h)
    if Fraction(width, height) >= ratio:
        cw, ch = width, math.ceil(width / ratio)
    else:
        cw, ch = math.ceil(height * ratio), height
    cw, ch = cw + cw % 2, ch + ch % 2
    x = {"left": 0, "right": cw - width}.get(anchor, (cw - width) // 2)
    y = {"top": 0, "bottom": ch - height}.get(anchor, (ch - height) // 2)
    return Canvas(cw, ch, x, y)


@dataclass
class TransformPlan:
    spec: TransformSpec
    source: MediaInfo
    video: VideoInfo
    keyframes: list[PlannedKeyframe]
    relight_keyframes: list[PlannedKeyframe]
    strength: float
    notices: list[str] = field(default_factory=list)
    #: Where the source sits on the output frame when the spec reframes; None keeps the source's size.
    canvas: Canvas | None = None

    @property
    def is_identity(self) -> bool:
        return self.spec.is_identity

    @property
    def frame_count(self) -> int:
        return self.video.frame_count

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in storage orientation, the shape frames are processed in."""
        return self.video.width, self.video.height

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the output frames: the source's, or the reframe canvas."""
        return (self.canvas.width, self.canvas.height) if self.canvas else self.size

    def keyframe_image(self, keyframe: PlannedKeyframe) -> np.ndarray:
        """The keyframe as an RGB array of the clip's size and orientation (resized if its aspect matches)."""
        return load_still(
            keyframe.image, self.video, self.notices, what=f"keyframe at {keyframe.at.describe()}"
        )


def resolve_time(at: TimePoint, video: VideoInfo, what: str) -> int:
    """A time point as a frame index, or a SpecError saying where the clip ends."""
    count = video.frame_count
    if at.frame is not None:
        if at.frame >= count:
            raise SpecError(f"{what} is at frame {at.frame} but the clip has {count} frames (0..{count - 1})")
        return at.frame
    if at.fraction is not None:
        return frame_at_fraction(at.fraction, count)
    assert at.seconds is not None
    if at.seconds >= video.duration:
        raise SpecError(f"{what} is at {at.seconds:g} s but the clip lasts {float(video.duration):.3f} s")
    if video.vfr and video.pts:
        target = video.pts[0] + at.seconds / float(video.time_base)
        return max(0, bisect.bisect_right(video.pts, target) - 1)
    return frame_at_seconds(at.seconds, video.fps, count)


def load_still(
    path: Path, video: VideoInfo, notices: list[str] | None = None, what: str = "image"
) -> np.ndarray:
    """Load an edited still to match the clip: RGB uint8, storage orientation, the clip's size.

    A still painted on the displayed (rotated) frame is turned back; one of another size but the same
    aspect ratio is resized with a notice; another aspect ratio is refused.
    """
    image = read_image(path, what)
    h, w = image.shape[:2]
    if video.rotation and (w, h) == video.display_size and (w, h) != (video.width, video.height):
        image = np.ascontiguousarray(np.rot90(image, k=-(video.rotation // 90)))
        h, w = image.shape[:2]
    if (w, h) != (video.width, video.height):
        aspect, clip_aspect = w / h, video.width / video.height
        if abs(aspect / clip_aspect - 1) > ASPECT_TOLERANCE:
            raise SpecError(
                f"{what} ({path.name}) is {w}x{h} but the clip is {video.width}x{video.height}: "
                "the aspect ratio differs, so it cannot be resized to fit"
            )
        image = np.asarray(
            Image.fromarray(image).resize((video.width, video.height), Image.Resampling.LANCZOS)
        )
        if notices is not None:
            notices.append(f"{what} ({path.name}) was {w}x{h}; resized to {video.width}x{video.height}")
    return image


def read_image(path: Path, what: str = "image") -> np.ndarray:
    """An image file as an RGB uint8 array, or a SpecError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what}: {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise SpecError(f"{what}: {path.name} is not a readable image ({exc})") from None


def plan_transform(source: str | os.PathLike[str] | MediaInfo, spec: TransformSpec) -> TransformPlan:
    """Bind ``spec`` to the source clip, checking everything that can be checked before work starts."""
    info = source if isinstance(source, MediaInfo) else probe(source)
    video = info.require_video()
    problems: list[str] = []
    notices: list[str] = []

    def collect(fn, *args):
        try:
            return fn(*args)
        except (SpecError, MediaError) as exc:
            problems.extend(getattr(exc, "problems", [str(exc)]))
            return None

    keyframes = _place_keyframes(spec.keyframes, video, "keyframe", problems)
    relight_keyframes: list[PlannedKeyframe] = []
    for op in spec.operations:
        if isinstance(op, RelightOp):
            relight_keyframes = _place_keyframes(op.keyframes, video, "graded keyframe", problems)
            for key in relight_keyframes:
                collect(load_still, key.image, video, notices, f"graded keyframe at {key.at.describe()}")
        elif isinstance(op, RestyleOp):
            if op.reference is not None:
                collect(read_image, op.reference, "restyle reference")
            if op.look is None and op.reference is None and not spec.keyframes:
                problems.append("restyle needs keyframes, a look preset or a reference image")
        elif isinstance(op, SwapOp):
            collect(read_image, op.image, "swap image")
            if op.corners is not None:
                _check_points(op.corners, video, "swap corners", problems, notices, clip=False)
            elif op.track_file is not None and not op.track_file.is_file():
                problems.append(f"swap track file {op.track_file} does not exist")
            collect(resolve_time, op.at, video, "swap reference frame")
        elif isinstance(op, LocalizeOp):
            if op.table is not None and not op.table.is_file():
                problems.append(f"translation table {op.table} does not exist")
            for market, sub in op.subtitles.items():
                if not Path(sub).is_file():
                    problems.append(f"subtitles for market {market!r}: {sub} does not exist")
    for key in keyframes:
        collect(load_still, key.image, video, notices, f"keyframe at {key.at.describe()}")
    for lock in spec.locks:
        _check_lock(lock, video, problems, notices)
    for ref in spec.references:
        collect(read_image, ref.image, f"{ref.role} reference")
    if problems:
        raise SpecError(problems)
    return TransformPlan(
        spec=spec,
        source=info,
        video=video,
        keyframes=keyframes,
        relight_keyframes=relight_keyframes,
        strength=_strength(spec),
        notices=notices,
        canvas=reframe_canvas(video.width, video.height, spec.reframe.aspect, spec.reframe.anchor)
        if spec.reframe
        else None,
    )


def _place_keyframes(
    keys: list[Keyframe] | list[GradedKeyframe], video: VideoInfo, what: str, problems: list[str]
) -> list[PlannedKeyframe]:
    placed: dict[int, PlannedKeyframe] = {}
    for key in keys:
        try:
            index = resolve_time(key.at, video, f"{what} {key.image.name}")
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        if index in placed:
            problems.append(
                f"{what}s {placed[index].image.name} and {key.image.name} both land on frame {index}"
            )
            continue
        placed[index] = PlannedKeyframe(index=index, image=key.image, at=key.at)
    return [placed[i] for i in sorted(placed)]


def _check_points(
    points, video: VideoInfo, what: str, problems: list[str], notices: list[str], clip: bool
) -> None:
    w, h = video.width, video.height
    outside = [(x, y) for x, y in points if not (0 <= x <= w and 0 <= y <= h)]
    if len(outside) == len(points):
        problems.append(f"{what} lie entirely outside the {w}x{h} frame")
    elif outside and clip:
        notices.append(f"{what}: {len(outside)} point(s) outside the {w}x{h} frame were clipped to its edge")
    elif outside:
        notices.append(f"{what}: {len(outside)} point(s) lie outside the {w}x{h} frame")


def _check_lock(lock, video: VideoInfo, problems: list[str], notices: list[str]) -> None:
    w, h = video.width, video.height
    if isinstance(lock, RectLock):
        if lock.x >= w or lock.y >= h:
            problems.append(f"rect lock at ({lock.x}, {lock.y}) starts outside the {w}x{h} frame")
        elif lock.x + lock.width > w or lock.y + lock.height > h:
            notices.append(
                f"rect lock {lock.x},{lock.y},{lock.width},{lock.height} was clipped to the {w}x{h} frame"
            )
    elif isinstance(lock, PolygonLock):
        _check_points(lock.points, video, "polygon lock points", problems, notices, clip=True)
    elif isinstance(lock, MaskVideoLock):
        _check_mask(lock.path, video, problems)
    elif isinstance(lock, TrackLock):
        if lock.track_file is not None and not lock.track_file.is_file():
            problems.append(f"track file {lock.track_file} does not exist")
        if lock.box is not None:
            x, y, bw, bh = lock.box
            if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
                problems.append(f"track box {lock.box} lies outside the {w}x{h} frame")


def _check_mask(path: Path, video: VideoInfo, problems: list[str]) -> None:
    """A lock mask is a still or a clip the size of the source; a clip must cover every frame."""
    if not path.is_file():
        problems.append(f"lock mask {path} does not exist")
        return
    try:
        with Image.open(path) as img:
            size = img.size
        count = None
    except (UnidentifiedImageError, OSError):
        try:
            mask_info = probe(path)
            mask_video = mask_info.require_video()
        except MediaError as exc:
            problems.append(f"lock mask {path.name}: {exc}")
            return
        size, count = (mask_video.width, mask_video.height), mask_video.frame_count
    if size != (video.width, video.height):
        problems.append(
            f"lock mask {path.name} is {size[0]}x{size[1]} but the clip is {video.width}x{video.height}"
        )
    if count is not None and count < video.frame_count:
        problems.append(f"lock mask {path.name} has {count} frames but the clip has {video.frame_count}")


def _strength(spec: TransformSpec) -> float:
    """``auto`` picks by the job: keyframes and relights stay close to the source, a prompt-only restyle may move."""
    if spec.strength != "auto":
        return STRENGTH_LEVELS[spec.strength]
    if spec.keyframes or any(isinstance(op, (RelightOp, SwapOp, LocalizeOp)) for op in spec.operations):
        return STRENGTH_LEVELS["adhere_3"]
    if spec.prompt:
        return STRENGTH_LEVELS["flex_2"]
    return STRENGTH_LEVELS["adhere_1"]
