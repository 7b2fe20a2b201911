"""Tracked regions: the track file (a quad's corners on every frame of a clip), reading and writing it, the
corners a user gives, running the tracker (:mod:`shotcraft.signals.tracker`) over a whole clip, and the
track lock's masks.

The result is a :class:`Track`, saved as JSON the user can read and edit: set a frame's ``corners`` and its
``status`` to ``"corrected"``, and :func:`retrack` runs the tracker again with those frames as anchors (the
tracker restarts from each corrected frame).

**Orientation.** The tracker works on frames as decoded (*storage* orientation), so a :class:`Track` in
memory is in storage orientation. A track *file* is in *display* orientation (as a player shows the clip,
after its rotation tag), the frame the user reads corners off and corrects them on; it records the rotation
it was made for, and :func:`load_track` turns it back. Version-1 files, made before that, hold storage
coordinates and say nothing of orientation; they still load. Corners are in pixel-centre coordinates
(OpenCV's), turned as :func:`shotcraft.media.orientation.to_storage_pixels` turns polygons.

>>> import numpy as np
>>> quad = corners_from_box(10, 20, 100, 50)
>>> quad.tolist()
[[10.0, 20.0], [110.0, 20.0], [110.0, 70.0], [10.0, 70.0]]
>>> track = Track(width=320, height=240, frame_count=2, reference=0, frames=[
...     TrackFrame(frame=0, corners=quad.tolist(), confidence=1.0, status="reference"),
...     TrackFrame(frame=1, corners=None, confidence=0.0, status="lost")])
>>> track.corners_at(1) is None, track.tracked_count
(True, 1)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shotcraft.media.orientation import quarter_turns, turn_pixels
from shotcraft.progress import Progress
from shotcraft.signals.flow import to_grey
from shotcraft.signals.shapes import polygon_mask
from shotcraft.signals.tracker import PlanarTracker, TrackerSettings, visible_fraction
from shotcraft.spec import SpecError, TimePoint, TrackLock

if TYPE_CHECKING:
    from shotcraft.media.probe import VideoInfo
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

#: Progress callback (stage, done, total), the same shape the engines take.

TRACK_VERSION = 2
#: Version 1 files hold storage-orientation corners (and no ``orientation`` field); they still load.
READABLE_VERSIONS = (1, 2)
Orientation = Literal["display", "storage"]
Status = Literal["reference", "corrected", "tracked", "lost", "out_of_frame"]
#: Frames whose corners the user (or the reference) fixed: the tracker restarts from each of them.
ANCHOR_STATUSES = ("reference", "corrected")

# ---------------------------------------------------------------------------------------------------------
# The track file


class TrackFrame(BaseModel):
    """Where the region is on one frame; ``corners`` is None when it is lost or out of frame."""

    model_config = ConfigDict(extra="forbid")

    frame: int = Field(ge=0)
    corners: list[tuple[float, float]] | None = Field(default=None, min_length=4, max_length=4)
    confidence: float = Field(ge=0, le=1)
    status: Status

    @field_validator("corners")
    @classmethod
    def _finite(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is not None and not np.isfinite(np.asarray(value)).all():
            raise ValueError("corners must be finite numbers")
        return value


class Track(BaseModel):
    """A region's four corners on every frame of one clip (clockwise from top-left on the reference).

    ``width``, ``height`` and every frame's corners are on the frame ``orientation`` names: ``"storage"``
    (as decoded, what the tracker, locks and swaps work on) or ``"display"`` (as a player shows the clip,
    what track files hold). ``rotation`` is the clip's rotation tag (counter-clockwise degrees) the track
    was made for.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = TRACK_VERSION
    source: str = ""
    orientation: Orientation = "storage"
    rotation: int = 0
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    frame_count: int = Field(gt=0)
    reference: int = Field(ge=0)
    frames: list[TrackFrame]

    @field_validator("rotation")
    @classmethod
    def _quarter_turn(cls, value: int) -> int:
        if value not in (0, 90, 180, 270):
            raise ValueError("rotation must be 0, 90, 180 or 270 (counter-clockwise degrees)")
        return value

    def oriented(self, orientation: Orientation) -> Track:
        """This track with its size and corners on the displayed or the stored frame.

        >>> track = Track(rotation=90, width=96, height=64, frame_count=1, reference=0, frames=[
        ...     TrackFrame(frame=0, corners=[(0, 0), (95, 0), (95, 63), (0, 63)], confidence=1, status="reference")])
        >>> shown = track.oriented("display")  # stored top-left is shown bottom-left: turned counter-clockwise
        >>> (shown.width, shown.height), shown.frames[0].corners
        ((64, 96), [(0.0, 95.0), (0.0, 0.0), (63.0, 0.0), (63.0, 95.0)])
        >>> shown.oriented("storage") == track
        True
        """
        if orientation == self.orientation:
            return self
        k = quarter_turns(self.rotation)
        if k == 0:
            return self.model_copy(update={"orientation": orientation})
        width, height = (self.height, self.width) if k % 2 else (self.width, self.height)
        # turn_pixels takes displayed points to the stored frame; the way back is the opposite turn.
        turns = k if orientation == "storage" else -k
        frames = [
            f
            if f.corners is None
            else f.model_copy(update={"corners": _as_list(turn_pixels(f.corners, turns % 4, width, height))})
            for f in self.frames
        ]
        return self.model_copy(
            update={"orientation": orientation, "width": width, "height": height, "frames": frames}
        )

    def corners_at(self, index: int) -> np.ndarray | None:
        """The region's corners on frame ``index`` as a ``(4, 2)`` float array, or None where not tracked."""
        corners = self.frames[index].corners
        return None if corners is None else np.asarray(corners, np.float64)

    @property
    def tracked_count(self) -> int:
        """Frames where the region has corners (reference and corrections included)."""
        return sum(f.corners is not None for f in self.frames)

    def anchors(self) -> dict[int, np.ndarray]:
        """The frames whose corners are given, not tracked: the reference and every correction."""
        return {
            f.frame: np.asarray(f.corners, np.float64)
            for f in self.frames
            if f.status in ANCHOR_STATUSES and f.corners is not None
        }

    def lost_runs(self) -> list[tuple[int, int, str]]:
        """Runs of frames without corners as ``(first, last, status)``, for messages to the user."""
        runs: list[tuple[int, int, str]] = []
        for f in self.frames:
            if f.corners is not None:
                continue
            if runs and runs[-1][1] == f.frame - 1 and runs[-1][2] == f.status:
                runs[-1] = (runs[-1][0], f.frame, f.status)
            else:
                runs.append((f.frame, f.frame, f.status))
        return runs

    def save(self, path: str | Path) -> Path:
        """Write the track as JSON (one frame per line, so it diffs and edits well), in display orientation
        so its corners match the frame the user sees."""
        path = Path(path)
        shown = self.oriented("display").model_copy(update={"version": TRACK_VERSION})
        head = shown.model_dump(mode="json", exclude={"frames"})
        lines = [json.dumps(f.model_dump(mode="json"), separators=(", ", ": ")) for f in shown.frames]
        body = (
            json.dumps(head, indent=2)[:-2] + ',\n  "frames": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
        )
        from shotcraft.media.output_path import commit, temp_name

        tmp = temp_name(path)
        try:
            tmp.write_text(body, encoding="utf-8")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        commit([(tmp, path)])
        return path


