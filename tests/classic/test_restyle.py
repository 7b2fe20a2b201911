"""Restyle judged against what the look should be on each frame, on real footage.

Known looks (``bench/look_protocol.py``: cv2.stylization, cv2.pencilSketch, posterise + hue turn) are
applied to one or two keyframes; every other frame is compared with the look applied to *that* frame.
EbSynth's figures on the same protocol (``bench/ebsynth_compare.py``, measured on this machine, written
in ``bench/results/ebsynth.json``) are the bar for look fidelity.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from shotcraft.engines.classic.look_video import stabilising_strength
from shotcraft.engines.classic.looks import apply_look
from shotcraft.engines.classic.restyle import motion_keep, residual_detail, restyle
from shotcraft.look_metrics import LookReport, score_look_frames
from shotcraft.media.read import VideoReader
from shotcraft.plan import plan_transform
from shotcraft.signals.flow import compute_flow, flow_confidence, warping_error
from shotcraft.signals.structure import detail_energy, edge_agreement
from shotcraft.spec import RestyleOp, SpecError, TransformSpec

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from look_protocol import JUDGED_FRAMES, LOOKS, keyframes  # noqa: E402

EBSYNTH = json.loads((BENCH / "results" / "ebsynth.json").read_text())
#: The first frames of bikes.mp4's shots after its first one.
BIKES_CUTS = [30, 76, 137, 187, 242]


def _keyed_restyle(clip: Path, look: str, keying: str, folder: Path, last: int | None = None, **settings):
    """Restyle ``clip`` from ``look`` applied on the keying's keyframes; frames 0..last with their truths."""
    reader = VideoReader(clip)
    sources = list(reader.frames(0, reader.video.frame_count if last is None else last + 1))
    with ThreadPoolExecutor(1) as pool:
        truths = pool.submit(_look_frames, LOOKS[look], sources)  # made while the render runs
        plan, keys, outputs = _render(clip, look, keying, folder, last, **settings)
        return plan, keys, sources, outputs, truths.result()


def _look_frames(look: Callable[[np.ndarray], np.ndarray], frames: list[np.ndarray]) -> list[np.ndarray]:
    """``look`` applied to each frame, on every core: OpenCV's stylization and pencil sketch use one."""
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return list(pool.map(look, frames))


def _render(clip: Path, look: str, keying: str, folder: Path, last: int | None = None, **settings):
    """The plan, the keyframe indices and the restyled frames 0..last (all of them without ``last``)."""
    reader = VideoReader(clip)
    keys = keyframes(reader.video.frame_count, keying)
    for k in keys:
        Image.fromarray(LOOKS[look](reader.frame_at(k))).save(folder / f"{look}-{k}.png")
    spec = TransformSpec.model_validate(
        {"keyframes": [{"at": {"frame": k}, "image": folder / f"{look}-{k}.png"} for k in keys], **settings}
    )
    plan = plan_transform(reader.info, spec)
    frames = restyle(plan, None, reader)
    stop = reader.video.frame_count if last is None else last + 1
    outputs = [frame for _, frame in zip(range(stop), frames, strict=False)]
    frames.close()
    return plan, keys, outputs


@pytest.fixture(scope="module")
def keyed_restyle(tmp_path_factory: pytest.TempPathFactory):
    """:func:`_keyed_restyle` for the tests of real footage, where several tests judge the same render (and
    the same look's truths) in different ways: each render, each clip's frames and each look's truths on
    them are made once for the module. Adherences left unset are the spec's defaults, so an explicit
    default is the same render."""

    @functools.cache
    def sources(clip: Path, stop: int) -> list[np.ndarray]:
        return list(VideoReader(clip).frames(0, stop))

    @functools.cache
    def truths(clip: Path, look: str, stop: int) -> list[np.ndarray]:
        return _look_frames(LOOKS[look], sources(clip, stop))

    @functools.cache
    def render(clip: Path, look: str, keying: str, last: int | None, motion, structure):
        folder = tmp_path_factory.mktemp("keys")
        return _render(
            clip, look, keying, folder, last, motion_adherence=motion, structure_adherence=structure
        )

    def run(clip: Path, look: str, keying: str, last: int | None = None, **adherences):
        spec = TransformSpec.model_validate(adherences)
        plan, keys, outputs = render(
            clip, look, keying, last, spec.motion_adherence, spec.structure_adherence
        )
        stop = len(outputs)
        return plan, keys, sources(clip, stop), outputs, truths(clip, look, stop)

    return run


