"""The time-of-day presets judged on real footage, frame by frame, as a client would look at them: no added
clipping, a night that reads as night, a golden hour with a key from one side, and a steady grade."""

from __future__ import annotations

from itertools import islice, pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from shotcraft.engines.classic.lut import (
    _interpolation_matrix,
    apply_lut,
    apply_lut_family,
    identity_lut,
)
from shotcraft.engines.classic.relight import PRESETS, PresetGrade, relight, resolve_relight
from shotcraft.engines.classic.sky_window import SkyWindow
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.spec import RELIGHT_PRESETS, RelightOp, TransformSpec

#: Clipped: any channel at 0 or at 255.
CLIP_RULE = 0.005
#: The segments clipping is judged on, at the footage's own scale (see ``segments``).
TAKE_CLIPS = ["bikes_roof", "bigbuckbunny_sky", "bikes_walker"]


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """30 frames of each real clip at a third of its width, losslessly: bikes' first shot (the white roof
    seen from above) and Big Buck Bunny's opening (grass, the bunny, a pale sky at the top right).

    For clipping on the take, the footage at its own scale (a third of the width packs nine times the
    detail into each 2x2 block whose colour the encoder shares): bikes' first 30 frames; the top right
    quarter of Big Buck Bunny's (the sky, grass and the bunny's ear); bikes' frames 185-229, the walker's
    black trousers, where night's deep shadows meet the encoder's black."""
    folder = tmp_path_factory.mktemp("segments")
    walker = islice(VideoReader(sample_clip("bikes")).frames(), 185, 230)
    sky = (frame[:360, 640:] for frame in islice(VideoReader(sample_clip("bigbuckbunny")).frames(), 30))
    return {
        "bikes": make_clip(
            folder / "bikes.mp4", frames=30, width=320, height=136, footage="bikes", lossless=True
        ),
        "bigbuckbunny": make_clip(
            folder / "bunny.mp4", frames=30, width=320, height=180, footage="bigbuckbunny", lossless=True
        ),
        "bikes_roof": make_clip(
            folder / "roof.mp4", frames=30, width=640, height=272, footage="bikes", lossless=True
        ),
        "bigbuckbunny_sky": make_clip(
            folder / "sky.mp4", frames=30, width=640, height=360, lossless=True, content=sky
        ),
        "bikes_walker": make_clip(
            folder / "walker.mp4", frames=45, width=640, height=272, lossless=True, content=walker
        ),
    }


def _relit(clip: Path, preset: str | RelightOp) -> tuple[list[np.ndarray], list[np.ndarray]]:
    plan = plan_transform(clip, TransformSpec())
    reader = VideoReader(clip, plan.source)
    sources = list(VideoReader(clip, plan.source).frames())
    op = preset if isinstance(preset, RelightOp) else RelightOp(preset=preset)
    return sources, list(relight(plan, op, iter(sources), reader))