def load_track(path: str | Path, video: VideoInfo | None = None) -> Track:
    """Read a track file, checking it is whole and (given the clip's ``video``) made for this clip.

    The track comes back in storage orientation, whichever orientation the file holds.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"track file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"track file {path.name} is not readable JSON: {exc}") from None
    try:
        track = Track.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise SpecError(f"track file {path.name}: {where}: {err.get('msg')}") from None
    if track.version not in READABLE_VERSIONS:
        raise SpecError(
            f"track file {path.name} has version {track.version}; this shotcraft reads "
            f"{' and '.join(map(str, READABLE_VERSIONS))}"
        )
    if len(track.frames) != track.frame_count or any(f.frame != i for i, f in enumerate(track.frames)):
        raise SpecError(
            f"track file {path.name} must list frames 0..{track.frame_count - 1} once each, in order"
        )
    if track.reference >= track.frame_count or track.frames[track.reference].corners is None:
        raise SpecError(f"track file {path.name}: the reference frame {track.reference} has no corners")
    if video is not None:
        _check_made_for(track, video, path.name)
        if track.orientation == "storage":
            # Stored coordinates hold whatever the tag says; record the clip's, so a re-save turns right.
            track = track.model_copy(update={"rotation": video.rotation})
    return track.oriented("storage")


def _check_made_for(track: Track, video: VideoInfo, name: str) -> None:
    """The file's size, frame count and (for a display-orientation file) rotation are the clip's."""
    shown = track.orientation == "display"
    width, height = video.display_size if shown else (video.width, video.height)
    if (track.width, track.height, track.frame_count) != (width, height, video.frame_count):
        raise SpecError(
            f"track file {name} was made for a {track.width}x{track.height} clip of {track.frame_count} "
            f"frames; this clip is {width}x{height} with {video.frame_count} frames"
        )
    if shown and track.rotation != video.rotation:
        raise SpecError(
            f"track file {name} was made for the clip shown rotated {track.rotation}°, but this clip is "
            f"rotated {video.rotation}°: its corners would land elsewhere"
        )


def storage_corners(corners: np.ndarray, video: VideoInfo) -> np.ndarray:
    """Corners given on the displayed frame (pixel centres, as a player shows the clip) on the stored frame
    the tracker reads. A region mostly outside the displayed frame is refused here, in the user's terms.

    >>> from fractions import Fraction
    >>> from shotcraft.media.probe import VideoInfo
    >>> video = VideoInfo(0, "h264", 96, 64, Fraction(25), Fraction(1, 25), 1, Fraction(1, 25), "yuv420p", 8,
    ...                   rotation=90)
    >>> storage_corners(corners_from_box(0, 0, 10, 20), video).tolist()  # shown top-left is stored top-right
    [[95.0, 0.0], [95.0, 10.0], [75.0, 10.0], [75.0, 0.0]]
    """
    from shotcraft.media.orientation import to_storage_pixels

    corners = np.asarray(corners, np.float64).reshape(4, 2)
    width, height = video.display_size
    if visible_fraction(corners, width, height) < 0.5:
        shown = f" (as shown, rotated {video.rotation}°)" if video.rotation else ""
        raise SpecError(
            f"the region {np.round(corners).astype(int).tolist()} lies mostly outside the {width}x{height} "
            f"frame{shown}: give corners on the picture"
        )
    return np.asarray(to_storage_pixels(corners, video), np.float64)


def corners_from_box(x: float, y: float, width: float, height: float) -> np.ndarray:
    """A box as four corners, clockwise from top-left."""
    return np.array([[x, y], [x + width, y], [x + width, y + height], [x, y + height]], np.float64)


def parse_corners(text: str) -> np.ndarray:
    """``x1,y1,x2,y2,x3,y3,x4,y4`` as a ``(4, 2)`` array (a SpecError otherwise)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SpecError(f"corners {text!r} should be eight numbers: x1,y1,x2,y2,x3,y3,x4,y4") from None
    if len(values) != 8:
        raise SpecError(f"corners {text!r} should be eight numbers: x1,y1,x2,y2,x3,y3,x4,y4")
    return np.asarray(values, np.float64).reshape(4, 2)


