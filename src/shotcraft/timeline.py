"""Timelines out and in, through OpenTimelineIO and its published adapters.

**Out** (:func:`sequence_timeline`): a sequence's takes and versions as a timeline an editor opens: one video
track per take, transform and market version, every clip referencing its file with the clip's exact rate
(``RationalTime`` at 30000/1001, not 29.97), the media's available range starting at its own start timecode
(or first timestamp) so a take lands on the same frames, keyframes as markers, and the spec, seed, engine and
lineage as clip metadata.

**In** (:func:`conform`): every clip a timeline uses is transformed (and/or localized) over the range it uses
plus handles, clamped at the media's ends; a new timeline points at the new media with identical cut points.

Formats by file name: ``.otio`` (OTIO JSON), ``.fcpxml`` (Final Cut Pro X), ``.xml`` (Final Cut Pro 7 /
Premiere / Resolve), ``.edl`` (CMX 3600: one video track, so every clip of the timeline goes on it in turn).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotcraft.engines.base import EngineOptions
from shotcraft.errors import EngineUnavailable, MediaError, SpecError
from shotcraft.media.output_path import check_folder, check_output, commit, sidecar_of, temp_name
from shotcraft.media.probe import MediaInfo, VideoInfo, probe
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import OutputSpec, TransformSpec, input_paths

if TYPE_CHECKING:
    import opentimelineio as otio

#: Timeline formats by file suffix, and the OpenTimelineIO adapter that reads and writes each.
ADAPTERS = {".otio": "otio_json", ".fcpxml": "fcpx_xml", ".xml": "fcp_xml", ".edl": "cmx_3600"}
#: Frames kept before and after each used range when conforming, so an editor can still trim.
DEFAULT_HANDLES = 12


def _otio() -> Any:
    try:
        import opentimelineio
    except ImportError:
        raise EngineUnavailable(
            "timelines need OpenTimelineIO and its adapters: pip install 'shotcraft[timeline]'"
        ) from None
    return opentimelineio


def _adapter(path: Path) -> str:
    adapter = ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        raise SpecError(f"{path.name}: a timeline is .otio, .fcpxml (FCP X), .xml (FCP 7) or .edl (CMX 3600)")
    return adapter


# ---------------------------------------------------------------------------------------------------------
# Media as timeline clips


def start_frame(info: MediaInfo) -> int:
    """Where a file's frames start, in frames at its rate: its start timecode when it carries one (the
    stream's or the container's ``timecode`` tag, drop-frame read as such), else its first timestamp."""
    otio = _otio()
    video = info.require_video()
    tag = _timecode_tag(info.path, video.index)
    if tag:
        with contextlib.suppress(ValueError):
            return round(otio.opentime.from_timecode(tag, float(video.fps)).value)
    first = video.pts[0] * video.time_base if video.pts else Fraction(0)
    return round(first * video.fps)


def _timecode_tag(path: Path, index: int) -> str | None:
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams[index]
        for where in (stream.metadata, container.metadata):
            if where.get("timecode"):
                return str(where["timecode"])
        for data in container.streams.data:  # QuickTime keeps it on its timecode track
            if data.metadata.get("timecode"):
                return str(data.metadata["timecode"])
    return None


def media_clip(
    path: Path, name: str, metadata: dict[str, Any], markers: list[tuple[int, str]] = ()
) -> otio.schema.Clip:
    """A clip showing the whole of ``path`` at its exact rate, with ``markers`` at frame indices."""
    otio = _otio()
    info = probe(path)
    video = info.require_video()
    rate = float(video.fps)
    start = start_frame(info)
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(video.frame_count, rate)
    )
    reference = otio.schema.ExternalReference(target_url=path.resolve().as_uri(), available_range=available)
    clip = otio.schema.Clip(name=name, media_reference=reference, source_range=available)
    clip.metadata["shotcraft"] = metadata
    for frame, label in markers:
        marked = otio.opentime.TimeRange(
            otio.opentime.RationalTime(start + frame, rate), otio.opentime.RationalTime(0, rate)
        )
        clip.markers.append(
            otio.schema.Marker(name=label, marked_range=marked, color=otio.schema.MarkerColor.RED)
        )
    return clip


def _keyframe_markers(spec: dict[str, Any], video: VideoInfo) -> list[tuple[int, str]]:
    """The frames a transform's keyframes (and graded relight keyframes) sit at, with their image names."""
    from shotcraft.plan import resolve_time

    try:
        parsed = TransformSpec.model_validate(spec)
    except ValueError:
        return []
    keys = [(k.at, k.image, "keyframe") for k in parsed.keyframes]
    keys += [
        (k.at, k.image, "graded keyframe")
        for op in parsed.operations
        if op.op == "relight"
        for k in op.keyframes
    ]
    markers = []
    for at, image, what in keys:
        with contextlib.suppress(SpecError):
            markers.append((resolve_time(at, video, what), f"{what} {Path(image).name}"))
    return markers