def _check(clip_name: str, look: str, keying: str, report: LookReport, keys, outputs, truths, judged) -> None:
    for k in keys:
        if k < len(outputs):
            assert np.array_equal(outputs[k], truths[k]), f"keyframe {k} not hit exactly"
    bar = EBSYNTH[clip_name][look][keying]
    for t in judged:
        assert report.psnr[t] >= bar[str(t)]["psnr"], (t, report.psnr[t], bar[str(t)])
    assert report.flicker_vs_reference <= 1.2, report.summary()
    # Warping error (contrast-normalised) within 1.3x the source's own or, for a look that is itself less
    # steady than that (pencil strokes amplify sensor noise), within 1.2x the look applied frame by frame.
    bound = max(1.3, 1.2 * report.reference_warping_vs_source)
    assert report.warping_vs_source <= bound, report.summary()


@pytest.mark.parametrize("keying", ["one", "two"])
@pytest.mark.parametrize("look", ["stylization", "pencil", "posterise_hue"])
def test_carphone_keeps_the_look_on_every_frame(carphone, keyed_restyle, look, keying) -> None:
    """One shot of real footage: every frame keeps 0.8-1.25 of the look's detail, and the look is closer to
    the truth than EbSynth's at frames 10, 30 and 60."""
    plan, keys, sources, outputs, truths = keyed_restyle(carphone, look, keying)
    assert len(outputs) == plan.frame_count
    report = score_look_frames(sources, outputs, truths)
    retention = np.array(report.retention)
    assert retention.min() >= 0.8 and retention.max() <= 1.25, report.summary()
    judged = [t for t in JUDGED_FRAMES if t < plan.frame_count and (look, keying) != ("posterise_hue", "two")]
    _check("carphone", look, keying, report, keys, outputs, truths, judged)


def test_carphone_posterise_between_two_keys_is_close_to_ebsynth(carphone, keyed_restyle) -> None:
    """Posterise keyed at both ends: beyond EbSynth at 10 and 30, within 0.5 dB of it mid-way (t = 60),
    where EbSynth blends two near-perfect copies of a pixel-wise look."""
    _, _keys, sources, outputs, truths = keyed_restyle(carphone, "posterise_hue", "two")
    report = score_look_frames(sources, outputs, truths)
    bar = EBSYNTH["carphone"]["posterise_hue"]["two"]
    assert report.psnr[10] >= bar["10"]["psnr"] and report.psnr[30] >= bar["30"]["psnr"]
    assert report.psnr[60] >= bar["60"]["psnr"] - 0.5, (report.psnr[60], bar["60"])


@pytest.mark.slow
@pytest.mark.parametrize(("look", "keying"), [("stylization", "one"), ("pencil", "two")])
def test_bikes_keeps_the_look_in_its_shot_and_carries_style_to_other_shots(
    bikes, tmp_path, look, keying
) -> None:
    """Real street footage with five cuts: in the keyed shots every frame keeps the look's detail; the
    shots without a keyframe take the look learned from the most similar keyframe (a notice says so), and
    every judged frame is closer to the truth than EbSynth's synthesis from the keyframes."""
    plan, keys, sources, outputs, truths = _keyed_restyle(bikes, look, keying, tmp_path, last=120)
    report = score_look_frames(sources, outputs, truths)
    in_keyed_shot = np.array(report.retention[: BIKES_CUTS[0]])
    assert in_keyed_shot.min() >= 0.8 and in_keyed_shot.max() <= 1.25, in_keyed_shot
    # Other shots: the style arrives (never a wash), though its detail varies with content it never saw.
    assert min(report.retention) >= 0.5, report.summary()
    _check("bikes", look, keying, report, keys, outputs, truths, JUDGED_FRAMES)
    assert any("30-75 are a shot without a keyframe" in n for n in plan.notices), plan.notices


def test_a_new_object_gets_the_style(carphone, tmp_path) -> None:
    """Content the keyframe never saw (a bright square entering from the left after the keyframe) is drawn
    in the look, not left as the source or smeared from the keyframe: its outline is dark as the pencil
    look draws edges."""
    reader = VideoReader(carphone)
    frames = list(reader.frames(0, 40))
    for t in range(10, 40):
        x = 4 * (t - 10)
        frames[t] = frames[t].copy()
        frames[t][40:80, x : x + 40] = 255
    clip = _write(tmp_path / "entering.mp4", frames, reader.video.fps)
    _, _, sources, outputs, _ = _keyed_restyle(clip, "pencil", "one", tmp_path)
    truth = LOOKS["pencil"](sources[35])
    edge = (cv2.Canny(truth, 50, 150) > 0)[35:85, 80:130]
    assert edge.any()
    assert abs(detail_energy(outputs[35][35:85, 80:130]) / detail_energy(truth[35:85, 80:130]) - 1) < 0.35


