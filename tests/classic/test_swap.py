"""Product swap: the warped reference lands on the tracked region, everything else stays bit-exact."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.engines.classic.swap import swap
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, make_clip, planar_label_frames, planar_label_path
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.signals.shapes import polygon_mask
from shotcraft.signals.track import Track, TrackFrame
from shotcraft.spec import SpecError, SwapOp, TransformSpec

WIDTH, HEIGHT, FRAMES, LABEL = 480, 270, 30, (144, 108)


def _label_frames(truth: np.ndarray, fade: bool = False):
    label = cv2.resize(data.coffee(), LABEL, interpolation=cv2.INTER_AREA)
    frames = planar_label_frames(truth, label, footage_frames("bikes", len(truth), WIDTH, HEIGHT))
    for i, frame in enumerate(frames):
        # ``fade`` dims the whole shot over time, as if a cloud passed: the swap should dim with it.
        yield (frame * (1 - 0.4 * i / len(truth))).astype(np.uint8) if fade else frame


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path | np.ndarray]:
    folder = tmp_path_factory.mktemp("swap")
    truth = planar_label_path(FRAMES, WIDTH, HEIGHT, LABEL)
    clip = make_clip(
        folder / "label.mp4", frames=FRAMES, width=WIDTH, height=HEIGHT, content=_label_frames(truth)
    )
    art = folder / "art.png"
    Image.fromarray(data.rocket()).save(art)  # new packaging: another real photo
    track = Track(width=WIDTH, height=HEIGHT, frame_count=FRAMES, reference=0, frames=[
        TrackFrame(frame=i, corners=[tuple(p) for p in truth[i]], confidence=1.0,
                   status="reference" if i == 0 else "tracked") for i in range(FRAMES)])  # fmt: skip
    return {
        "folder": folder,
        "truth": truth,
        "clip": clip,
        "art": art,
        "track": track.save(folder / "truth.json"),
    }


def expected_warp(art: np.ndarray, corners: np.ndarray) -> np.ndarray:
    h, w = art.shape[:2]
    homography = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [w, 0], [w, h], [0, h]]), corners.astype(np.float32)
    )
    return cv2.warpPerspective(art, homography, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)


def regions(corners: np.ndarray, inner: int, outer: int) -> tuple[np.ndarray, np.ndarray]:
    hard = polygon_mask(WIDTH, HEIGHT, [tuple(p) for p in corners]).astype(np.uint8)
    inside = cv2.erode(hard, np.ones((2 * inner + 1,) * 2, np.uint8)) > 0
    outside = cv2.dilate(hard, np.ones((2 * outer + 1,) * 2, np.uint8)) == 0
    return inside, outside


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_swapped_region_matches_the_warped_reference(scene):
    op = SwapOp(image=scene["art"], track_file=scene["track"], match_lighting=False)
    plan = plan_transform(scene["clip"], TransformSpec(operations=[op]))
    reader = VideoReader(scene["clip"])
    art = np.asarray(Image.open(scene["art"]).convert("RGB"))
    out = list(swap(plan, op, reader.frames(), reader))
    assert len(out) == FRAMES
    for index, (frame, source) in enumerate(zip(out, reader.frames(), strict=True)):
        inside, outside = regions(scene["truth"][index], inner=2, outer=2)
        assert psnr(frame[inside], expected_warp(art, scene["truth"][index])[inside]) >= 30.0
        assert (frame[outside] == source[outside]).all()


def test_end_to_end_outside_is_bit_exact_on_lossless_output(scene, tmp_path):
    # Corners on frame 0 only: the swap tracks the region itself; output is RGB-lossless PNG frames.
    op = SwapOp(image=scene["art"], corners=[tuple(p) for p in scene["truth"][0]], occluders="none")
    result = transform(scene["clip"], tmp_path / "frames", TransformSpec(operations=[op]))
    written = sorted(result.path.glob("*.png"))
    assert len(written) == FRAMES
    for index, (png, source) in enumerate(zip(written, VideoReader(scene["clip"]).frames(), strict=True)):
        frame = np.asarray(Image.open(png).convert("RGB"))
        inside, outside = regions(scene["truth"][index], inner=4, outer=4)
        assert (frame[outside] == source[outside]).all()
        assert np.abs(frame[inside].astype(int) - source[inside]).mean() > 20  # the label really changed


def test_lighting_follows_the_source(scene, tmp_path):
    truth = scene["truth"]
    clip = make_clip(tmp_path / "fade.mp4", frames=FRAMES, width=WIDTH, height=HEIGHT,
                     content=_label_frames(truth, fade=True))  # fmt: skip
    reader = VideoReader(clip)
    means = {}
    for lit in (False, True):
        op = SwapOp(image=scene["art"], track_file=scene["track"], match_lighting=lit)
        plan = plan_transform(clip, TransformSpec(operations=[op]))
        out = list(swap(plan, op, reader.frames(), reader))
        means[lit] = [float(out[i][regions(truth[i], 3, 3)[0]].mean()) for i in (0, FRAMES - 1)]
    source = [float(f[regions(truth[i], 3, 3)[0]].mean()) for i, f in ((0, reader.frame_at(0)),
                                                                        (FRAMES - 1, reader.frame_at(-1)))]  # fmt: skip
    # Without lighting match the art keeps its own brightness; with it, the art dims as the shot dims.
    dimmed = (means[True][1] / means[False][1]) / (means[True][0] / means[False][0])
    assert source[1] / source[0] < 0.7
    assert dimmed == pytest.approx(source[1] / source[0], abs=0.08)


def test_occluder_mask_stays_in_front(scene, tmp_path):
    truth = scene["truth"]
    hand = np.zeros((HEIGHT, WIDTH), np.uint8)
    centre = truth[:, :, :].mean(axis=(0, 1)).astype(int)
    hand[centre[1] - 15 : centre[1] + 15, centre[0] - 15 : centre[0] + 15] = 255
    mask = tmp_path / "hand.png"
    Image.fromarray(hand).save(mask)
    op = SwapOp(image=scene["art"], track_file=scene["track"], occluders=mask)
    plan = plan_transform(scene["clip"], TransformSpec(operations=[op]))
    reader = VideoReader(scene["clip"])
    for frame, source in zip(swap(plan, op, reader.frames(), reader), reader.frames(), strict=True):
        assert (frame[hand > 0] == source[hand > 0]).all()


def test_bad_input_is_one_clear_message(scene, tmp_path):
    outside = SwapOp(image=scene["art"], corners=[(900, 500), (990, 500), (990, 560), (900, 560)])
    with pytest.raises(SpecError, match="lie entirely outside"):
        plan_transform(scene["clip"], TransformSpec(operations=[outside]))
    # A flat region on a clip that cuts on every frame: nothing can be followed.
    rng = np.random.default_rng(3)
    noise = [
        cv2.GaussianBlur((rng.random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8), (0, 0), 2) for _ in range(4)
    ]
    cuts = make_clip(tmp_path / "cuts.mp4", frames=4, width=WIDTH, height=HEIGHT, content=iter(noise))
    op = SwapOp(image=scene["art"], corners=[(100, 80), (220, 80), (220, 170), (100, 170)])
    plan = plan_transform(cuts, TransformSpec(operations=[op]))
    reader = VideoReader(cuts)
    with pytest.raises(SpecError, match="lost on every frame"):
        swap(plan, op, reader.frames(), reader)


def test_keyframe_swap_restricted_to_the_tracked_region(scene, tmp_path):
    # A non-planar edit: the user repaints the label area of frame 0 of a short clip; the classic restyle
    # carries it along and only the tracked region takes it.
    frames = 8
    truth = scene["truth"][:frames]
    clip = make_clip(
        tmp_path / "key.mp4", frames=frames, width=WIDTH, height=HEIGHT, content=_label_frames(truth)
    )
    reader = VideoReader(clip)
    edited = reader.frame_at(0).copy()
    inside0, _ = regions(truth[0], 0, 0)
    edited[inside0] = 255 - edited[inside0]
    key = tmp_path / "edited.png"
    Image.fromarray(edited).save(key)
    op = SwapOp(image=key, corners=[tuple(p) for p in truth[0]])
    plan = plan_transform(clip, TransformSpec(operations=[op]))
    out = list(swap(plan, op, reader.frames(), reader))
    for index, (frame, source) in enumerate(zip(out, reader.frames(), strict=True)):
        inside, outside = regions(truth[index], 4, 4)
        assert (frame[outside] == source[outside]).all()
        assert np.abs(frame[inside].astype(int) - source[inside]).mean() > 40


def test_cli_swap_flags_need_no_spec_file(scene, tmp_path):
    runner = CliRunner()
    given = np.round(scene["truth"][0], 3)
    corners = ";".join(f"{x:.3f},{y:.3f}" for x, y in given)
    by_flag = runner.invoke(app, ["transform", str(scene["clip"]), "-o", str(tmp_path / "flag"), "-q",
                                  "--format", "png_sequence", "--swap", f"{corners}@f0:{scene['art']}"])  # fmt: skip
    assert by_flag.exit_code == 0, by_flag.output
    op = SwapOp(image=scene["art"], corners=[tuple(p) for p in given])
    by_spec = transform(scene["clip"], tmp_path / "spec", TransformSpec(operations=[op]))
    flag_frames, spec_frames = sorted((tmp_path / "flag").glob("*.png")), sorted(by_spec.path.glob("*.png"))
    assert len(flag_frames) == len(spec_frames) == FRAMES
    for a, b in zip(flag_frames, spec_frames, strict=True):  # the flag is the spec's swap, nothing else
        assert (np.asarray(Image.open(a)) == np.asarray(Image.open(b))).all()
    # The track-file form, with the occluder and lighting options.
    hand = np.zeros((HEIGHT, WIDTH), np.uint8)
    centre = scene["truth"][0].mean(axis=0).astype(int)
    hand[centre[1] - 15 : centre[1] + 15, centre[0] - 15 : centre[0] + 15] = 255
    Image.fromarray(hand).save(tmp_path / "hand.png")
    tracked = runner.invoke(app, ["transform", str(scene["clip"]), "-o", str(tmp_path / "track"), "-q",
                                  "--format", "png_sequence", "--swap-track", f"{scene['track']}:{scene['art']}",
                                  "--swap-occluders", str(tmp_path / "hand.png"), "--no-swap-lighting"])  # fmt: skip
    assert tracked.exit_code == 0, tracked.output
    art = np.asarray(Image.open(scene["art"]).convert("RGB"))
    first = np.asarray(Image.open(sorted((tmp_path / "track").glob("*.png"))[0]).convert("RGB"))
    source = VideoReader(scene["clip"]).frame_at(0)
    assert (first[hand > 0] == source[hand > 0]).all()  # the occluder stays in front
    inside = regions(scene["truth"][0], 2, 2)[0] & (hand == 0)
    assert psnr(first[inside], expected_warp(art, scene["truth"][0])[inside]) >= 30.0  # no lighting match


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--swap", "1,2;3,4;5,6@f0:art.png", "should be four x,y pairs separated by ';'"),
        ("--swap", "1,2;3,4;5,6;7,8@f0", "should look like 'x1,y1;x2,y2;x3,y3;x4,y4@2.5s:label.png'"),
        ("--swap", "1,2;3,4;5,6;7,x@f0:art.png", "should be four x,y pairs"),
        ("--swap", "1,2;3,4;5,6;7,8@0.5:art.png", "time point '0.5' is ambiguous"),
        ("--swap-track", "track.json", "should look like 'track.json:label.png'"),
    ],
)
def test_cli_swap_malformed_values_are_one_line(scene, tmp_path, flag, value, message):
    result = CliRunner().invoke(
        app, ["transform", str(scene["clip"]), "-o", str(tmp_path / "x.mp4"), flag, value]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
