"""Relight: presets, parametric settings, the directional light, keyframe-guided grading on real footage,
and the classic engine's dispatch of operations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcraft.engines.classic import ClassicEngine
from shotcraft.engines.classic.lut import LutTimeline, apply_lut, fit_lut, identity_lut
from shotcraft.engines.classic.relight import (
    PRESETS,
    Grade,
    LightShader,
    PresetGrade,
    Shaping,
    Slice,
    build_lut,
    relight,
    resolve_relight,
    shaped_colours,
)
from shotcraft.errors import EngineUnavailable
from shotcraft.media.read import VideoReader
from shotcraft.metrics import score
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.spec import DirectionalLight, RelightOp, SpecError, TransformSpec


def _grade_like_a_colourist(frame: np.ndarray) -> np.ndarray:
    """A nonlinear grade a colourist might make: warm curves, more colour, a little more contrast."""
    x = frame.astype(np.float64) / 255.0
    y = x ** np.array([0.8, 1.0, 1.25])
    luma = (y @ [0.2126, 0.7152, 0.0722])[..., None]
    y = 0.5 + (luma + 1.3 * (y - luma) - 0.5) * 1.15
    return (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)


def _mean_rgb(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).astype(np.float64).mean(axis=0)


@pytest.fixture(scope="module")
def bunny_frame(bigbuckbunny: Path) -> np.ndarray:
    return VideoReader(bigbuckbunny).frame_at(50)


# -- the colour maths ------------------------------------------------------------------------------------


def _graded(frame: np.ndarray, grade: Grade) -> np.ndarray:
    """The sliders alone, as the relight stage grades them."""
    return PresetGrade(None, grade, None, frame.shape[1], frame.shape[0])(frame)


def test_zero_grade_is_exact_identity(bunny_frame: np.ndarray, bigbuckbunny: Path) -> None:
    plan = plan_transform(bigbuckbunny, TransformSpec())
    reader = VideoReader(bigbuckbunny, plan.source)
    assert np.array_equal(next(relight(plan, RelightOp(), iter([bunny_frame]), reader)), bunny_frame)
    assert np.array_equal(apply_lut(bunny_frame, build_lut(Grade())), bunny_frame)


def test_slider_grade_matches_its_colour_function(bunny_frame: np.ndarray) -> None:
    # The 3D LUT and its fixed-point lookup against the grade evaluated on every pixel's colour directly.
    grade = Grade(exposure=0.4, temperature=-30, tint=20, contrast=0.3, saturation=-0.4)
    fast = _graded(bunny_frame, grade).astype(int)
    exact = shaped_colours(bunny_frame / 255.0, grade, Shaping(), Slice())
    diff = np.abs(fast - np.round(exact * 255.0))
    # A 33-point lattice follows the tone curve's shoulder and the gamut squeeze of dark saturated colours
    # less closely than the smooth rest: a few pixels move by more than two levels.
    assert diff.mean() < 0.3
    assert np.percentile(diff, 99) <= 1 and (diff > 2).mean() < 0.005


@pytest.mark.parametrize(
    ("grade", "check"),
    [
        (Grade(exposure=1.0), lambda a, b: b.mean() > a.mean() * 1.25),
        (Grade(exposure=-1.0), lambda a, b: b.mean() < a.mean() * 0.8),
        (Grade(temperature=60), lambda a, b: (b[0] - b[2]) > (a[0] - a[2]) + 10),
        (Grade(temperature=-60), lambda a, b: (b[2] - b[0]) > (a[2] - a[0]) + 10),
        (Grade(tint=60), lambda a, b: (b[0] + b[2]) / 2 - b[1] > (a[0] + a[2]) / 2 - a[1] + 5),
    ],
)
def test_parametric_settings_move_colour_the_right_way(bunny_frame: np.ndarray, grade: Grade, check) -> None:
    assert check(_mean_rgb(bunny_frame), _mean_rgb(_graded(bunny_frame, grade)))


def test_contrast_and_saturation(bunny_frame: np.ndarray) -> None:
    def spread(frame: np.ndarray) -> float:
        return float(frame.mean(axis=2).std())

    def chroma(frame: np.ndarray) -> float:
        return float((frame.max(axis=2).astype(int) - frame.min(axis=2)).mean())

    assert spread(_graded(bunny_frame, Grade(contrast=0.5))) > spread(bunny_frame) * 1.1
    assert spread(_graded(bunny_frame, Grade(contrast=-0.5))) < spread(bunny_frame) * 0.9
    assert chroma(_graded(bunny_frame, Grade(saturation=-1.0))) < 2
    assert chroma(_graded(bunny_frame, Grade(saturation=0.5))) > chroma(bunny_frame) * 1.3


def test_user_settings_add_to_a_preset_and_clamp() -> None:
    grade, light = resolve_relight(RelightOp(preset="night", exposure=-5))
    assert grade.exposure == -6 and grade.temperature == PRESETS["night"][0].temperature
    assert light == PRESETS["night"][1]
    own = DirectionalLight(azimuth=0, intensity=1.0)
    assert resolve_relight(RelightOp(preset="golden_hour", light=own))[1] == own


def test_presets_look_like_their_names(bunny_frame: np.ndarray, bigbuckbunny: Path) -> None:
    spec = TransformSpec()
    plan = plan_transform(bigbuckbunny, spec)
    reader = VideoReader(bigbuckbunny, plan.source)
    looks = {
        name: next(relight(plan, RelightOp(preset=name), iter([bunny_frame]), reader))
        for name in ("golden_hour", "blue_hour", "night", "overcast", "noon")
    }
    src = _mean_rgb(bunny_frame)
    warmth = {name: _mean_rgb(f)[0] - _mean_rgb(f)[2] for name, f in looks.items()}
    assert warmth["golden_hour"] > src[0] - src[2] + 10
    assert warmth["blue_hour"] < src[0] - src[2] - 5 and warmth["night"] < src[0] - src[2] - 5
    assert looks["night"].mean() < bunny_frame.mean() * 0.5
    assert looks["blue_hour"].mean() < bunny_frame.mean()
    assert looks["overcast"].mean(axis=2).std() < bunny_frame.mean(axis=2).std()
    assert len({f.tobytes() for f in looks.values()}) == 5


def test_directional_light_lights_the_side_it_comes_from(bunny_frame: np.ndarray) -> None:
    h, w = bunny_frame.shape[:2]
    from_left = LightShader(
        DirectionalLight(azimuth=180, elevation=10, colour=(1, 1, 1), intensity=1.0), w, h
    )
    gain = from_left.gain(bunny_frame)
    assert gain.shape == (h, w, 3) and gain.min() >= 1.0
    assert gain[:, : w // 4].mean() > gain[:, -w // 4 :].mean() + 0.2
    warm = LightShader(DirectionalLight(colour=(1.0, 0.5, 0.2), intensity=1.0), w, h).gain(bunny_frame)
    assert warm[..., 0].mean() > warm[..., 2].mean()


# -- LUT fitting and easing --------------------------------------------------------------------------------


def test_fitted_lut_reproduces_a_grade_and_generalises(bigbuckbunny: Path) -> None:
    reader = VideoReader(bigbuckbunny)
    key, other = reader.frame_at(50), reader.frame_at(110)
    lut = fit_lut(key, _grade_like_a_colourist(key), size=17)
    from shotcraft.metrics import psnr

    assert psnr(apply_lut(key, lut), _grade_like_a_colourist(key)) > 45
    # Another frame of the same shot, graded the same way, is matched almost as well.
    assert psnr(apply_lut(other, lut), _grade_like_a_colourist(other)) > 40


def test_fit_fills_colours_the_keyframe_never_shows() -> None:
    # A keyframe with only dark-to-mid greys and reds; the grade halves blue and lifts red.
    rng = np.random.default_rng(1)
    source = np.zeros((64, 64, 3), np.uint8)
    source[..., 0] = rng.integers(0, 160, (64, 64))
    source[..., 1] = source[..., 2] = rng.integers(0, 120, (64, 64))
    graded = source.astype(np.float64) * [1.2, 1.0, 0.5]
    lut = fit_lut(source, np.clip(graded, 0, 255).astype(np.uint8), size=17)
    white = apply_lut(np.full((1, 1, 3), 250, np.uint8), lut)[0, 0].astype(int)
    # Unseen bright colours follow the same affine trend instead of snapping to anything arbitrary.
    assert white[0] >= 250 and 110 <= white[2] <= 140 and 235 <= white[1] <= 255


def test_timeline_hits_keys_eases_between_and_holds_outside() -> None:
    a, b, c = identity_lut(5), identity_lut(5) * 0.5, identity_lut(5) * 0.9
    timeline = LutTimeline([10, 20, 40], [a, b, c])
    assert np.allclose(timeline.at(0), a) and np.allclose(timeline.at(10), a)
    assert np.allclose(timeline.at(20), b) and np.allclose(timeline.at(60), c)
    series = np.array([timeline.at(i)[4, 4, 4, 0] for i in range(10, 41)])
    assert np.all(np.diff(series[:11]) <= 1e-4)  # falling into the middle key, no overshoot below it
    assert np.all(np.diff(series[10:]) >= -1e-4)  # rising after it
    assert series.min() >= 0.5 * 255 - 1e-3
    with pytest.raises(ValueError, match="increasing"):
        LutTimeline([5, 5], [a, b])


# -- end to end on real footage ------------------------------------------------------------------------------


def test_preset_relight_keeps_frames_fps_and_audio(bigbuckbunny: Path, tmp_path: Path) -> None:
    spec = TransformSpec.model_validate(
        {"operations": [{"op": "relight", "preset": "golden_hour"}], "output": {"preset": "ultrafast"}}
    )
    result = transform(bigbuckbunny, tmp_path / "golden.mp4", spec)
    assert result.engine == "classic"
    report = score(bigbuckbunny, result.path, spec, sample=12)
    assert report.frame_count_equal and report.fps_equal and report.duration_equal
    assert report.audio_identical is True
    # A grade changes colour, not shape or motion.
    assert report.structure_f1 > 0.75 and report.motion_epe < 0.5
    assert 0.8 < report.temporal_ratio < 1.25


def test_keyframe_guided_relight_hits_the_graded_frame(bigbuckbunny: Path, tmp_path: Path) -> None:
    reader = VideoReader(bigbuckbunny)
    key_index = 50  # 2.0 s at 25 fps
    graded = tmp_path / "graded.png"
    Image.fromarray(_grade_like_a_colourist(reader.frame_at(key_index))).save(graded)
    spec = TransformSpec.model_validate(
        {
            "operations": [{"op": "relight", "keyframes": [{"at": {"seconds": 2.0}, "image": str(graded)}]}],
            "output": {"preset": "ultrafast"},
        }
    )
    result = transform(bigbuckbunny, tmp_path / "graded.mp4", spec)
    report = score(bigbuckbunny, result.path, spec, sample=12)
    assert report.frame_count_equal and report.fps_equal and report.audio_identical is True
    assert report.keyframe_psnr[key_index] >= 35
    # The grade carries to frames far from the keyframe (one grade held over the clip).
    late = VideoReader(result.path).frame_at(120)
    from shotcraft.metrics import psnr

    assert psnr(late, _grade_like_a_colourist(reader.frame_at(120))) > 30


def test_two_graded_keyframes_ease_between(small_clip: Path, tmp_path: Path) -> None:
    reader = VideoReader(small_clip)
    warm = tmp_path / "warm.png"
    cool = tmp_path / "cool.png"
    Image.fromarray(_graded(reader.frame_at(5), Grade(temperature=80))).save(warm)
    Image.fromarray(_graded(reader.frame_at(40), Grade(temperature=-80))).save(cool)
    op = RelightOp.model_validate(
        {"keyframes": [{"at": {"frame": 5}, "image": str(warm)}, {"at": {"frame": 40}, "image": str(cool)}]}
    )
    spec = TransformSpec(operations=[op])
    plan = plan_transform(small_clip, spec)
    frames = list(ClassicEngine().transform(plan, VideoReader(small_clip, plan.source)))
    assert len(frames) == 48
    source = list(reader.frames())
    shift = [
        (_mean_rgb(f)[0] - _mean_rgb(f)[2]) - (_mean_rgb(s)[0] - _mean_rgb(s)[2])
        for f, s in zip(frames, source, strict=True)
    ]
    assert shift[0] > 15 and shift[47] < -15
    # Halfway between the keys the grade is about halfway between warm and cool (the LUT easing itself is
    # tested exactly above; here the footage's own changes add a little noise).
    assert abs(shift[22] - (shift[5] + shift[40]) / 2) < 8
    assert np.mean(shift[5:15]) > np.mean(shift[15:25]) > np.mean(shift[25:41])


# -- the engine's dispatch -------------------------------------------------------------------------------------


def test_engine_refuses_what_it_cannot_do(small_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = ClassicEngine()
    assert {"identity", "relight"} <= engine.capabilities()
    reader = VideoReader(small_clip)
    prompt_only = plan_transform(small_clip, TransformSpec(prompt="a rainy night", engine="classic"))
    with pytest.raises(SpecError, match="diffusion engine"):
        engine.transform(prompt_only, reader)
    reframed = plan_transform(
        small_clip,
        TransformSpec.model_validate({"reframe": {"aspect": "9:16"}, "operations": [{"op": "relight"}]}),
    )
    with pytest.raises(EngineUnavailable, match="reframing"):
        engine.transform(reframed, reader)
    import shotcraft.engines.classic as classic

    monkeypatch.setitem(
        classic._STAGES, RelightOp, ("relight", "shotcraft.engines.classic.not_installed", "relight")
    )
    relit = plan_transform(small_clip, TransformSpec(operations=[RelightOp(preset="noon")]))
    with pytest.raises(EngineUnavailable, match="cannot relight"):
        engine.transform(relit, reader)