def take_clip(path: Path, name: str, extra: dict[str, Any] | None = None) -> otio.schema.Clip:
    """A clip for a file shotcraft made: its sidecar's spec, seed, engine, model, version and lineage become
    the clip's metadata, and its keyframes markers."""
    record: dict[str, Any] = {}
    sidecar = sidecar_of(path)
    if sidecar.is_file():
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(sidecar.read_text(encoding="utf-8"))
    keys = ("kind", "shotcraft", "spec", "engine", "model", "seed", "task", "quality", "lineage")
    metadata = {k: record[k] for k in keys if k in record}
    metadata.update(extra or {})
    video = probe(path).require_video()
    markers: list[tuple[int, str]] = []
    if record.get("kind") == "transform":
        markers = _keyframe_markers(record.get("spec", {}), video)
    elif record.get("kind") == "generate":
        spec = record.get("spec", {})
        markers = [(0, "start image")] if spec.get("image") else []
        markers += [(video.frame_count - 1, "end image")] if spec.get("end_image") else []
    return media_clip(path, name, metadata, markers)


def timeline_of(name: str, tracks: list[tuple[str, list[otio.schema.Clip]]]) -> otio.schema.Timeline:
    """A timeline with one video track per ``(name, clips)``, each starting at the timeline's start."""
    otio = _otio()
    timeline = otio.schema.Timeline(name=name)
    rates = [c.source_range.duration.rate for _, clips in tracks for c in clips]
    if rates:
        timeline.global_start_time = otio.opentime.RationalTime(0, rates[0])
    for track_name, clips in tracks:
        track = otio.schema.Track(name=track_name, kind=otio.schema.TrackKind.Video)
        for clip in clips:
            track.append(clip)
        timeline.tracks.append(track)
    return timeline


def sequence_timeline(file: str | os.PathLike[str]) -> tuple[otio.schema.Timeline, list[str]]:
    """The timeline of a sequence file's done steps: a track per take (the picked one says so), per
    transform and per market version. Steps not done are left out, each with a notice."""
    from shotcraft.sequence import load_sequence, read_state, sequence_status

    seq = load_sequence(file)
    reports = sequence_status(seq)
    state = read_state(seq)["steps"]
    picked = (
        state.get("pick", {}).get("picked", {})
        if any(r.name == "pick" and r.state == "done" for r in reports)
        else {}
    )
    tracks: list[tuple[str, list[Any]]] = []
    notices: list[str] = []
    base = {"sequence": {"file": str(seq.file), "name": seq.name}}
    for report in reports:
        if report.state != "done":
            notices.append(
                f"{report.name} is {report.state} ({report.reason}): not in the timeline; run the sequence"
            )
            continue
        step = {**base, "step": report.name}
        if report.kind == "clip":
            tracks.append(("source", [media_clip(report.outputs[0], report.outputs[0].name, step)]))
        elif report.kind == "invent":
            seeds = state["start"].get("seeds", [])
            for i, path in enumerate(report.outputs):
                chosen = picked.get("index") == i + 1
                label = (
                    f"take {i + 1} (seed {seeds[i] if i < len(seeds) else '?'}{', picked' if chosen else ''})"
                )
                tracks.append(
                    (label, [take_clip(path, path.name, {**step, "take": i + 1, "picked": chosen})])
                )
        elif report.kind == "pick" and state["pick"].get("outputs"):
            path = report.outputs[0]
            tracks.append(
                (
                    f"final of take {picked.get('index')}",
                    [take_clip(path, path.name, {**step, "picked": picked})],
                )
            )
        elif report.kind == "transform":
            path = report.outputs[0]
            tracks.append((report.name, [take_clip(path, path.name, step)]))
        elif report.kind == "markets":
            for market, path in state[report.name].get("markets", {}).items():
                clip = take_clip(Path(path), Path(path).name, {**step, "market": market})
                tracks.append((f"{report.name}: {market}", [clip]))
    if not tracks:
        raise SpecError(
            f"nothing to export: no step of {seq.file.name} is done; run `shotcraft sequence run` first"
        )
    return timeline_of(seq.name, tracks), notices


# ---------------------------------------------------------------------------------------------------------
# Reading and writing timeline files