def _taken(clip: Path, op: RelightOp, folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The source's frames and the take's as a user gets it (``transform`` to an .mp4 with the default
    codec and settings), both decoded the same way: the encoder moves dark and bright pixels a few levels
    on a channel, so clipping is judged here, not on the stage's frames."""
    take = transform(clip, folder / "take.mp4", TransformSpec(operations=[op]), overwrite=True).path
    return list(VideoReader(clip).frames()), list(VideoReader(take).frames())


def _clipped(frame: np.ndarray) -> float:
    return float(((frame == 0) | (frame == 255)).any(axis=2).mean())


def _worst_added_clipping(sources: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[int, float]:
    """The frame with the most pixels clipped (any channel at 0 or 255) over the source's, and that share."""
    added = [_clipped(out) - _clipped(src) for src, out in zip(sources, outputs, strict=True)]
    worst = int(np.argmax(added))
    return worst, added[worst]


def _luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _chroma(frame: np.ndarray) -> float:
    return float((frame.max(axis=2).astype(int) - frame.min(axis=2)).mean())


def _warmth(frame: np.ndarray) -> np.ndarray:
    return frame[..., 0].astype(np.float32) - frame[..., 2]


@pytest.mark.parametrize("preset", RELIGHT_PRESETS)
@pytest.mark.parametrize("clip", TAKE_CLIPS)
def test_no_preset_adds_clipping_on_any_frame_of_the_take(
    segments: dict[str, Path], clip: str, preset: str, tmp_path: Path
) -> None:
    # On bikes' walker night's take had 2-3 % of a frame at 0 on red (its deep blue shadows at level 3
    # came back from H.264 at 0), where the stage's own frames had none.
    worst, added = _worst_added_clipping(*_taken(segments[clip], RelightOp(preset=preset), tmp_path))
    assert added <= CLIP_RULE, f"frame {worst}: {100 * added:.2f} % more pixels clipped"


#: Strong slider settings without a preset: three stops down, cold and colourful; two stops up; two stops
#: up, harder and more colourful; a hot white balance; a strong light of its own.
SLIDERS = {
    "exposure-3 cool saturated": RelightOp(exposure=-3.0, temperature=-100, saturation=0.6),
    "exposure+2": RelightOp(exposure=2.0),
    "exposure+2 contrast saturation": RelightOp(exposure=2.0, contrast=0.8, saturation=0.8),
    "warm": RelightOp(temperature=100, tint=60, saturation=0.5),
    "light": RelightOp(exposure=1.0, light={"azimuth": 180, "intensity": 1.5, "colour": (1.0, 0.8, 0.5)}),
}


#: Two stops up still clips on these takes (worst frame's added share, measured): the broad white the
#: shoulder rolls into sits ~10 levels under 255, and where it meets a coloured edge the encoder's 4:2:0
#: chroma (one colour per 2x2 block) pushes one channel past 255. A lower ceiling costs the golden hour its
#: warm highlights; the real cure is chroma-aware headroom or 4:4:4 output (see docs/benchmarks.md).
OVER_ON_THE_TAKE = {
    ("bigbuckbunny_sky", "exposure+2"): "1.4 %",
    ("bikes_walker", "exposure+2"): "1.2 %",
    ("bikes_roof", "exposure+2 contrast saturation"): "0.7 %",
    ("bigbuckbunny_sky", "exposure+2 contrast saturation"): "4.4 %",
    ("bikes_walker", "exposure+2 contrast saturation"): "3.5 %",
}


@pytest.mark.parametrize("setting", SLIDERS)
@pytest.mark.parametrize("clip", TAKE_CLIPS)
def test_no_slider_setting_adds_clipping_on_any_frame_of_the_take(
    segments: dict[str, Path], clip: str, setting: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if (clip, setting) in OVER_ON_THE_TAKE:
        reason = f"4:2:0 chroma at a white edge: {OVER_ON_THE_TAKE[clip, setting]} clipped"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    sources, outputs = _taken(segments[clip], SLIDERS[setting], tmp_path)
    worst, added = _worst_added_clipping(sources, outputs)
    assert added <= CLIP_RULE, f"frame {worst}: {100 * added:.2f} % more pixels clipped"
    # And the settings still do what they say: two stops up is clearly brighter.
    if setting.startswith("exposure+"):
        assert _luma(outputs[0]).mean() > 1.4 * _luma(sources[0]).mean()


@pytest.mark.parametrize("preset", ["night", "golden_hour", "overcast"])
def test_preset_lookup_matches_float_tetrahedral_reference(segments: dict[str, Path], preset: str) -> None:
    # The fixed-point kernel against the tetrahedral interpolation written out in float64 (the sparse
    # weights the LUT fit uses) and mixed at the same positions: within one level (a rounding either way).
    frame = next(VideoReader(segments["bigbuckbunny"]).frames())
    h, w = frame.shape[:2]
    grade, light = resolve_relight(RelightOp(preset=preset))
    graded = PresetGrade(preset, grade, light, w, h)
    out = graded(frame).astype(int)
    weights = _interpolation_matrix(frame.reshape(-1, 3), graded.luts.shape[1])
    looked = np.stack([weights @ lut.reshape(-1, 3).astype(np.float64) for lut in graded.luts])
    if len(graded.luts) == 1:
        expected = looked[0]
    else:
        position = graded.position(frame).reshape(-1).astype(np.float64) / 1024.0
        low = np.minimum(position.astype(int), len(graded.luts) - 2)
        t = (position - low)[:, None]
        pixels = np.arange(len(position))
        expected = looked[low, pixels] * (1.0 - t) + looked[low + 1, pixels] * t
    diff = np.abs(out.reshape(-1, 3) - np.round(expected))
    assert diff.max() <= 1 and diff.mean() < 0.1


def test_night_pulls_sky_and_broad_whites_down_and_colour_out(segments: dict[str, Path]) -> None:
    sources, outputs = _relit(segments["bigbuckbunny"], "night")
    for src, out in zip(sources[::5], outputs[::5], strict=True):
        sky, ground = (slice(0, 45), slice(280, 320)), (slice(120, 180), slice(0, 320))
        assert _luma(src)[sky].mean() > _luma(src)[ground].mean() + 30  # a bright sky over the grass
        assert _luma(out)[sky].mean() < _luma(out)[ground].mean()  # at night the sky is the darker
        assert _chroma(out) < 0.6 * _chroma(src)
        # The grass does not stay green: green well above both red and blue is all but gone.
        green = lambda f: float(((f[..., 1] > f[..., 0] + 12) & (f[..., 1] > f[..., 2] + 12)).mean())  # noqa: E731
        assert green(src) > 0.1 and green(out) < 0.02
    sources, outputs = _relit(segments["bikes"], "night")
    roof, rest = np.zeros(sources[0].shape[:2], bool), np.ones(sources[0].shape[:2], bool)
    roof[:, 108:212] = True  # the white roof, seen from above
    rest[:, 95:225] = False
    for src, out in zip(sources[::5], outputs[::5], strict=True):
        assert np.median(_luma(src)[roof]) > np.percentile(_luma(src)[rest], 99)  # the brightest thing
        assert np.median(_luma(out)[roof]) < np.percentile(_luma(out)[rest], 99)  # no longer


def test_night_keeps_small_lights_bright(tmp_path: Path) -> None:
    # A street at dusk: a dim wall, a broad white sign and two small lamps.
    frame = np.full((120, 200, 3), (90, 95, 100), np.uint8)
    frame[20:60, 20:120] = 235
    frame[80:84, 150:154] = 255
    frame[90:93, 40:43] = (255, 200, 120)
    clip = make_clip(
        tmp_path / "street.mp4", frames=3, width=200, height=120, lossless=True, content=iter([frame] * 3)
    )
    plan = plan_transform(clip, TransformSpec())
    out = next(relight(plan, RelightOp(preset="night"), iter([frame]), VideoReader(clip, plan.source)))
    lamp, warm_lamp, sign = _luma(out)[80:84, 150:154], out[90:93, 40:43], _luma(out)[25:55, 25:115]
    assert lamp.min() > 170 and warm_lamp[..., 0].min() > 170  # practicals keep their brightness
    assert warm_lamp[..., 0].mean() > warm_lamp[..., 2].mean() + 40  # and their colour
    assert sign.mean() < 0.5 * lamp.min()  # the broad white is pulled down with the night


def test_night_leaves_no_pale_rim_round_a_dark_object_on_a_pulled_down_white() -> None:
    # bikes' first shot in miniature: a brown plate lying on a white roof seen from above, near the top.
    # The sky window worked out 192 pixels wide fell a few pixels short of the plate's edge, and night
    # left the roof's pixels there twice as bright as the rest of the roof: a pale outline (ring 79
    # against plate 36 and roof 26 here; on bikes' plate 57-80).
    frame = np.full((272, 640, 3), (95, 88, 80), np.uint8)
    frame[:, 200:440] = (212, 210, 214)
    frame[4:80, 290:350] = (118, 100, 96)
    frame = cv2.GaussianBlur(frame, (0, 0), 0.8)  # a lens's soft edge
    grade, light = resolve_relight(RelightOp(preset="night"))
    out = _luma(PresetGrade("night", grade, light, 640, 272)(frame))
    plate = np.zeros(out.shape, np.uint8)
    plate[4:80, 290:350] = 1
    ring = cv2.dilate(plate, np.ones((7, 7), np.uint8)).astype(bool) & ~plate.astype(bool)  # 1-3 px out
    inside = cv2.erode(plate, np.ones((7, 7), np.uint8)).astype(bool)
    roof = np.median(out[150:260, 230:410])
    assert np.median(out[inside]) > roof + 5  # the plate, out of the window, stays the lighter
    assert out[ring].max() <= max(np.median(out[inside]), roof) + 3


def test_golden_hour_has_a_warm_key_from_one_side_and_cool_shadows(segments: dict[str, Path]) -> None:
    sources, outputs = _relit(segments["bigbuckbunny"], "golden_hour")
    for src, out in zip(sources[::5], outputs[::5], strict=True):
        warmer = _warmth(out) - _warmth(src)
        # The preset's sun is low on the left: the left third is warmed clearly more than the right.
        assert warmer[:, :106].mean() > warmer[:, -106:].mean() + 8
        # Its shadows are cooler than its highlights (split toning), read on what was grey in the source
        # (the bunny's fur, the rocks), where warmth is not confused with the colour of things.
        y, grey = _luma(src), (src.max(axis=2).astype(int) - src.min(axis=2)) < 30
        dark, bright = grey & (y <= np.percentile(y[grey], 30)), grey & (y >= np.percentile(y[grey], 70))
        assert warmer[bright].mean() > warmer[dark].mean() + 10
        assert _warmth(out)[dark].mean() < _warmth(out)[bright].mean()
        # No blown sky, and the grass does not turn acid yellow.
        assert (out[:45, 280:] == 255).all(axis=2).mean() < 0.01
        hsv_acid = _acid(out)
        assert hsv_acid <= _acid(src) + 0.02


def _acid(frame: np.ndarray) -> float:
    import cv2

    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    return float(((h >= 20) & (h <= 40) & (s > 178) & (v > 178)).mean())


def test_golden_hour_light_side_follows_the_light(segments: dict[str, Path]) -> None:
    clip = segments["bigbuckbunny"]
    plan = plan_transform(clip, TransformSpec())
    src = next(VideoReader(clip).frames())
    preset = PRESETS["golden_hour"][1]
    assert preset is not None and 90 < preset.azimuth < 270  # the preset's sun is on the left
    from_right = RelightOp(preset="golden_hour", light=preset.model_copy(update={"azimuth": 0.0}))
    left_lit, right_lit = (
        next(relight(plan, op, iter([src]), VideoReader(clip, plan.source)))
        for op in (RelightOp(preset="golden_hour"), from_right)
    )
    # The same part of the same frame, lit from one side and then the other: the side facing the sun
    # is the warmer and the brighter.
    for third, lit, unlit in ((slice(0, 106), left_lit, right_lit), (slice(-106, None), right_lit, left_lit)):
        assert _warmth(lit)[:, third].mean() > _warmth(unlit)[:, third].mean() + 8
        assert _luma(lit)[:, third].mean() > _luma(unlit)[:, third].mean() + 8


def test_sky_window_is_steady_within_a_shot_and_starts_afresh_at_a_cut(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "cut.mp4", frames=40, width=320, height=136, footage="bikes", lossless=True)
    frames = list(VideoReader(clip).frames())
    window = SkyWindow(320, 136)
    whites, keys = [], []
    for frame in frames:
        keys.append(window(frame))
        whites.append(window.white)
    assert whites[29] is not None and whites[30] is not None
    # bikes cuts at frame 30 from the white roof to a street of dark cars: the white level follows at once.
    fresh = SkyWindow(320, 136)
    fresh(frames[30])
    assert whites[30] == pytest.approx(fresh.white)
    # Within the first shot the level and the key move smoothly from frame to frame.
    assert max(abs(a - b) for a, b in pairwise(whites[1:30])) < 0.02
    steps = [float(np.abs(a - b).mean()) for a, b in pairwise(keys[1:30])]
    assert max(steps) < 0.05


def test_lut_family_mixes_neighbouring_luts() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    luts = np.stack([identity_lut(9), identity_lut(9) * 0.5, identity_lut(9) * 0.25 + 100])
    for level in range(3):
        same = apply_lut_family(image, luts, np.full(image.shape[:2], level, np.float32))
        assert np.array_equal(same, apply_lut(image, luts[level]))
    position = np.tile(np.linspace(0, 2, 30, dtype=np.float32), (20, 1))
    mixed = apply_lut_family(image, luts, position).astype(np.float32)
    low = np.minimum(position, 1.0)[..., None]
    high = np.clip(position - 1.0, 0.0, 1.0)[..., None]
    first = apply_lut(image, luts[0]) * (1 - low) + apply_lut(image, luts[1]) * low
    expected = np.where(
        position[..., None] <= 1,
        first,
        apply_lut(image, luts[1]) * (1 - high) + apply_lut(image, luts[2]) * high,
    )
    assert np.abs(mixed - expected).max() <= 1.0


@pytest.mark.parametrize("exposure", [0.0, -1.0])
def test_keyframe_guided_night_adds_no_clipping_on_the_take(
    segments: dict[str, Path], exposure: float, tmp_path: Path
) -> None:
    # A still graded night (as shotcraft grades it: the still itself clips nothing) given as a keyframe, and
    # the same with a stop less on top: the fitted LUT, and the sliders over it, keep the toe's floor.
    clip = segments["bikes_walker"]
    frame = VideoReader(clip).frame_at(22)
    grade, light = resolve_relight(RelightOp(preset="night"))
    still = tmp_path / "graded.png"
    Image.fromarray(PresetGrade("night", grade, light, frame.shape[1], frame.shape[0])(frame)).save(still)
    op = RelightOp.model_validate(
        {"keyframes": [{"at": {"frame": 22}, "image": str(still)}], "exposure": exposure}
    )
    worst, added = _worst_added_clipping(*_taken(clip, op, tmp_path))
    assert added <= CLIP_RULE, f"frame {worst}: {100 * added:.2f} % more pixels clipped"
