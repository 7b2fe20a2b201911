"""Fidelity scores: each one tells a faithful output from an unfaithful one."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.metrics import canny_edges, edge_f1, psnr, score
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

runner = CliRunner()


@pytest.fixture(scope="module")
def source_frames(small_clip: Path) -> list[np.ndarray]:
    return list(VideoReader(small_clip).frames())


def _clip(path: Path, frames: list[np.ndarray], **kwargs) -> Path:
    return make_clip(
        path, frames=len(frames), width=160, height=120, content=iter(frames), lossless=True, **kwargs
    )


def test_a_clip_scores_perfectly_against_itself(small_clip: Path) -> None:
    report = score(small_clip, small_clip, sample=4)
    assert report.frame_count_equal and report.fps_equal and report.duration_equal
    assert report.audio_identical is True and report.structure_f1 == 1.0
    assert report.motion_epe == 0.0 and report.temporal_ratio == pytest.approx(1.0)
    assert report.pairs_scored == 12 and report.frames_compared == 48
    json.dumps(report.to_dict())


def test_flicker_shaky_motion_and_lost_edges_are_caught(
    source_frames: list[np.ndarray], tmp_path: Path
) -> None:
    source = _clip(tmp_path / "source.mp4", source_frames)
    flicker = [
        np.clip(f.astype(int) + (25 if i % 2 else -25), 0, 255).astype(np.uint8)
        for i, f in enumerate(source_frames)
    ]
    shaky = [np.roll(f, 3 * (i % 2), axis=1) for i, f in enumerate(source_frames)]
    import cv2

    blurred = [cv2.GaussianBlur(f, (0, 0), 4) for f in source_frames]
    flick = score(source, _clip(tmp_path / "flicker.mp4", flicker), sample=2)
    shake = score(source, _clip(tmp_path / "shaky.mp4", shaky), sample=2)
    blur = score(source, _clip(tmp_path / "blur.mp4", blurred), sample=2)
    same = score(source, source, sample=2)
    assert flick.temporal_ratio > 1.5 * same.temporal_ratio
    assert shake.motion_epe > 1.0 > same.motion_epe + 0.5
    assert blur.structure_f1 < 0.7 < same.structure_f1
    assert shake.frame_count_equal and flick.audio_identical is None


def test_audio_and_timing_differences_are_reported(tmp_path: Path, source_frames: list[np.ndarray]) -> None:
    a = _clip(tmp_path / "a.mp4", source_frames, audio_channels=2)
    b = make_clip(tmp_path / "b.mp4", frames=48, width=160, height=120, footage="bikes", audio_channels=1)
    c = make_clip(tmp_path / "c.mp4", frames=40, width=160, height=120, fps=Fraction(30), footage="bikes")
    ab = score(a, b, sample=48)
    assert ab.audio_identical is False and "packets" in ab.audio_detail
    ac = score(a, c, sample=48)
    assert not ac.frame_count_equal and not ac.fps_equal and ac.audio_identical is False


def test_keyframe_hit_and_locks_from_the_spec(small_clip: Path, tmp_path: Path) -> None:
    reader = VideoReader(small_clip)
    graded = tmp_path / "graded.png"
    Image.fromarray(255 - reader.frame_at(10)).save(graded)
    spec = TransformSpec.model_validate(
        {
            "operations": [{"op": "relight", "keyframes": [{"at": {"frame": 10}, "image": str(graded)}]}],
            "locks": [{"kind": "rect", "x": 0, "y": 0, "width": 40, "height": 40, "feather": 0}],
            "output": {"lossless": True, "preset": "ultrafast"},
        }
    )
    result = transform(small_clip, tmp_path / "inverted.mp4", spec)
    report = score(small_clip, result.path, spec, sample=48)
    assert report.keyframe_psnr[10] > 35 and report.locks_exact is True and math.isinf(report.lock_psnr)
    # Scored against the plain source (no locks, no keyframes), nothing is claimed about either.
    plain = score(small_clip, result.path, sample=48)
    assert plain.keyframe_psnr == {} and plain.locks_exact is None
    # The CLI reads the spec from the take's sidecar when --spec is not given.
    cli = runner.invoke(app, ["score", str(small_clip), str(result.path), "--sample", "24", "--json"])
    assert cli.exit_code == 0, cli.output
    data = json.loads(cli.stdout)
    assert (
        data["locks"]["exact"] is True
        and data["locks"]["psnr"] == "inf"
        and float(data["keyframes"]["10"]) > 35
    )
    table = runner.invoke(app, ["score", str(small_clip), str(result.path), "--sample", "24"])
    assert table.exit_code == 0 and "keyframe hit, frame 10" in table.stdout and "locks exact" in table.stdout


def test_score_cli_bad_input(small_clip: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["score", str(small_clip), str(tmp_path / "nope.mp4")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    bad_spec = tmp_path / "spec.yaml"
    bad_spec.write_text("locks: [{kind: rect, x: 500, y: 500, width: 5, height: 5}]\n")
    result = runner.invoke(app, ["score", str(small_clip), str(small_clip), "--spec", str(bad_spec)])
    assert result.exit_code == 2 and "outside" in result.output


def test_psnr_and_edges() -> None:
    a = np.zeros((32, 32, 3), np.uint8)
    a[8:24, 8:24] = 200
    assert math.isinf(psnr(a, a)) and math.isnan(psnr(a, a, np.zeros((32, 32), bool)))
    assert edge_f1(canny_edges(a), canny_edges(a // 2 + 20)) == 1.0  # darker and flatter: the same edges
    assert edge_f1(canny_edges(a), canny_edges(np.roll(a, 8, axis=1))) < 0.7


def test_pairs_across_a_cut_are_left_out(source_frames: list[np.ndarray], tmp_path: Path) -> None:
    # Across a cut there is no motion to keep: the flow between two shots is noise, and one such pair in
    # a clip weighs like many others (bikes, night: motion error 1.73 px with its 5 cuts, 0.90 px without).
    other = list(
        VideoReader(
            make_clip(tmp_path / "o.mp4", frames=12, width=160, height=120, footage="bigbuckbunny")
        ).frames()
    )
    frames = source_frames[:12] + other
    source = _clip(tmp_path / "two_shots.mp4", frames)
    graded = _clip(
        tmp_path / "graded.mp4", [np.clip(f.astype(int) + 12, 0, 255).astype(np.uint8) for f in frames]
    )
    report = score(source, graded)
    assert report.cut_pairs == 1 and report.pairs_scored == 22
    assert report.motion_epe < 0.3
    assert report.to_dict()["cut_pairs"] == 1