def read_timeline(path: str | os.PathLike[str], rate: Fraction | None = None) -> otio.schema.Timeline:
    """A timeline file by its suffix; an EDL, which holds timecodes only, needs its ``rate``."""
    otio = _otio()
    path = Path(path)
    adapter = _adapter(path)
    if not path.is_file():
        raise SpecError(f"timeline {path} does not exist")
    options: dict[str, Any] = {}
    if adapter == "fcpx_xml":
        _check_fcpx_rates(path)
    if adapter == "cmx_3600":
        if rate is None:
            raise SpecError(
                f"{path.name} is an EDL, which does not say its frame rate: give --rate (e.g. 30000/1001)"
            )
        options["rate"] = float(rate)
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **options)
    except Exception as exc:  # each adapter raises its own kinds; all mean "not a timeline we can read"
        raise SpecError(f"timeline {path.name} cannot be read: {type(exc).__name__}: {exc}") from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if not timelines:
            raise SpecError(f"{path.name} holds no timeline")
        result = timelines[0]
    return result


def _check_fcpx_rates(path: Path) -> None:
    """The FCP X adapter reads a frame rate as a whole number (30000/1001 becomes 29 fps, and every time
    with it); refuse such a file rather than conform the wrong frames. (Written files are exact: Final Cut
    reads their rational times as they are.)"""
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise SpecError(f"timeline {path.name} cannot be read: {exc}") from None
    for element in root.iter("format"):
        try:
            rate = 1 / Fraction(element.get("frameDuration", "").removesuffix("s"))
        except (ValueError, ZeroDivisionError):
            continue
        if rate.denominator != 1:
            raise SpecError(f"{path.name} runs at {rate} fps, which the FCP X adapter reads as "
                            f"{int(rate)} fps: export the edit as .otio or .xml (FCP 7) to conform it")  # fmt: skip


def write_timeline(
    timeline: otio.schema.Timeline, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``timeline`` in the format its suffix names, atomically; an existing file only with ``overwrite``."""
    path = Path(path)
    _adapter(path)  # a name no adapter writes is refused before anything is checked or made
    check_output(path, overwrite=overwrite, sidecar=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = timeline_text(timeline, path.suffix)
    tmp = temp_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        check_output(path, overwrite=overwrite, sidecar=False)
        commit([(tmp, path)])
    finally:
        tmp.unlink(missing_ok=True)
    return path


def timeline_text(timeline: otio.schema.Timeline, suffix: str) -> str:
    """``timeline`` in the format a file with ``suffix`` holds (.otio, .fcpxml, .xml, .edl)."""
    otio = _otio()
    adapter = _adapter(Path(f"timeline{suffix}"))
    if adapter == "cmx_3600":
        timeline = _one_track(timeline)
    with _fcpx_rates(timeline) if adapter == "fcpx_xml" else contextlib.nullcontext():
        return otio.adapters.write_to_string(timeline, adapter_name=adapter)


def _one_track(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A CMX 3600 EDL holds one video track: every track's clips one after another on it."""
    otio = _otio()
    if len(timeline.video_tracks()) <= 1:
        return timeline
    single = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
    track = otio.schema.Track(name="V", kind=otio.schema.TrackKind.Video)
    for source in timeline.video_tracks():
        for clip in source.find_clips():
            track.append(clip.clone())
    single.tracks.append(track)
    return single


@contextlib.contextmanager
def _fcpx_rates(timeline: otio.schema.Timeline) -> Iterator[None]:
    """The FCP X adapter knows NTSC rates only as the rounded floats 23.98, 29.97 and 59.94, so an exact
    30000/1001 finds no frame duration and is written empty (a file nothing reads back). Its table is given
    the timeline's exact rates while it writes, and put back as it was after."""
    # The module the adapter plugin runs (OTIO loads it itself; it need not be the one `import` gives).
    table = _otio().adapters.from_name("fcpx_xml").module().FRAMERATE_FRAMEDURATION
    added = []
    for clip in timeline.find_clips():
        rate = clip.source_range.duration.rate
        if rate not in table:
            exact = Fraction(rate).limit_denominator(1001)
            table[rate] = f"{exact.denominator}/{exact.numerator}s"
            added.append(rate)
    try:
        yield
    finally:
        for rate in added:
            table.pop(rate, None)


# ---------------------------------------------------------------------------------------------------------
# Conform: a shot-consistent transform of a whole edit


@dataclass
class UsedRange:
    """One clip's use of a media file: frames ``first .. first + count - 1`` (indices into the file), and
    the range rendered with handles, ``start .. stop - 1``."""

    media: Path
    info: MediaInfo
    first: int
    count: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.media.stem}_f{self.start}-{self.stop - 1}"