# ---------------------------------------------------------------------------------------------------------
# Whole-clip tracking


def track_region(
    reader: VideoReader,
    corners: np.ndarray,
    at: int = 0,
    *,
    corrections: dict[int, np.ndarray] | None = None,
    settings: TrackerSettings | None = None,
    progress: Progress | None = None,
) -> Track:
    """Track the quad ``corners`` (given on frame ``at``) through the whole clip, forwards then backwards.

    ``corrections`` maps frame indices to corners the user fixed; the tracker restarts from each. Raises
    :class:`SpecError` when the region is outside the frame, too plain to track, or lost on every frame.
    """
    video = reader.video
    count = video.frame_count
    if not 0 <= at < count:
        raise SpecError(f"the track's reference frame {at} is outside the clip (frames 0..{count - 1})")
    corrections = {int(k): np.asarray(v, np.float64).reshape(4, 2) for k, v in (corrections or {}).items()}
    for index in corrections:
        if not 0 <= index < count:
            raise SpecError(f"a correction is on frame {index} but the clip has frames 0..{count - 1}")
    corrections.pop(at, None)
    reference_frame = reader.frame_at(at)
    tracker = PlanarTracker(reference_frame, corners, settings)
    chunk = tracker.settings.chunk
    steps: list[TrackFrame | None] = [None] * count
    steps[at] = TrackFrame(
        frame=at, corners=_as_list(tracker.reference.corners), confidence=1.0, status="reference"
    )
    done = 0

    def run(frames: Iterable[tuple[int, np.ndarray]]) -> None:
        nonlocal done
        for index, frame in frames:
            if index in corrections:
                tracker.start(frame, corrections[index])
                steps[index] = TrackFrame(
                    frame=index, corners=_as_list(corrections[index]), confidence=1.0, status="corrected"
                )
            else:
                step = tracker.follow(frame)
                corners_now = None if step.homography is None else _as_list(tracker.corners(step.homography))
                steps[index] = TrackFrame(
                    frame=index, corners=corners_now, confidence=round(step.confidence, 4), status=step.status
                )
            done += 1
            if progress is not None:
                progress("track", done, count - 1)

    tracker.start(reference_frame, tracker.reference.corners)
    run(enumerate(reader.frames(at + 1), start=at + 1))
    tracker.start(reference_frame, tracker.reference.corners)
    run(_backwards(reader, at, chunk))
    track = Track(
        source=reader.path.name,
        rotation=video.rotation,
        width=video.width,
        height=video.height,
        frame_count=count,
        reference=at,
        frames=[s for s in steps if s is not None],
    )
    if count > 1 and not any(f.status == "tracked" for f in track.frames):
        raise SpecError(
            f"the region was lost on every frame but the ones given (reference frame {at}): it may be too plain, "
            "too small, or change too fast; try a larger region, another reference frame, or add corrections"
        )
    return track


