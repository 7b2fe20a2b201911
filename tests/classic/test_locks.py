"""Locks on real relit output: locked pixels come back exactly on lossless output, feathered just outside."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.metrics import score
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec


def _relit(locks: list[dict], lossless: bool = True) -> TransformSpec:
    return TransformSpec.model_validate(
        {
            "operations": [{"op": "relight", "preset": "night"}],
            "locks": locks,
            "output": {"lossless": lossless, "preset": "ultrafast"},
        }
    )


def test_rect_lock_is_bit_exact_on_lossless_output(small_clip: Path, tmp_path: Path) -> None:
    spec = _relit([{"kind": "rect", "x": 10, "y": 10, "width": 60, "height": 40, "feather": 4}])
    result = transform(small_clip, tmp_path / "locked.mp4", spec)
    report = score(small_clip, result.path, spec, sample=8)
    assert report.locks_exact is True and report.lock_max_abs_diff == 0
    assert report.frame_count_equal and report.audio_identical is True
    out, src = VideoReader(result.path).frame_at(30), VideoReader(small_clip).frame_at(30)
    assert np.array_equal(out[10:50, 10:70], src[10:50, 10:70])
    # Outside the lock the night grade darkened the frame; in the 4 px feather the two are blended.
    assert out[80:, 100:].mean() < src[80:, 100:].mean() * 0.6
    band = out[30, 71:73].astype(int), src[30, 71:73].astype(int)
    far = out[30, 100].astype(int)
    assert np.all(band[0] <= band[1] + 1) and band[0].sum() > far.sum()


def test_polygon_and_mask_clip_locks_on_real_output(small_clip: Path, tmp_path: Path) -> None:
    mask_frames = []
    for i in range(48):
        mask = np.zeros((120, 160, 3), np.uint8)
        mask[60:110, 20 + i : 60 + i] = 255  # a box sliding right, one pixel a frame
        mask_frames.append(mask)
    mask_clip = make_clip(
        tmp_path / "mask.mp4", frames=48, width=160, height=120, lossless=True, content=iter(mask_frames)
    )
    spec = _relit(
        [
            {"kind": "polygon", "points": [(100, 10), (150, 10), (150, 50)], "feather": 0},
            {"kind": "mask", "path": str(mask_clip), "feather": 0},
        ]
    )
    result = transform(small_clip, tmp_path / "locked.mp4", spec)
    report = score(small_clip, result.path, spec, sample=16)
    assert report.locks_exact is True
    out, src = VideoReader(result.path).frame_at(40), VideoReader(small_clip).frame_at(40)
    assert np.array_equal(out[60:110, 60:100], src[60:110, 60:100])
    assert not np.array_equal(out[60:110, 20:40], src[60:110, 20:40])  # the box has moved on from there


def test_lossy_output_keeps_locks_close_but_reports_honestly(small_clip: Path, tmp_path: Path) -> None:
    spec = _relit([{"kind": "rect", "x": 0, "y": 0, "width": 80, "height": 60}], lossless=False)
    result = transform(small_clip, tmp_path / "lossy.mp4", spec)
    report = score(small_clip, result.path, spec, sample=16)
    assert report.lock_psnr > 35
    assert report.lock_max_abs_diff > 0 and report.locks_exact is False