def _write(path: Path, frames: list[np.ndarray], fps) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "8"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_a_long_span_between_keyframes_renders_every_frame(clip_factory, tmp_path) -> None:
    """Keyframes 89 frames apart: every frame arrives and the far keyframe is hit exactly."""
    clip = clip_factory("long.mp4", frames=90, width=96, height=64, footage="bikes")
    _plan, _keys, _, outputs, truths = _keyed_restyle(clip, "stylization", "two", tmp_path)
    assert len(outputs) == 90 and np.array_equal(outputs[89], truths[89])


def _temporal(sources, frames) -> float:
    errors = []
    for t in range(0, len(frames) - 1, 4):
        forward = compute_flow(sources[t], sources[t + 1], scale=1.0, preset="medium")
        backward = compute_flow(sources[t + 1], sources[t], scale=1.0, preset="medium")
        errors.append(warping_error(frames[t], frames[t + 1], forward, flow_confidence(forward, backward)))
    return float(np.mean(errors))


def test_adherence_settings_have_monotone_effects(carphone, keyed_restyle) -> None:
    """More motion adherence: steadier along the source's flow. More structure adherence: closer to the
    current frame's edges (the keyframe's own strokes give way)."""
    motion = {}
    for m in ("off", 1, 5, 9):
        _, _, sources, outputs, _ = keyed_restyle(carphone, "pencil", "one", motion_adherence=m)
        motion[m] = _temporal(sources, outputs)
    assert motion["off"] > motion[1] > motion[5] > motion[9], motion
    edges = {}
    for s in ("off", 5, 9):
        _, _, sources, outputs, _ = keyed_restyle(carphone, "pencil", "one", structure_adherence=s)
        edges[s] = float(
            np.mean([edge_agreement(o, f) for o, f in zip(outputs[5::10], sources[5::10], strict=True)])
        )
    assert edges["off"] < edges[5] < edges[9], edges


def test_adherence_mappings_are_monotone() -> None:
    keeps = [motion_keep(m) for m in ("off", *range(1, 10))]
    pulls = [stabilising_strength(m) for m in ("off", *range(1, 10))]
    details = [residual_detail(s) for s in ("off", *range(1, 10))]
    assert keeps == sorted(keeps) and keeps[0] == 0.0 and keeps[-1] == 1.0
    assert pulls == sorted(pulls) and pulls[0] == 0.0 and pulls[-1] < 0.5
    assert details == sorted(details, reverse=True) and details[0] == 1.0


@pytest.mark.parametrize("look", ["watercolour", "pencil", "cartoon", "film_print"])
def test_built_in_look_is_at_full_strength_on_every_frame(bikes, look) -> None:
    """The look applied to frame t is the target for frame t: every frame keeps its detail (no fading into
    a wash), and the output is no less steady than the look filtered frame by frame."""
    reader = VideoReader(bikes)
    op = RestyleOp(look=look)
    plan = plan_transform(reader.info, TransformSpec(operations=[op]))
    frames = restyle(plan, op, reader)
    sources = list(reader.frames(0, 60))
    outputs = [frame for _, frame in zip(range(60), frames, strict=False)]
    frames.close()
    truths = _look_frames(functools.partial(apply_look, look=look), sources)
    report = score_look_frames(sources, outputs, truths)
    assert report.retention_min >= 0.8 and report.retention_max <= 1.25, report.summary()
    assert report.psnr_min >= 25.0, report.summary()
    assert report.flicker_vs_reference <= 1.05, report.summary()


def test_grain_moves_with_the_scene(clip_factory) -> None:
    """Paper grain is carried along the motion: on a clip panning right, the grain of frame t+1 is frame
    t's shifted with the content, not fixed on the screen."""
    clip = clip_factory("pan.mp4", frames=12, width=128, height=96, footage="bikes")
    reader = VideoReader(clip)
    op = RestyleOp(look="pencil")
    plan = plan_transform(reader.info, TransformSpec(operations=[op], motion_adherence="off"))
    outputs = list(restyle(plan, op, reader))
    sources = list(reader.frames())
    assert _temporal(sources, outputs) < _temporal(sources, [apply_look(f, "pencil") for f in sources])


def test_reference_look_moves_colour_towards_the_reference(small_clip, tmp_path) -> None:
    reference = np.zeros((32, 32, 3), np.uint8)
    reference[..., 0], reference[..., 1], reference[..., 2] = 200, 120, 40  # warm orange
    reference[::2] = (230, 150, 60)
    path = tmp_path / "reference.png"
    Image.fromarray(reference).save(path)
    reader = VideoReader(small_clip)
    op = RestyleOp(reference=Path(path))
    plan = plan_transform(reader.info, TransformSpec(operations=[op]))
    frames = restyle(plan, op, reader)
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
