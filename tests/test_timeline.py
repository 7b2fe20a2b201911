"""Timelines out and in: a sequence exported to .otio/.xml/.edl/.fcpxml reads back with exact durations at
24000/1001, 25 and 30000/1001, markers at keyframes and lineage as metadata; conform of a three-clip edit
with handles makes media of exactly the used frames plus handles and a timeline with the same cut points."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.sequence import load_sequence, run_sequence
from shotcraft.spec import OutputSpec, RelightOp, SpecError, TransformSpec
from shotcraft.timeline import media_clip, read_timeline, start_frame, write_timeline

otio = pytest.importorskip("opentimelineio")

RATES = [Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001)]


def _frames_of(time: otio.opentime.RationalTime, fps: Fraction) -> Fraction:
    """A RationalTime as an exact frame count at ``fps``: its rate must be ``fps`` itself."""
    assert Fraction(time.rate).limit_denominator(1001) == fps and time.rate == float(fps), time
    return Fraction(time.value)


@pytest.mark.parametrize("fps", RATES, ids=str)
def test_exported_sequence_reads_back_exactly_in_every_format(tmp_path: Path, fps: Fraction) -> None:
    clip = make_clip(tmp_path / "shot.mp4", frames=14, width=64, height=48, fps=fps, footage="bikes")
    Image.new("RGB", (64, 48), (200, 120, 40)).save(tmp_path / "graded.png")
    data = {"start": {"clip": "shot.mp4"}, "transforms": [{"name": "warm", "transform": {"operations": [
        {"op": "relight", "keyframes": [{"at": {"frame": 5}, "image": "graded.png"}]}]}}]}  # fmt: skip
    (tmp_path / "spot.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    run_sequence(load_sequence(tmp_path / "spot.yaml"))
    runner = CliRunner()
    for suffix in (".otio", ".xml", ".edl", ".fcpxml"):
        result = runner.invoke(
            app, ["sequence", "export", str(tmp_path / "spot.yaml"), "-o", str(tmp_path / f"cut{suffix}")]
        )
        assert result.exit_code == 0, result.output

    timeline = read_timeline(tmp_path / "cut.otio")
    assert [t.name for t in timeline.tracks] == ["source", "warm"]
    source, warm = (next(iter(t.find_clips())) for t in timeline.tracks)
    for item in (source, warm):
        assert _frames_of(item.source_range.duration, fps) == 14
        assert _frames_of(item.media_reference.available_range.duration, fps) == 14
    assert _frames_of(timeline.duration(), fps) == 14
    assert Path(warm.media_reference.target_url.removeprefix("file://")) == tmp_path / "spot-output/warm.mp4"
    meta = warm.metadata["shotcraft"]
    assert meta["step"] == "warm" and meta["engine"] == "classic"
    assert meta["spec"]["operations"][0]["op"] == "relight" and meta["lineage"]["parent"]["step"] == "start"
    assert [(m.name, _frames_of(m.marked_range.start_time, fps)) for m in warm.markers] == [
        ("graded keyframe graded.png", 5)
    ]
    assert start_frame(probe(clip)) == 0

    fcp7 = read_timeline(tmp_path / "cut.xml")  # FCP 7 XML: both tracks, exact rate, markers kept
    assert len(fcp7.video_tracks()) == 2
    for item in fcp7.find_clips():
        assert _frames_of(item.source_range.duration, fps) == 14
    assert [m.name for m in next(iter(fcp7.video_tracks()[1].find_clips())).markers] == [
        "graded keyframe graded.png"
    ]

    edl = read_timeline(tmp_path / "cut.edl", rate=fps)  # CMX 3600: one video track, the versions in turn
    assert [_frames_of(c.source_range.duration, fps) for c in edl.find_clips()] == [14, 14]
    assert _frames_of(edl.duration(), fps) == 28

    # FCP X: times are written as exact rationals, frame duration 1/fps.
    root = ElementTree.parse(tmp_path / "cut.fcpxml").getroot()
    assert {f.get("frameDuration") for f in root.iter("format")} == {f"{fps.denominator}/{fps.numerator}s"}
    for asset in root.iter("asset"):
        assert Fraction(asset.get("duration").removesuffix("s")) == Fraction(14) / fps
    if fps.denominator == 1:
        fcpx = read_timeline(tmp_path / "cut.fcpxml")
        assert [_frames_of(c.source_range.duration, fps) for c in fcpx.find_clips()] == [14, 14]
    else:  # the adapter reads an NTSC rate as a whole number, so such a file is refused, not misread
        with pytest.raises(SpecError, match="reads as 29 fps|reads as 23 fps"):
            read_timeline(tmp_path / "cut.fcpxml")


def test_a_takes_available_range_starts_at_its_own_first_timestamp(tmp_path: Path) -> None:
    """A file whose first frame is stamped 1 s in (as cameras and trimmed exports write) keeps that start, so
    the clip's source range names the same frames an editor shows."""
    import av

    fps = Fraction(25)
    path = tmp_path / "late.mov"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = 1 / fps
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            frame.pts, frame.time_base = 25 + i, 1 / fps
            container.mux(stream.encode(frame.reformat(format="yuv420p")))
        container.mux(stream.encode(None))
    info = probe(path)
    assert info.video.pts[0] * info.video.time_base == 1
    clip = media_clip(path, "late", {})
    assert clip.media_reference.available_range.start_time.value == 25
    assert clip.source_range == clip.media_reference.available_range