def retrack(reader: VideoReader, track: Track, *, settings: TrackerSettings | None = None,
            progress: Progress | None = None) -> Track:  # fmt: skip
    """Run the tracker again from a (user-corrected) track: its reference and every ``corrected`` frame."""
    track = track.oriented("storage")
    if (track.width, track.height, track.frame_count) != (
        reader.video.width,
        reader.video.height,
        reader.video.frame_count,
    ):
        raise SpecError(
            f"the track was made for a {track.width}x{track.height} clip of {track.frame_count} frames; "
            f"{reader.path.name} is {reader.video.width}x{reader.video.height} with {reader.video.frame_count}"
        )
    anchors = track.anchors()
    reference = anchors.pop(track.reference)
    return track_region(
        reader, reference, track.reference, corrections=anchors, settings=settings, progress=progress
    )


def _backwards(reader: VideoReader, at: int, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """Frames ``at - 1`` down to 0, decoded forwards one chunk at a time (memory: one chunk)."""
    end = at
    while end > 0:
        start = max(0, end - chunk)
        frames = [to_grey(f) for f in reader.frames(start, end)]
        for offset in range(len(frames) - 1, -1, -1):
            yield start + offset, frames[offset]
        end = start


def _as_list(corners: np.ndarray) -> list[tuple[float, float]]:
    return [(round(float(x), 3), round(float(y), 3)) for x, y in np.asarray(corners).reshape(4, 2)]


# ---------------------------------------------------------------------------------------------------------
# Track locks


def track_lock_masks(plan: TransformPlan, lock: TrackLock, reader: VideoReader) -> Iterator[np.ndarray]:
    """One hard mask per frame for a track lock; frames where the region is lost lock nothing."""
    from shotcraft.plan import resolve_time

    video = plan.video
    if lock.track_file is not None:
        track = load_track(lock.track_file, video)
    else:
        assert lock.box is not None  # the spec's validator guarantees one of the two
        at = resolve_time(lock.at or TimePoint(frame=0), video, "track lock reference")
        track = track_region(reader, corners_from_box(*lock.box), at)
    runs = track.lost_runs()
    if runs:
        missing = sum(last - first + 1 for first, last, _ in runs)
        plan.notices.append(
            f"track lock: the region is not visible on {missing} frame(s); nothing is locked there"
        )
    empty = np.zeros((video.height, video.width), np.float32)
    for index in range(video.frame_count):
        corners = track.corners_at(index)
        yield (
            empty if corners is None else polygon_mask(video.width, video.height, [tuple(p) for p in corners])
        )
