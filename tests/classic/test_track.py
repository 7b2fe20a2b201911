"""Planar tracking: known ground truth over real footage, real footage leaving the frame, the track file,
corrections, bad input, the track lock, and rotated clips (coordinates and files as a player shows them)."""

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


def label_clip(path: Path, frames: int = FRAMES, rotation: int = 0) -> tuple[Path, np.ndarray]:
    """A photo label moving in perspective over bikes.mp4, and its true corners per frame (as stored)."""
    size = (144, 108)
    label = cv2.resize(data.coffee(), size, interpolation=cv2.INTER_AREA)
    truth = planar_label_path(frames, WIDTH, HEIGHT, size)
    content = planar_label_frames(truth, label, footage_frames("bikes", frames, WIDTH, HEIGHT))
    clip = make_clip(path, frames=frames, width=WIDTH, height=HEIGHT, rotation=rotation, content=content)
    return clip, truth


def shown_at_90(points: np.ndarray) -> np.ndarray:
    """Stored pixel-centre points of a WIDTH x HEIGHT clip tagged 90° (a quarter turn anticlockwise) as a
    player shows them: the stored right edge is the shown top."""
    points = np.asarray(points, np.float64)
    return np.stack([points[..., 1], WIDTH - 1 - points[..., 0]], axis=-1)


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


def test_rotated_clip_takes_and_writes_display_coordinates(tmp_path):
    frames = 16
    clip, truth = label_clip(tmp_path / "portrait.mp4", frames, rotation=90)
    video = VideoReader(clip).video
    shown = shown_at_90(truth)
    runner = CliRunner()
    out = tmp_path / "portrait.json"
    corners = ",".join(f"{v:.3f}" for v in shown[0].ravel())
    result = runner.invoke(app, ["track", str(clip), "--corners", corners, "-o", str(out)])
    assert result.exit_code == 0, result.output
    # The file is in the user's orientation: the displayed size, the rotation, corners where they are shown.
    data_ = json.loads(out.read_text())
    head = {key: data_[key] for key in ("orientation", "rotation", "width", "height")}
    assert head == {"orientation": "display", "rotation": 90, "width": HEIGHT, "height": WIDTH}
    file_corners = np.array([f["corners"] for f in data_["frames"]], np.float64)
    assert np.median(np.linalg.norm(file_corners - shown, axis=2).mean(axis=1)) <= 2.0
    # Loaded for work, it is on the stored frames again.
    loaded = load_track(out, video)
    assert (loaded.orientation, loaded.width, loaded.height) == ("storage", WIDTH, HEIGHT)
    assert np.median(corner_errors(loaded, truth)) <= 2.0
    # The user corrects frame 8 on the displayed frame (6 px to the right as shown) and re-runs.
    data_["frames"][8].update(corners=(shown[8] + [6.0, 0.0]).tolist(), status="corrected", confidence=1.0)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data_))
    again = tmp_path / "again.json"
    result = runner.invoke(app, ["track", str(clip), "--corrections", str(edited), "-o", str(again)])
    assert result.exit_code == 0, result.output
    fixed = json.loads(again.read_text())["frames"][8]
    assert fixed["status"] == "corrected" and np.allclose(fixed["corners"], shown[8] + [6.0, 0.0], atol=1e-3)
    # Shown right is stored down: the correction lands 6 px lower on the stored frame.
    assert np.allclose(load_track(again, video).corners_at(8), truth[8] + [0.0, 6.0], atol=1e-3)
    # A lock from the display-orientation file masks the region on the stored frames.
    plan = plan_transform(clip, TransformSpec(locks=[TrackLock(track_file=out, feather=0)]))
    masks = list(lock_masks(plan, VideoReader(clip)))
    centre = truth[frames - 1].mean(axis=0).round().astype(int)
    assert masks[-1].shape == (HEIGHT, WIDTH) and masks[-1][centre[1], centre[0]] == 1.0


def test_rotated_clip_box_and_older_files(tmp_path):
    clip, truth = label_clip(tmp_path / "portrait.mp4", 4, rotation=90)
    video = VideoReader(clip).video
    runner = CliRunner()
    # A box inside the stored frame but outside the displayed one is refused in the user's terms.
    bad = runner.invoke(app, ["track", str(clip), "--box", "300,10,50,50", "-o", str(tmp_path / "x.json")])
    assert bad.exit_code == 2 and "outside the 270x480 frame (as shown, rotated 90°)" in bad.output
    # A version-1 file (storage coordinates, no orientation field) still loads as it was written.
    old = tmp_path / "v1.json"
    frames = [
        {"frame": i, "corners": truth[i].tolist(), "confidence": 1.0, "status": "tracked"} for i in range(4)
    ]
    frames[0]["status"] = "reference"
    old.write_text(json.dumps({"version": 1, "source": clip.name, "width": WIDTH, "height": HEIGHT,
                               "frame_count": 4, "reference": 0, "frames": frames}))  # fmt: skip
    loaded = load_track(old, video)
    assert (loaded.width, loaded.height, loaded.rotation) == (WIDTH, HEIGHT, 90)
    assert np.allclose(loaded.corners_at(3), truth[3])
    # Re-saved, it is a display file that loads back to the same stored corners.
    resaved = load_track(loaded.save(tmp_path / "v2.json"), video)
    assert np.allclose(resaved.corners_at(3), truth[3], atol=1e-3)
    # A display file made for another rotation would put its corners elsewhere: refused.
    other = json.loads((tmp_path / "v2.json").read_text())
    other["rotation"] = 270
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(SpecError, match="rotated 270°, but this clip is rotated 90°"):
        load_track(tmp_path / "other.json", video)