@pytest.fixture(scope="module")
def edit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three clips from two real-footage files at 24000/1001: 20 frames from 10, 15 from 2, 18 from 50."""
    folder = tmp_path_factory.mktemp("edit")
    fps = Fraction(24000, 1001)
    a = make_clip(
        folder / "street.mp4", frames=70, width=96, height=64, fps=fps, footage="bikes", lossless=True
    )
    b = make_clip(
        folder / "bunny.mp4", frames=30, width=96, height=64, fps=fps, footage="bigbuckbunny", lossless=True
    )
    rate = float(fps)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for path, first, count in ((a, 10, 20), (b, 2, 15), (a, 50, 18)):
        item = media_clip(path, path.name, {})
        item.source_range = otio.opentime.TimeRange(
            otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(count, rate)
        )
        track.append(item)
    timeline = otio.schema.Timeline(name="edit")
    timeline.tracks.append(track)
    return write_timeline(timeline, folder / "edit.otio")


def _cuts(timeline: otio.schema.Timeline) -> list[tuple[float, float]]:
    return [
        (c.range_in_parent().start_time.value, c.range_in_parent().duration.value)
        for c in timeline.find_clips()
    ]


def test_conform_renders_used_ranges_plus_handles_and_keeps_every_cut(edit: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["conform", str(edit), "--relight", "night", "--handles", "12", "--lossless", "-o", str(tmp_path / "graded")]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    before, after = read_timeline(edit), read_timeline(tmp_path / "graded/edit.otio")
    assert _cuts(after) == _cuts(before) == [(0, 20), (20, 15), (35, 18)]
    # used + handles, clamped at the media's ends: 10 before (not 12), 2 before, 2 after (the file ends)
    expected = [("street_f0-41.mp4", 42, 10), ("bunny_f0-28.mp4", 29, 2), ("street_f38-69.mp4", 32, 12)]
    for item, (name, count, offset) in zip(after.find_clips(), expected, strict=True):
        media = Path(item.media_reference.target_url.removeprefix("file://"))
        assert media.name == name and probe(media).video.frame_count == count
        assert probe(media).video.fps == Fraction(24000, 1001)
        assert item.media_reference.available_range.duration.value == count
        assert item.source_range.start_time.value == offset
        assert json.loads(Path(f"{media}.json").read_text())["lineage"]["conform"]["handles"] == 12
    # The conformed frames are the edit's frames, relit: frame 10 of the street is frame 10 of its range.
    whole = transform(
        edit.parent / "street.mp4", tmp_path / "whole.mp4",
        TransformSpec(operations=[RelightOp(preset="night")], output=OutputSpec(lossless=True)),
    )  # fmt: skip
    graded = list(VideoReader(tmp_path / "graded/street_f38-69.mp4").frames())
    reference = list(VideoReader(whole.path).frames(38, 70))
    assert all(np.array_equal(a, b) for a, b in zip(graded, reference, strict=True))


def test_conform_makes_one_timeline_per_market_and_refuses_to_overwrite(edit: Path, tmp_path: Path) -> None:
    for market in ("de", "fr"):
        (tmp_path / f"{market}.srt").write_text(
            f"1\n00:00:00,000 --> 00:00:00,500\n{market}\n", encoding="utf-8"
        )
    args = ["conform", str(edit), "--markets", "de,fr", "--subtitles", f"de={tmp_path / 'de.srt'}",
            "--subtitles", f"fr={tmp_path / 'fr.srt'}", "--handles", "0", "-o", str(tmp_path / "versions")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for market in ("de", "fr"):
        version = read_timeline(tmp_path / f"versions/edit_{market}.otio")
        assert _cuts(version) == _cuts(read_timeline(edit))
        names = [Path(c.media_reference.target_url).name for c in version.find_clips()]
        assert names == [
            f"street_f10-29_{market}.mp4",
            f"bunny_f2-16_{market}.mp4",
            f"street_f50-67_{market}.mp4",
        ]
    before = sorted(p.name for p in (tmp_path / "versions").iterdir())
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == before
