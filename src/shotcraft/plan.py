"""A spec bound to one probed clip: keyframes as frame indices, file inputs checked, every problem reported.

All validation that needs the source happens here, before any heavy work starts, and all problems are
reported together (one sentence each) in a :class:`~shotcraft.spec.SpecError`.

**Orientation.** Every coordinate and image a user gives is taken in *display* orientation and turned to
*storage* orientation once (:mod:`shotcraft.media.orientation`): :attr:`TransformPlan.locks` and
:attr:`TransformPlan.operations` are what engines and finishing read, while :attr:`TransformPlan.spec`
stays as the user wrote it (the sidecar records that). Stills are read by :mod:`shotcraft.media.stills`.

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
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from shotcraft.errors import MediaError
from shotcraft.media.orientation import box_to_storage, to_storage_pixels, to_storage_rect, turn_points
from shotcraft.media.probe import MediaInfo, VideoInfo, probe
from shotcraft.media.stills import load_still, read_image
from shotcraft.media.timing import frame_at_fraction, frame_at_seconds
from shotcraft.spec import (
    DEFAULT_ADHERENCE,
    STRENGTH_LEVELS,
    GradedKeyframe,
    Keyframe,
    LocalizeOp,
    Lock,
    MaskVideoLock,
    Operation,
    OutputSpec,
    PeopleLock,
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

#: The largest frame (source or output, in pixels) a job may have unless ``SHOTCRAFT_MAX_PIXELS`` says
#: otherwise: 8K UHD (7680x4320). Engines hold a few float copies of a frame at once, so memory grows with
#: the frame's size (an 8K relight peaks at a few GB); a bigger frame is refused before any work starts.
DEFAULT_MAX_PIXELS = 7680 * 4320
MAX_PIXELS_ENV = "SHOTCRAFT_MAX_PIXELS"

#: Containers that hold one still image rather than a video (what ffmpeg calls a PNG named .mp4).
IMAGE_CONTAINERS = {
    "png_pipe": "PNG", "jpeg_pipe": "JPEG", "webp_pipe": "WebP", "bmp_pipe": "BMP", "tiff_pipe": "TIFF",
    "gif": "GIF", "image2": "image",
}  # fmt: skip

#: The file names each output format can be written to (a PNG sequence is a folder, no video suffix).
FORMAT_SUFFIXES = {
    "mp4_h264": (".mp4", ".m4v", ".mov", ".mkv"),
    "mp4_h265": (".mp4", ".m4v", ".mov", ".mkv"),
    "mov_prores": (".mov", ".mkv"),
}


def max_pixels() -> int:
    """The pixel budget per frame: ``$SHOTCRAFT_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        raise SpecError(f"{MAX_PIXELS_ENV}={text!r} is not a number of pixels") from None
    return value if value > 0 else DEFAULT_MAX_PIXELS


def check_pixel_budget(width: int, height: int, what: str) -> None:
    """Refuse a frame above the pixel budget, saying the limit and how to raise it."""
    limit = max_pixels()
    if width * height > limit:
        raise SpecError(
            f"{what} is {width}x{height} ({width * height / 1e6:.1f} megapixels a frame), over the limit of "
            f"{limit / 1e6:.1f} megapixels; set {MAX_PIXELS_ENV}={width * height} to allow it (memory grows "
            "with the frame size)"
        )