@dataclass
class ConformResult:
    timelines: list[Path]
    media: list[Path]
    notices: list[str] = field(default_factory=list)


def _media_path(clip: Any, folder: Path) -> Path | None:
    reference = clip.media_reference
    url = getattr(reference, "target_url", None)
    if not url:
        return None
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme:
        return None
    path = Path(url)
    return path if path.is_absolute() else folder / path


def used_ranges(
    timeline: otio.schema.Timeline, folder: Path, handles: int
) -> tuple[list[tuple[Any, UsedRange]], list[str]]:
    """Each video clip with the range of its media it uses plus ``handles`` frames each side (clamped to
    the media), and one problem per clip that cannot be conformed."""
    problems: list[str] = []
    found: list[tuple[Any, UsedRange]] = []
    infos: dict[Path, MediaInfo] = {}
    for track in timeline.video_tracks():
        for clip in track.find_clips():
            where = f"clip {clip.name!r} on track {track.name!r}"
            media = _media_path(clip, folder)
            if media is None:
                problems.append(f"{where} names no media file")
                continue
            try:
                info = infos.get(media) or probe(media)
                video = info.require_video()
            except MediaError as exc:
                problems.append(f"{where}: {exc}")
                continue
            infos[media] = info
            rate = float(video.fps)
            available = clip.media_reference.available_range
            origin = (
                available.start_time.rescaled_to(rate).value if available is not None else start_frame(info)
            )
            used = clip.trimmed_range()
            first = round(used.start_time.rescaled_to(rate).value - origin)
            count = round(used.duration.rescaled_to(rate).value)
            if first < 0 or first + count > video.frame_count:
                problems.append(f"{where} uses frames {first}..{first + count - 1} but {media.name} has "
                                f"{video.frame_count} (0..{video.frame_count - 1})")  # fmt: skip
                continue
            start, stop = max(0, first - handles), min(video.frame_count, first + count + handles)
            found.append((clip, UsedRange(media, info, first, count, start, stop)))
    return found, problems


def conform(
    timeline_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    spec: TransformSpec | None = None,
    *,
    markets: list[str] | None = None,
    table: Path | None = None,
    subtitles: dict[str, Path] | None = None,
    handles: int = DEFAULT_HANDLES,
    rate: Fraction | None = None,
    engine_options: EngineOptions | None = None,
    progress: Progress = no_progress,
    overwrite: bool = False,
) -> ConformResult:
    """Transform (``spec``) and/or localize (``markets``) every range the timeline uses, plus ``handles``
    frames each side, into ``output_dir``; write a timeline pointing at the new media with the same cut
    points (one per market with ``markets``), in the input's format. Every problem (clips without media,
    ranges outside their media, outputs that exist) is reported before any work."""
    from shotcraft.markets import localize
    from shotcraft.pipeline import transform

    timeline_path, folder = Path(timeline_path), check_folder(output_dir)
    if spec is None and not markets:
        raise SpecError("say what to do to the edit: a transform (--relight, --look, --spec) or --markets")
    if handles < 0:
        raise SpecError(f"handles must be 0 or more frames, not {handles}")
    timeline = read_timeline(timeline_path, rate)
    clips, problems = used_ranges(timeline, timeline_path.parent, handles)
    if not clips and not problems:
        problems.append(f"{timeline_path.name} has no video clips to conform")
    ranges = {(r.media, r.start, r.stop): r for _, r in clips}
    inputs = [timeline_path, *(r.media for r in ranges.values()), *(input_paths(spec) if spec else []),
              *([table] if table else []), *(subtitles or {}).values()]  # fmt: skip
    suffix = timeline_path.suffix
    versions = list(markets or [None])
    targets: list[Path] = []
    for version in versions:
        targets += [folder / f"{r.name}{'_' + version if version else ''}.mp4" for r in ranges.values()]
        targets.append(folder / f"{timeline_path.stem}{'_' + version if version else ''}{suffix}")
    if spec is not None and markets:
        targets += [folder / f"{r.name}.mp4" for r in ranges.values()]
    for target in targets:
        try:
            check_output(target, inputs=inputs, overwrite=overwrite, sidecar=target.suffix == ".mp4")
        except MediaError as exc:
            problems.append(str(exc))
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[tuple[Path, int, int, str | None], Path] = {}
    notices: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix=".conform-", dir=folder))
    try:
        for number, (key, used) in enumerate(ranges.items()):
            trimmed = trim(used, scratch / f"{used.name}.mp4")
            lineage = {"conform": {"timeline": str(timeline_path), "media": str(used.media), "frames": [used.start, used.stop - 1],
                                   "used": [used.first, used.first + used.count - 1], "handles": handles}}  # fmt: skip
            base = trimmed
            if spec is not None:
                result = transform(trimmed, folder / f"{used.name}.mp4", spec, progress=progress, lineage=lineage,
                                   engine_options=engine_options, overwrite=overwrite)  # fmt: skip
                base = result.path
                made[(*key, None)] = result.path
                notices += result.notices
            if markets:
                for result in localize(base, folder, markets, table=table, subtitles=subtitles, progress=progress,
                                       overwrite=overwrite):  # fmt: skip
                    if result.take is None:
                        raise SpecError(
                            [f"{used.name}: market {result.market}: {p}" for p in result.problems]
                        )
                    made[(*key, result.market)] = result.take.path
            progress("conform", number + 1, len(ranges))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    written = []
    for version in versions:
        remade = conformed_timeline(timeline, clips, {k[:3]: p for k, p in made.items() if k[3] == version})
        name = f"{timeline_path.stem}{'_' + version if version else ''}{suffix}"
        written.append(write_timeline(remade, folder / name, overwrite=overwrite))
    media = list(dict.fromkeys(made.values()))
    notices.append(
        "conformed media hold the picture only: the timeline's audio still plays from the original media"
    )
    return ConformResult(written, media, list(dict.fromkeys(notices)))


