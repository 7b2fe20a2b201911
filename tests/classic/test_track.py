"""Planar tracking: known ground truth over real footage, real footage leaving the frame, the track file,
corrections, bad input, and the track lock."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, make_clip, planar_label_frames, planar_label_path
from shotcraft.plan import plan_transform
from shotcraft.signals.masks import lock_masks
from shotcraft.signals.track import corners_from_box, load_track, retrack, track_region
from shotcraft.spec import SpecError, TrackLock, TransformSpec

WIDTH, HEIGHT, FRAMES = 480, 270, 200


def label_clip(path: Path, frames: int = FRAMES) -> tuple[Path, np.ndarray]:
    """A photo label moving in perspective over bikes.mp4, and its true corners per frame."""
    size = (144, 108)
    label = cv2.resize(data.coffee(), size, interpolation=cv2.INTER_AREA)
    truth = planar_label_path(frames, WIDTH, HEIGHT, size)
    content = planar_label_frames(truth, label, footage_frames("bikes", frames, WIDTH, HEIGHT))
    return make_clip(path, frames=frames, width=WIDTH, height=HEIGHT, content=content), truth


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple[Path, np.ndarray]:
    return label_clip(tmp_path_factory.mktemp("track") / "label.mp4")


@pytest.fixture(scope="module")
def bikes100(tmp_path_factory) -> Path:
    """The first 100 frames of bikes.mp4 (it has cuts at frames 30 and 76)."""
    return make_clip(tmp_path_factory.mktemp("bikes") / "bikes100.mp4", frames=100, width=640, height=272,
                     footage="bikes")  # fmt: skip


def corner_errors(track, truth: np.ndarray) -> np.ndarray:
    return np.array(
        [np.linalg.norm(track.corners_at(i) - truth[i], axis=1).mean() for i in range(len(truth))]
    )


def test_tracks_known_label_both_ways_without_drift(labelled):
    path, truth = labelled
    at = FRAMES // 2
    track = track_region(VideoReader(path), truth[at], at)
    assert all(f.corners is not None for f in track.frames), track.lost_runs()
    errors = corner_errors(track, truth)
    assert np.median(errors) <= 2.0
    # No drift: the ends of the clip, 100 frames from the reference either way, are as good as the middle.
    assert np.median(errors[:20]) <= 2.0 and np.median(errors[-20:]) <= 2.0
    assert errors.max() <= 4.0
    assert track.frames[at].status == "reference"
    assert min(f.confidence for f in track.frames) > 0.3


def test_real_footage_region_leaving_frame_is_reported(bikes100):
    # The two white plates on the bus roof, which slides down and out of the picture by frame 7.
    track = track_region(VideoReader(bikes100), corners_from_box(385, 80, 56, 88), 0)
    statuses = [f.status for f in track.frames]
    assert statuses[1:6] == ["tracked"] * 5
    for i in range(1, 6):  # followed downwards, about 20 px per frame
        assert track.corners_at(i)[:, 1].mean() > track.corners_at(i - 1)[:, 1].mean() + 10
    first_gone = statuses.index("out_of_frame")
    assert 5 <= first_gone <= 9
    # After it leaves (and across the two cuts) nothing is guessed: no corners, status says why.
    assert all(f.corners is None for f in track.frames[first_gone:])
    assert statuses[first_gone] == "out_of_frame"
    assert track.lost_runs()[0][0] == first_gone


def test_track_file_round_trip_and_corrections(tmp_path):
    frames = 40
    short, short_truth = label_clip(tmp_path / "short.mp4", frames)
    reader = VideoReader(short)
    track = track_region(reader, short_truth[0], 0)
    saved = track.save(tmp_path / "track.json")
    text = saved.read_text()
    assert text.count('"frame":') == frames  # one line per frame, easy to edit
    loaded = load_track(saved, reader.video)
    assert loaded == track
    # The user fixes frame 20 (here: to a deliberately shifted position) and re-runs from the correction.
    data_ = json.loads(text)
    shifted = (short_truth[20] + [6.0, 0.0]).tolist()
    data_["frames"][20].update(corners=shifted, status="corrected", confidence=1.0)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data_))
    again = retrack(reader, load_track(edited, reader.video))
    assert again.frames[20].status == "corrected"
    assert np.allclose(again.corners_at(20), shifted, atol=1e-3)
    # The tracker restarted from the correction, and the reference still anchors frame 0.
    assert again.frames[0].status == "reference"
    assert all(f.corners is not None for f in again.frames)


def test_bad_regions_and_files_give_one_clear_message(labelled, bikes100, tmp_path):
    path, _ = labelled
    reader = VideoReader(path)
    with pytest.raises(SpecError, match="outside the 480x270 frame"):
        track_region(reader, corners_from_box(600, 300, 50, 50), 0)
    with pytest.raises(SpecError, match="too little texture"):
        # A patch of flat sky-like colour: nothing to follow.
        flat = make_clip(tmp_path / "flat.mp4", frames=5, width=96, height=64,
                         content=iter([np.full((64, 96, 3), 120, np.uint8)] * 5))  # fmt: skip
        track_region(VideoReader(flat), corners_from_box(10, 10, 40, 30), 0)
    with pytest.raises(SpecError, match="lost on every frame"):
        # A region of a shot's last frame: the next frame is a cut, so there is nothing to follow.
        cut = make_clip(tmp_path / "cut.mp4", frames=3, width=640, height=272,
                        content=iter(list(VideoReader(bikes100).frames(29, 32))))  # fmt: skip
        track_region(VideoReader(cut), corners_from_box(250, 40, 120, 120), 0)
    other = tmp_path / "other.json"
    track_region(VideoReader(bikes100), corners_from_box(385, 80, 56, 88), 0).save(other)
    with pytest.raises(SpecError, match="was made for a 640x272 clip of 100 frames"):
        load_track(other, reader.video)
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "frames": [')
    with pytest.raises(SpecError, match="not readable JSON"):
        load_track(broken)


def test_track_lock_masks_follow_the_region(tmp_path):
    short, short_truth = label_clip(tmp_path / "lock.mp4", 12)
    reader = VideoReader(short)
    track_file = track_region(reader, short_truth[0], 0).save(tmp_path / "lock.json")
    spec = TransformSpec(locks=[TrackLock(track_file=track_file, feather=0)])
    plan = plan_transform(short, spec)
    masks = list(lock_masks(plan, reader))
    assert len(masks) == 12
    centre = short_truth[11].mean(axis=0).round().astype(int)
    assert masks[11][centre[1], centre[0]] == 1.0 and masks[11][0, 0] == 0.0
    # A lock from a box tracks on the fly.
    x, y = short_truth[0].min(axis=0).astype(int) + 10
    boxed = plan_transform(short, TransformSpec(locks=[TrackLock(box=(int(x), int(y), 60, 40), feather=0)]))
    assert sum(float(m.sum()) > 0 for m in lock_masks(boxed, reader)) == 12


def test_cli_track_writes_json_and_reports_loss(bikes100, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli.json"
    result = runner.invoke(
        app, ["track", str(bikes100), "--box", "385,80,56,88", "--at", "f0", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert load_track(out).frames[1].status == "tracked"
    assert "out of frame" in result.output
    bad = runner.invoke(
        app, ["track", str(bikes100), "--box", "900,10,50,50", "-o", str(tmp_path / "x.json")]
    )
    assert bad.exit_code == 2 and "outside the 640x272 frame" in bad.output
    both = runner.invoke(app, ["track", str(bikes100), "-o", str(tmp_path / "y.json")])
    assert both.exit_code == 2 and "exactly one of" in both.output
