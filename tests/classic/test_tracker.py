"""The planar tracker on ground truth made for it (a label swinging at up to 40 px per frame over real
footage, motion-blurred, under changing light, partly behind a pole, hidden by a passing panel, then leaving
the picture), every frame checked; and on the bikes roof plate, whose corners were read off the frames by hand
(``tests/data/bikes_plate.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, make_clip, planar_scene
from shotcraft.signals.track import track_region

DATA = Path(__file__).resolve().parents[1] / "data"
WIDTH, HEIGHT, FRAMES = 640, 360, 120


@pytest.fixture(scope="module")
def hard_scene(tmp_path_factory):
    label = cv2.resize(data.coffee(), (160, 120), interpolation=cv2.INTER_AREA)
    scene = planar_scene(label, footage_frames("bikes", FRAMES, WIDTH, HEIGHT), FRAMES)
    clip = make_clip(tmp_path_factory.mktemp("scene") / "scene.mp4", frames=FRAMES, width=WIDTH,
                     height=HEIGHT, content=iter(scene.frames))  # fmt: skip
    return clip, scene


def test_fast_blurred_occluded_label_is_tracked_wherever_it_is_visible(hard_scene):
    clip, scene = hard_scene
    assert np.linalg.norm(np.diff(scene.corners, axis=0), axis=2).max() >= 40  # the motion is fast
    track = track_region(VideoReader(clip), scene.corners[0], 0)
    found = np.array([track.corners_at(i) is not None for i in range(FRAMES)])
    errors = np.array([
        np.linalg.norm(track.corners_at(i) - scene.corners[i], axis=1).mean() if found[i] else np.nan
        for i in range(FRAMES)
    ])  # fmt: skip
    seen = scene.visible >= 0.5  # at least half of it in the picture and uncovered
    assert found[seen].mean() >= 0.95, np.flatnonzero(seen & ~found)
    assert np.nanmedian(errors[seen]) <= 1.0
    assert np.nanpercentile(errors[seen], 95) <= 3.0
    # Reported missing only when it really is: hidden by the panel (lost), then gone out of the picture.
    gone = scene.visible == 0
    assert not found[gone].any(), np.flatnonzero(gone & found)
    assert {track.frames[i].status for i in range(70, 78)} == {"lost"}
    assert track.frames[-1].status == "out_of_frame"


def test_bikes_plate_is_followed_until_it_leaves_and_never_onto_the_next_vent(tmp_path):
    truth = json.loads((DATA / "bikes_plate.json").read_text())
    clip = make_clip(tmp_path / "shot1.mp4", frames=28, width=640, height=272, footage="bikes", lossless=True)
    given = {int(k): np.asarray(v, np.float64) for k, v in truth["corners"].items()}
    track = track_region(VideoReader(clip), given[0], 0)
    first, last = truth["whole"]
    # The failure: it lagged at frame 1, collapsed at 2 and was gone from 3 with the plate in view.
    # Frames 0-8 (it leaves through the bottom edge from 9 on, and is not yet held while it does).
    assert all(track.corners_at(i) is not None for i in range(first, last)), track.lost_runs()
    for index, corners in given.items():
        error = np.linalg.norm(track.corners_at(index) - corners, axis=1).mean()
        assert error <= 3.0, (index, error)  # the hand-read corners are good to about 1.5 px
    # The roof's next vents look the same and pass where this one was: they are not this plate.
    start, end = truth["gone"]
    assert all(track.corners_at(i) is None for i in range(start, end + 1)), track.lost_runs()