def trim(used: UsedRange, target: Path) -> Path:
    """Frames ``used.start .. used.stop - 1`` of the media, written losslessly in the media's own pixel
    format (no trip through RGB), so the transform sees exactly the source's samples. Their timestamps keep
    their spacing (a variable rate stays as it was) but start at 0: a file whose first frame is stamped
    later opens with an empty stretch in players and editors."""
    from shotcraft.media.read import VideoReader
    from shotcraft.media.write import VideoWriter

    video = used.info.require_video()
    count = used.stop - used.start
    pts = tuple(p - video.pts[used.start] for p in video.pts[used.start : used.stop])
    part = replace(video, frame_count=count, pts=pts, duration=Fraction(count) / video.fps)
    with VideoWriter(target, None, OutputSpec(lossless=True), video=part, with_sidecar=False) as writer:
        writer.write_all(VideoReader(used.info.path, used.info).av_frames(used.start, used.stop))
    return target


def conformed_timeline(
    timeline: otio.schema.Timeline,
    clips: list[tuple[Any, UsedRange]],
    media: dict[tuple[Path, int, int], Path],
) -> otio.schema.Timeline:
    """A copy of ``timeline`` whose clips use the conformed media: the same durations at the same places
    (identical cut points), each source range moved to where the used frames sit in the new file."""
    otio = _otio()
    copy = timeline.clone()
    index = {id(clip): used for clip, used in clips}
    originals = [c for track in timeline.video_tracks() for c in track.find_clips()]
    copies = [c for track in copy.video_tracks() for c in track.find_clips()]
    for original, clip in zip(originals, copies, strict=True):
        used = index.get(id(original))
        if used is None:
            continue
        path = media[(used.media, used.start, used.stop)]
        info = probe(path)
        video = info.require_video()
        rate = float(video.fps)
        start = start_frame(info)
        clip.media_reference = otio.schema.ExternalReference(
            target_url=path.resolve().as_uri(),
            available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(video.frame_count, rate)
            ),
        )
        used_range = original.trimmed_range()
        moved = otio.opentime.RationalTime(start + used.first - used.start, rate)
        clip.source_range = otio.opentime.TimeRange(moved, used_range.duration)
        # Markers sit in the clip's media time: they move with the frames they mark.
        shift = moved - used_range.start_time.rescaled_to(rate)
        for marker in clip.markers:
            marker.marked_range = otio.opentime.TimeRange(
                marker.marked_range.start_time.rescaled_to(rate) + shift, marker.marked_range.duration
            )
        clip.metadata["shotcraft"] = {**dict(clip.metadata.get("shotcraft", {})), "conformed_from": {
            "media": str(used.media), "frames": [used.start, used.stop - 1]}}  # fmt: skip
    return copy


__all__ = [
    "ADAPTERS", "DEFAULT_HANDLES", "ConformResult", "UsedRange", "conform", "conformed_timeline", "media_clip",
    "read_timeline", "sequence_timeline", "start_frame", "take_clip", "timeline_of", "timeline_text", "trim", "used_ranges",
    "write_timeline",
]  # fmt: skip
