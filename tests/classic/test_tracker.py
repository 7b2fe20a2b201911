"""The planar tracker on ground truth made for it (a label swinging at up to 40 px per frame over real
footage, motion-blurred, under changing light, partly behind a pole, hidden by a passing panel, then leaving
the picture), every frame checked; and on the bikes roof plate, scored against its outline measured on every
frame (``tests/data/bikes_plate.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from shotcraft.media import read
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, leaving_card_scene, make_clip, planar_scene
from shotcraft.signals.track import track_region

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from planar_tracking import accurate_rgb, plate_errors, plate_outline

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


def test_bikes_plate_is_followed_until_it_is_gone_and_never_onto_the_next_vent(tmp_path):
    notes = json.loads((DATA / "bikes_plate.json").read_text())
    clip = make_clip(tmp_path / "shot1.mp4", frames=28, width=640, height=272, footage="bikes", lossless=True)
    reference, outline = np.asarray(notes["reference"], np.float64), notes["outline"]
    track = track_region(VideoReader(clip), reference, 0)
    # The failure: it lagged at frame 1, collapsed at 2 and was gone from 3 with the plate in view.
    # It is followed on every frame it shows, also while it leaves through the bottom edge (frames 10-13,
    # down to a fifth of it in the picture), where the old tracker lost it from frame 9.
    first, last = notes["whole"][0], notes["leaving"][1]
    assert all(track.corners_at(i) is not None for i in range(first, last + 1)), track.lost_runs()
    errors = {}
    for index in range(first + 1, last + 1):
        carried = plate_outline(reference, track.corners_at(index), outline)
        measured = [(k, c) for k, c in enumerate(outline[str(index)]) if c is not None]
        errors[index] = float(np.mean([np.linalg.norm(carried[k] - c) for k, c in measured]))
    whole = [errors[i] for i in range(first + 1, notes["whole"][1] + 1)]
    leaving = [errors[i] for i in range(notes["leaving"][0], last + 1)]
    # Measured: median 0.72 px on the whole plate (frames 1-9, worst 1.97 since the template is chosen after a
    # refit: its raised lower side changes with the viewpoint), 0.13-0.35 px on frames 10-13 while it leaves. Before the plate's outline was tolerated
    # a few pixels off (TrackerSettings.plain_tolerance), the misaligned top edge was masked as something
    # in front and stayed 3 px off: 1.8-2.9 px on frames 10-13, median 1.36 over 1-13.
    assert np.median(whole) <= 1.0 and max(whole) <= 2.0, errors
    assert max(leaving) <= 1.0, errors
    assert np.median(list(errors.values())) <= 1.0, errors
    # The roof's next vents look the same and pass where this one was: they are not this plate.
    start, end = notes["gone"]
    assert all(track.corners_at(i) is None for i in range(start, end + 1)), track.lost_runs()
    assert track.frames[start].status == "out_of_frame"


def _levels(offset: float, gain: float):
    return lambda index, frame: (
        np.clip(frame.astype(np.float32) * gain + offset, 0, 255).round().astype(np.uint8)
    )


def _grain(sigma: float):
    def add(index: int, frame: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(index).normal(0, sigma, frame.shape)
        return np.clip(frame + noise, 0, 255).round().astype(np.uint8)

    return add


@pytest.mark.parametrize(
    ("change", "alter"),
    [("+2 levels", _levels(2.0, 1.0)), ("x0.97", _levels(0.0, 0.97)), ("grain 4", _grain(4.0))],
)
def test_bikes_plate_is_followed_on_brighter_darker_or_grainy_footage(tmp_path, change, alter):
    # The footage's levels changed a little (2 grey levels up, 3 % down): it is still followed on every frame
    # until gone. With the smeared template picked at KLT's start (a pixel or two off, where the smear hides
    # the misalignment), +2 levels masked the plate's edges from frame 1 on, and it was lost on frames 10-13
    # (median 4.2 px). Measured after: median 0.43 px (+2), 0.58 px (x0.97).
    # Grain of 4 grey levels made corners of its own: the plain plate was taken for a textured region and
    # matched without its outline (here median 0.80 px, worst 4.31; in bench/planar_tracking.py's grain,
    # 1.92); counted on the smoothed picture, median 0.52, worst 1.68 (+2: 1.83, x0.97: 1.53).
    notes = json.loads((DATA / "bikes_plate.json").read_text())
    base = make_clip(tmp_path / "shot1.mp4", frames=28, width=640, height=272, footage="bikes", lossless=True)
    changed = [alter(index, frame) for index, frame in enumerate(VideoReader(base).frames())]
    clip = make_clip(tmp_path / "changed.mp4", frames=28, width=640, height=272, lossless=True,
                     content=iter(changed))  # fmt: skip
    reference, outline = np.asarray(notes["reference"], np.float64), notes["outline"]
    track = track_region(VideoReader(clip), reference, 0)
    first, last = notes["whole"][0], notes["leaving"][1]
    assert all(track.corners_at(i) is not None for i in range(first, last + 1)), (change, track.lost_runs())
    errors = plate_errors(reference, outline, {i: track.corners_at(i) for i in range(first + 1, last + 1)})
    assert np.median(errors) <= 1.0 and max(errors) <= 2.5, (change, errors)


def test_bikes_plate_is_followed_when_another_converter_decodes_it(tmp_path, monkeypatch):
    # Decoded by swscale's accurate path (full chroma interpolation, accurate rounding) instead of its default:
    # ~1.2 grey levels brighter and its edges' chroma slightly different, as another decoder, a re-encode or
    # a grade would make them. The plate was lost at frame 11 and out of frame from 13 while it still showed:
    # two-thirds of it in the picture, the homography fitted to the rest tilted past the jump check, and the
    # next frame was searched where it had last been. Measured after: median 0.39 px, worst 1.0.
    monkeypatch.setattr(read, "to_rgb", accurate_rgb)
    notes = json.loads((DATA / "bikes_plate.json").read_text())
    clip = make_clip(tmp_path / "shot1.mp4", frames=28, width=640, height=272, footage="bikes", lossless=True)
    reference = np.asarray(notes["reference"], np.float64)
    track = track_region(VideoReader(clip), reference, 0)
    first, last = notes["whole"][0], notes["leaving"][1]
    assert all(track.corners_at(i) is not None for i in range(first, last + 1)), track.lost_runs()
    errors = plate_errors(
        reference, notes["outline"], {i: track.corners_at(i) for i in range(first + 1, last + 1)}
    )
    assert np.median(errors) <= 1.0, errors
    start, end = notes["gone"]
    assert all(track.corners_at(i) is None for i in range(start, end + 1)), track.lost_runs()


@pytest.mark.parametrize("accurately", [False, True])
def test_plain_card_is_held_by_its_outline_while_it_leaves_the_picture(tmp_path, monkeypatch, accurately):
    if accurately:
        # Decoded by swscale's accurate path, the card's corner outside the picture followed its own motion,
        # a guess of the fit, and was 11 px off after 4 frames (mean 4.06 px).
        monkeypatch.setattr(read, "to_rgb", accurate_rgb)
    scene = leaving_card_scene(next(footage_frames("bikes", 1, 320, 240)))
    clip = make_clip(tmp_path / "card.mp4", frames=len(scene.frames), width=320, height=240,
                     content=iter(scene.frames), lossless=True)  # fmt: skip
    track = track_region(VideoReader(clip), scene.corners[0], 0)
    assert scene.visible.min() <= 0.3  # down to a quarter of it in the picture
    for index, truth in enumerate(scene.corners):
        found = track.corners_at(index)
        # Before the outline was tolerated a few pixels off, the card was lost from 64 % in the picture.
        assert found is not None, (index, track.lost_runs())
        errors = np.linalg.norm(found - truth, axis=1)
        # The corners in the picture within a pixel (measured: at most 0.5), those outside carried on from
        # the shape's motion (measured: at most 2.3 px with three quarters of the card outside).
        assert errors[truth[:, 1] < 240].mean() <= 1.0, (index, errors)
        assert errors.mean() <= 4.0, (index, errors)
