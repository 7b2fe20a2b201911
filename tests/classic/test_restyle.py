"""Restyle by keyframes on real footage: keyframes hit exactly, temporal consistency close to the source's,
and the two adherence settings with visible, monotone effects; built-in looks that do not flicker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from shotcraft.engines.classic.looks import apply_look, cartoon
from shotcraft.engines.classic.restyle import motion_keep, restyle, structure_gain
from shotcraft.media.read import VideoReader
from shotcraft.media.write import VideoWriter
from shotcraft.plan import plan_transform
from shotcraft.signals.flow import compute_flow, flow_confidence, warping_error
from shotcraft.signals.structure import edge_agreement
from shotcraft.spec import OutputSpec, RestyleOp, SpecError, TransformSpec

#: Temporal error is measured on every STEP-th frame pair, with flow *independent* of the one restyle
#: follows (DIS medium at full size vs fast at half size), so following one's own flow earns nothing.
STEP = 8
EDGE_FRAMES = range(4, 246, 16)


def _stylise(frame: np.ndarray, hue: int) -> np.ndarray:
    """A strong stylisation: cel shading with ink lines, hue rotated and saturation pushed hard."""
    hsv = cv2.cvtColor(cartoon(frame), cv2.COLOR_RGB2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + hue) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * 3 + 60, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


@pytest.fixture(scope="module")
def bikes_job(bikes, tmp_path_factory):
    """bikes.mp4 with stylised keyframes at frames 0 and 249, reference flows, a shared flow cache."""
    folder = tmp_path_factory.mktemp("restyle")
    reader = VideoReader(bikes)
    keys = {0: _stylise(reader.frame_at(0), 0), 249: _stylise(reader.frame_at(249), 60)}
    for index, image in keys.items():
        Image.fromarray(image).save(folder / f"key{index}.png")
    reference: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    source_errors = []
    previous = None
    for t, frame in enumerate(reader.frames()):
        if previous is not None and (t - 1) % STEP == 0:
            forward = compute_flow(previous, frame, scale=1.0, preset="medium")
            backward = compute_flow(frame, previous, scale=1.0, preset="medium")
            reference[t - 1] = (forward, flow_confidence(forward, backward))
            source_errors.append(warping_error(previous, frame, *reference[t - 1]))
        previous = frame
    return {
        "folder": folder,
        "reader": reader,
        "keys": keys,
        "reference": reference,
        "source_error": float(np.mean(source_errors)),
        "cache": folder / "flow-cache",
    }


def _spec(job, **settings) -> TransformSpec:
    keyframes = [{"at": {"frame": i}, "image": job["folder"] / f"key{i}.png"} for i in job["keys"]]
    return TransformSpec.model_validate({"keyframes": keyframes, **settings})


def _scores(job, frames: Iterator[np.ndarray]) -> dict[str, float]:
    """Mean warping error over the reference pairs and mean edge agreement with the source, streaming."""
    errors, edges = [], []
    previous = None
    for t, (frame, source) in enumerate(zip(frames, job["reader"].frames(), strict=True)):
        if previous is not None and t - 1 in job["reference"]:
            errors.append(warping_error(previous, frame, *job["reference"][t - 1]))
        if t in EDGE_FRAMES:
            edges.append(edge_agreement(frame, source))
        previous = frame
    return {"warp": float(np.mean(errors)), "edges": float(np.mean(edges))}


def _run(job, **settings) -> dict[str, float]:
    plan = plan_transform(job["reader"].info, _spec(job, **settings))
    return _scores(job, restyle(plan, None, job["reader"], cache_root=job["cache"]))


@pytest.fixture(scope="module")
def default_take(bikes_job, tmp_path_factory):
    """The restyle at default settings, written losslessly, and its scores (shared by the tests below)."""
    job = bikes_job
    plan = plan_transform(job["reader"].info, _spec(job))
    out = tmp_path_factory.mktemp("take") / "restyled.mp4"
    with VideoWriter(out, plan.source, OutputSpec(lossless=True)) as writer:
        writer.write_all(restyle(plan, None, job["reader"], cache_root=job["cache"]))
    result = VideoReader(out)
    return {"reader": result, "scores": _scores(job, result.frames()), "plan": plan}


def test_keyframes_hit_exactly_and_motion_is_as_steady_as_the_source(bikes_job, default_take) -> None:
    job, result = bikes_job, default_take["reader"]
    assert result.video.frame_count == default_take["plan"].frame_count == 250
    for index, key in job["keys"].items():
        mse = np.mean((result.frame_at(index).astype(np.float64) - key) ** 2)
        psnr = np.inf if mse == 0 else 10 * np.log10(255**2 / mse)
        assert psnr >= 40.0, f"keyframe {index}: {psnr:.1f} dB"
    scores = default_take["scores"]
    assert scores["warp"] <= 1.5 * job["source_error"], (scores, job["source_error"])
    # The look really travelled: mid-clip frames carry the keyframes' vivid palette, not the grey source's.
    middle = cv2.cvtColor(result.frame_at(125), cv2.COLOR_RGB2HSV)[..., 1].mean()
    source = cv2.cvtColor(job["reader"].frame_at(125), cv2.COLOR_RGB2HSV)[..., 1].mean()
    assert middle > 1.8 * source
    # bikes.mp4 has five cuts: the four shots between the keyframes' shots are named as keyless.
    keyless = [n for n in default_take["plan"].notices if "without a keyframe" in n]
    assert [n.split()[2] for n in keyless] == ["30-75", "76-136", "137-186", "187-241"], keyless


@pytest.mark.slow
def test_adherence_settings_have_monotone_effects(bikes_job, default_take) -> None:
    job, default = bikes_job, default_take["scores"]  # defaults: motion 5, structure 5
    motion = {m: _run(job, motion_adherence=m)["warp"] for m in ("off", 1, 9)} | {5: default["warp"]}
    assert motion["off"] > motion[1] > motion[5] > motion[9], motion
    # 9 follows the flow with no re-settling and adds no fresh detail noise: a visible step, not a tie.
    assert motion[9] < 0.9 * motion[5], motion
    structure = {s: _run(job, structure_adherence=s)["edges"] for s in ("off", 9)} | {5: default["edges"]}
    assert structure["off"] < structure[5] < structure[9], structure


#: The first frames of bikes.mp4's shots after its first one.
BIKES_CUTS = [30, 76, 137, 187, 242]


def test_keyframe_look_stops_at_a_scene_cut(bikes, tmp_path) -> None:
    """A keyframe painted with a fine checkerboard carries it through its own shot; the frames after the cut
    get only its colour mapping (which cannot draw a checkerboard)."""
    reader = VideoReader(bikes)
    squares = ((np.indices((272, 640)) // 4).sum(axis=0) % 2).astype(bool)
    key = np.where(squares[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    Image.fromarray(key).save(tmp_path / "checker.png")
    spec = TransformSpec.model_validate(
        {"keyframes": [{"at": {"frame": 0}, "image": tmp_path / "checker.png"}]}
    )
    plan = plan_transform(reader.info, spec)
    frames = restyle(plan, None, reader, cache_root=tmp_path / "cache")

    def fine_texture(frame: np.ndarray) -> float:
        grey = frame.astype(np.float32).mean(axis=-1)
        return float(np.abs(grey - cv2.blur(grey, (8, 8))).mean())

    texture = {
        t: fine_texture(frame) for t, frame in zip(range(36), frames, strict=False) if t in (28, 29, 31, 35)
    }
    frames.close()
    assert min(texture[28], texture[29]) > 4 * max(texture[31], texture[35]), texture


def test_built_in_look_puts_a_keyframe_after_each_cut(bikes, tmp_path) -> None:
    reader = VideoReader(bikes)
    op = RestyleOp(look="film_print")
    plan = plan_transform(reader.info, TransformSpec(operations=[op]))
    frames = restyle(plan, op, reader, cache_root=tmp_path)
    for (t, frame), source in zip(enumerate(frames), reader.frames(0, 80), strict=False):
        if t in (29, 30, 76):
            # Each shot's first frame is a keyframe of its own: the look exactly, not the previous shot's.
            assert np.array_equal(frame, apply_look(source, "film_print")) == (t != 29), t
    frames.close()


def test_adherence_mappings_are_monotone() -> None:
    keeps = [motion_keep(m) for m in ("off", *range(1, 10))]
    gains = [structure_gain(s) for s in ("off", *range(1, 10))]
    assert keeps == sorted(keeps) and keeps[0] == 0.0 and keeps[-1] == 1.0
    assert gains == sorted(gains) and gains[0] == 0.0 and gains[-1] == 1.0


def test_built_in_look_is_propagated_without_flicker(small_clip, tmp_path) -> None:
    """A look painted on a few keyframes and carried along the flow is steadier than the same look
    filtered onto every frame (paper grain and outlines swim when each frame is filtered on its own)."""
    reader = VideoReader(small_clip)
    spec = TransformSpec(operations=[RestyleOp(look="watercolour")])
    plan = plan_transform(reader.info, spec)
    propagated = list(restyle(plan, spec.operations[0], reader, cache_root=tmp_path))
    assert len(propagated) == plan.frame_count
    source = list(reader.frames())
    per_frame = [apply_look(f, "watercolour") for f in source]
    assert np.array_equal(propagated[0], per_frame[0])  # frame 0 is an automatic keyframe

    def steadiness(frames: list[np.ndarray]) -> float:
        errors = []
        for t in range(0, len(frames) - 1, 3):
            forward = compute_flow(source[t], source[t + 1], scale=1.0, preset="medium")
            backward = compute_flow(source[t + 1], source[t], scale=1.0, preset="medium")
            errors.append(
                warping_error(frames[t], frames[t + 1], forward, flow_confidence(forward, backward))
            )
        return float(np.mean(errors))

    assert steadiness(propagated) < 0.8 * steadiness(per_frame)


def test_reference_look_moves_colour_towards_the_reference(small_clip, tmp_path) -> None:
    reference = np.zeros((32, 32, 3), np.uint8)
    reference[..., 0], reference[..., 1], reference[..., 2] = 200, 120, 40  # warm orange
    reference[::2] = (230, 150, 60)
    path = tmp_path / "reference.png"
    Image.fromarray(reference).save(path)
    reader = VideoReader(small_clip)
    op = RestyleOp(reference=Path(path))
    plan = plan_transform(reader.info, TransformSpec(operations=[op]))
    frames = restyle(plan, op, reader, cache_root=tmp_path / "cache")
    target = reference.reshape(-1, 3).mean(axis=0)
    for (t, frame), source in zip(enumerate(frames), reader.frames(), strict=True):
        if t % 12 == 5:
            distance = np.abs(frame.reshape(-1, 3).mean(axis=0) - target).sum()
            assert distance < 0.5 * np.abs(source.reshape(-1, 3).mean(axis=0) - target).sum()


def test_restyle_without_any_look_is_refused(small_clip) -> None:
    reader = VideoReader(small_clip)
    plan = plan_transform(reader.info, TransformSpec(operations=[RestyleOp(look="pencil")]))
    with pytest.raises(SpecError, match="keyframes, a look"):
        restyle(plan, RestyleOp(), reader)