def check_output_format(path: str | os.PathLike[str], output: OutputSpec) -> None:
    """Refuse an output format the output's name cannot hold (ProRes in .mp4, PNG frames named .mp4)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if output.format == "png_sequence":
        if suffix in _VIDEO_SUFFIXES:
            raise SpecError(
                f"output format png_sequence writes a folder of frames, not {path.name}: "
                "give a folder name without a video suffix"
            )
        return
    allowed = FORMAT_SUFFIXES[output.format]
    if suffix not in allowed:
        hint = "or a folder name with --format png_sequence" if not suffix else ""
        raise SpecError(
            f"output format {output.format} cannot be written to {path.name or path}: use a "
            f"{', '.join(allowed)} name {hint}".rstrip()
        )


_VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"}


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


def _lock_to_storage(lock: Lock, video: VideoInfo) -> Lock:
    if isinstance(lock, RectLock):
        x, y, w, h = to_storage_rect(lock.x, lock.y, lock.width, lock.height, video)
        return lock.model_copy(update={"x": x, "y": y, "width": w, "height": h})
    if isinstance(lock, PolygonLock):
        return lock.model_copy(update={"points": to_storage_pixels(lock.points, video)})
    if isinstance(lock, TrackLock) and lock.box is not None:
        return lock.model_copy(update={"box": box_to_storage(lock.box, video)})
    # Mask stills and clips are turned as they are read; people and faces are found on the frames.
    return lock


def _operation_to_storage(op: Operation, video: VideoInfo) -> Operation:
    if isinstance(op, SwapOp) and op.corners is not None:
        # The swap draws its corners in pixel-centre coordinates (OpenCV's), as polygons are.
        return op.model_copy(update={"corners": to_storage_pixels(op.corners, video)})
    # A relight's light direction is turned by the relight stage with to_storage_azimuth, because the
    # presets' own lights (engine knowledge) are meant as displayed too.
    return op


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


def storage_canvas(video: VideoInfo, aspect: str, anchor: str = "center") -> Canvas:
    """The reframe canvas in storage orientation for an ``aspect`` and ``anchor`` meant as displayed.

    >>> from fractions import Fraction
    >>> video = VideoInfo(0, "h264", 640, 360, Fraction(25), Fraction(1, 25), 1, Fraction(1, 25), "yuv420p", 8,
    ...                   rotation=90)
    >>> storage_canvas(video, "16:9", "right")  # shown 360x640; the shown right is the stored bottom
    Canvas(width=640, height=1138, x=0, y=778)
    """
    k = video.quarter_turns
    dw, dh = video.display_size
    shown = reframe_canvas(dw, dh, aspect, anchor)
    cw, ch = (shown.height, shown.width) if k % 2 else (shown.width, shown.height)
    corners = turn_points([(shown.x, shown.y), (shown.x + dw, shown.y + dh)], k, cw, ch)
    x, y = (round(min(a, b)) for a, b in zip(*corners, strict=True))
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

    @cached_property
    def locks(self) -> list[Lock]:
        """The spec's locks in storage orientation (the user gives them as displayed; see the module doc)."""
        return [_lock_to_storage(lock, self.video) for lock in self.spec.locks]

    @cached_property
    def operations(self) -> list[Operation]:
        """The spec's operations with their coordinates (swap corners) in storage orientation."""
        return [_operation_to_storage(op, self.video) for op in self.spec.operations]

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


def plan_transform(source: str | os.PathLike[str] | MediaInfo, spec: TransformSpec) -> TransformPlan:
    """Bind ``spec`` to the source clip, checking everything that can be checked before work starts."""
    info = source if isinstance(source, MediaInfo) else probe(source)
    video = info.require_video()
    problems: list[str] = []
    notices: list[str] = []
    if info.container in IMAGE_CONTAINERS:
        notices.append(
            f"{info.path.name} holds one {IMAGE_CONTAINERS[info.container]} image, not a video: "
            f"read as a {video.frame_count}-frame clip"
        )
    canvas = storage_canvas(video, spec.reframe.aspect, spec.reframe.anchor) if spec.reframe else None
    check_pixel_budget(video.width, video.height, f"{info.path.name}")
    if canvas is not None:
        check_pixel_budget(
            canvas.width, canvas.height, f"the {spec.reframe.aspect} reframe of {info.path.name}"
        )

    def collect(fn, *args):
        try:
            return fn(*args)
        except (SpecError, MediaError) as exc:
            problems.extend(getattr(exc, "problems", [str(exc)]))
            return None

    keyframes = _place_keyframes(spec.keyframes, video, "keyframe", problems)
    relight_keyframes: list[PlannedKeyframe] = []
    edited_frame_swap = False
    for op in spec.operations:
        if isinstance(op, RelightOp):
            # Every relight operation's graded keyframes are kept; each relight stage picks its own.
            placed = _place_keyframes(op.keyframes, video, "graded keyframe", problems)
            for key in placed:
                collect(load_still, key.image, video, notices, f"graded keyframe at {key.at.describe()}")
            relight_keyframes.extend(placed)
        elif isinstance(op, RestyleOp):
            if op.reference is not None:
                collect(read_image, op.reference, "restyle reference")
            if op.look is None and op.reference is None and not spec.keyframes:
                problems.append("restyle needs keyframes, a look preset or a reference image")
        elif isinstance(op, SwapOp):
            image = collect(read_image, op.image, "swap image")
            edited_frame_swap |= image is not None and is_edited_frame(image, video)
            if op.corners is not None:
                _check_points(op.corners, video, "swap corners", problems, notices, clip=False)
            elif op.track_file is not None and not op.track_file.is_file():
                problems.append(f"swap track file {op.track_file} does not exist")
            collect(resolve_time, op.at, video, "swap reference frame")
            if isinstance(op.occluders, Path):
                _check_mask(op.occluders, video, problems, notices, "swap occluder mask")
        elif isinstance(op, LocalizeOp):
            if op.table is not None and not op.table.is_file():
                problems.append(f"translation table {op.table} does not exist")
            for market, sub in op.subtitles.items():
                if not Path(sub).is_file():
                    problems.append(f"subtitles for market {market!r}: {sub} does not exist")
    unused = _unused_adherence(spec, edited_frame_swap)
    if unused:
        notices.append(unused)
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
        canvas=canvas,
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
    w, h = video.display_size
    outside = [(x, y) for x, y in points if not (0 <= x <= w and 0 <= y <= h)]
    if len(outside) == len(points):
        problems.append(f"{what} lie entirely outside the {w}x{h} frame")
    elif outside and clip:
        notices.append(f"{what}: {len(outside)} point(s) outside the {w}x{h} frame were clipped to its edge")
    elif outside:
        notices.append(f"{what}: {len(outside)} point(s) lie outside the {w}x{h} frame")


def _check_lock(lock, video: VideoInfo, problems: list[str], notices: list[str]) -> None:
    w, h = video.display_size
    if isinstance(lock, RectLock):
        if lock.x >= w or lock.y >= h:
            problems.append(f"rect lock at ({lock.x}, {lock.y}) starts outside the {w}x{h} frame")
        elif lock.x + lock.width > w or lock.y + lock.height > h:
            notices.append(
                f"rect lock {lock.x},{lock.y},{lock.width},{lock.height} was clipped to the {w}x{h} frame"
            )
    elif isinstance(lock, PeopleLock):
        from shotcraft.signals.mediapipe_models import pose_available  # cv2: only when needed
        from shotcraft.signals.pose import POSE_FALLBACK_NOTICE

        if not pose_available():
            notices.append(POSE_FALLBACK_NOTICE)
    elif isinstance(lock, PolygonLock):
        _check_points(lock.points, video, "polygon lock points", problems, notices, clip=True)
    elif isinstance(lock, MaskVideoLock):
        _check_mask(lock.path, video, problems, notices)
    elif isinstance(lock, TrackLock):
        if lock.track_file is not None and not lock.track_file.is_file():
            problems.append(f"track file {lock.track_file} does not exist")
        if lock.box is not None:
            x, y, bw, bh = lock.box
            if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
                problems.append(f"track box {lock.box} lies outside the {w}x{h} frame")


def _check_mask(
    path: Path, video: VideoInfo, problems: list[str], notices: list[str], what: str = "lock mask"
) -> None:
    """A mask is a still or a clip the size of the displayed frame; a clip must cover every frame."""
    if not path.is_file():
        problems.append(f"{what} {path} does not exist")
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
            problems.append(f"{what} {path.name}: {exc}")
            return
        # A mask clip is read as it is shown, so its own rotation tag is applied first.
        size, count = mask_video.display_size, mask_video.frame_count
    shown, stored = video.display_size, (video.width, video.height)
    if size == stored and size != shown:
        notices.append(
            f"{what} {path.name} is {size[0]}x{size[1]}, the stored frame's size: taken as stored, not as "
            f"shown ({shown[0]}x{shown[1]}, rotated {video.rotation}°)"
        )
    elif size != shown:
        as_shown = f" as shown (rotated {video.rotation}°)" if video.rotation else ""
        problems.append(
            f"{what} {path.name} is {size[0]}x{size[1]} but the clip is {shown[0]}x{shown[1]}{as_shown}"
        )
    if count is not None and count < video.frame_count:
        problems.append(f"{what} {path.name} has {count} frames but the clip has {video.frame_count}")


def is_edited_frame(image: np.ndarray, video: VideoInfo) -> bool:
    """Whether a swap image is a whole edited frame of the clip (its size, as stored or as shown) rather
    than a picture for a planar region: the swap then carries it through the clip by restyle's keyframe
    propagation, which motion and structure adherence steer."""
    return image.shape[1::-1] in ((video.width, video.height), video.display_size)


def _unused_adherence(spec: TransformSpec, edited_frame_swap: bool) -> str | None:
    """A notice when motion or structure adherence is set but nothing in the job reads it.

    They steer the restyle, keyframe propagation (the classic engine's, and so a swap by an edited frame)
    and the diffusion engine's re-noise level and control video; relight, a planar swap and localize do
    not use them. The diffusion engine runs no operations, so operations alone mean the classic engine.
    """
    ops = [op.op for op in spec.operations]
    if not ops or spec.keyframes or edited_frame_swap or "restyle" in ops:
        return None
    names = [
        f"{name} {value}"
        for name in ("motion_adherence", "structure_adherence")
        if (value := getattr(spec, name)) != DEFAULT_ADHERENCE
    ]
    if not names:
        return None
    jobs = [{"swap": "a planar swap"}.get(op, op) for op in dict.fromkeys(ops)]
    return (
        f"{' and '.join(names)} {'was' if len(names) == 1 else 'were'} not used: adherence steers restyle "
        f"and keyframe propagation (and a swap by a whole edited frame), not {' or '.join(jobs)}"
    )


def _strength(spec: TransformSpec) -> float:
    """``auto`` picks by the job: keyframes and relights stay close to the source, a prompt-only restyle may move."""
    if spec.strength != "auto":
        return STRENGTH_LEVELS[spec.strength]
    if spec.keyframes or any(isinstance(op, (RelightOp, SwapOp, LocalizeOp)) for op in spec.operations):
        return STRENGTH_LEVELS["adhere_3"]
    if spec.prompt:
        return STRENGTH_LEVELS["flex_2"]
    return STRENGTH_LEVELS["adhere_1"]
