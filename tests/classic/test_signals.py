"""Signals: DIS flow at a chosen scale, forward-backward confidence, scene cuts, the on-disk flow cache,
structure maps."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from shotcraft.media.read import VideoReader
from shotcraft.media.synth import pattern_frames
from shotcraft.signals.cache import FlowCache, clip_identity
from shotcraft.signals.cuts import is_cut
from shotcraft.signals.flow import (
    FlowSettings,
    compute_flow,
    compute_flow_lowres,
    flow_confidence,
    upsample_flow,
    warp,
    warping_error,
)
from shotcraft.signals.structure import detail_layer, edge_agreement, edge_map, luminance


def _pair(shift: tuple[int, int] = (3, 2)) -> tuple[np.ndarray, np.ndarray]:
    a = cv2.GaussianBlur(next(pattern_frames(1, 160, 120, seed=1)), (0, 0), 1.5)
    return a, np.roll(a, shift, axis=(0, 1))


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_flow_recovers_a_known_shift_at_any_scale(scale: float) -> None:
    a, b = _pair((2, 3))  # 2 px down, 3 px right
    flow = compute_flow(a, b, scale=scale, preset="medium")
    assert flow.shape == (120, 160, 2)
    inner = flow[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.25)
    assert np.median(inner[..., 1]) == pytest.approx(2.0, abs=0.25)
    # Warping b back by the flow reproduces a away from the wrapped border.
    assert warping_error(a[20:-20, 20:-20], warp(b, flow)[20:-20, 20:-20], np.zeros_like(inner)) < 4.0


def test_lowres_flow_upsamples_to_the_full_size_flow() -> None:
    a, b = _pair()
    settings = FlowSettings(scale=0.5, preset="fast")
    low = compute_flow_lowres(a, b, settings)
    assert low.shape == (60, 80, 2)
    np.testing.assert_allclose(upsample_flow(low, 160, 120), compute_flow(a, b, scale=0.5, preset="fast"))


def test_flow_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="scale"):
        FlowSettings(scale=2.0)
    with pytest.raises(ValueError, match="preset"):
        FlowSettings(preset="slowest")  # type: ignore[arg-type]
    assert FlowSettings(0.25, "medium").key != FlowSettings().key


def test_confidence_marks_occluded_pixels() -> None:
    """A square slides 8 px over a static background: where it uncovers background, the forward step from
    the first frame lands on the square and the backward flow does not undo it."""
    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (0, 0), 1.0)
    square = cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (0, 0), 1.0)
    a, b = background.copy(), background.copy()
    a[28:68, 30:70] = square
    b[28:68, 38:78] = square
    forward = compute_flow(a, b, scale=1.0, preset="medium")
    backward = compute_flow(b, a, scale=1.0, preset="medium")
    conf = flow_confidence(forward, backward)
    covered = conf[32:64, 72:76]  # background in a, covered by the square in b
    static = conf[5:20, 5:120]
    assert covered.mean() < 0.5 < static.mean()


def test_flow_cache_computes_once_and_is_shared(tmp_path, carphone) -> None:
    reader = VideoReader(carphone)
    cache = FlowCache(reader.info, root=tmp_path)
    walked = [(i, pair) for i, _frame, pair in cache.walk(reader, 0, 4)]
    assert [i for i, _ in walked] == [0, 1, 2, 3]
    assert walked[0][1] is None and [p.index for _, p in walked[1:]] == [0, 1, 2]
    files = sorted(cache.folder.glob("pair_*.npy"))
    assert [f.name for f in files] == ["pair_000000.npy", "pair_000001.npy", "pair_000002.npy"]
    assert np.load(files[0]).dtype == np.float16
    # A second cache (another operation) on a copy of the clip reads the same files: identity is content.
    copy = tmp_path / "renamed.mp4"
    shutil.copy(carphone, copy)
    other = FlowCache(copy, root=tmp_path)
    assert other.folder == cache.folder
    stored = other.get(1)
    assert stored is not None
    np.testing.assert_allclose(stored.forward, walked[2][1].forward, atol=0.02)
    assert stored.forward_full().shape == (144, 176, 2)
    assert 0.0 <= float(stored.forward_confidence().min()) <= float(stored.forward_confidence().max()) <= 1.0
    # Other settings live elsewhere; a missing pair is a miss, a damaged file is recomputed.
    assert FlowCache(carphone, FlowSettings(scale=1.0), root=tmp_path).folder != cache.folder
    assert cache.get(5) is None
    files[0].write_bytes(b"not a flow")
    assert cache.get(0) is None
    frames = list(reader.frames(0, 2))
    assert cache.pair(0, *frames).forward.shape == (72, 88, 2)
    assert cache.get(0) is not None
    with pytest.raises(IndexError):
        cache.get(reader.video.frame_count - 1)


def test_clip_identity_follows_content(carphone, small_clip) -> None:
    from shotcraft.media.probe import probe

    assert clip_identity(probe(carphone)) == clip_identity(probe(carphone))
    assert clip_identity(probe(carphone)) != clip_identity(probe(small_clip))


def test_structure_maps() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 255
    edges = edge_map(image)
    assert edges[:, 29:31].min() == pytest.approx(1.0, abs=1e-5)
    assert edges[:, :25].max() == 0.0
    lum = luminance(image)
    assert lum.shape == (40, 60) and lum.max() == pytest.approx(1.0, abs=1e-5)
    # The guided filter keeps a strong step in the base (edge-preserving) and fine texture in the detail.
    rng = np.random.default_rng(0)
    textured = np.clip(lum + rng.normal(0, 0.02, lum.shape).astype(np.float32), 0, 1)
    base, detail = detail_layer(textured)
    np.testing.assert_allclose(base + detail, textured, atol=1e-5)
    assert abs(base[:, 31:].mean() - base[:, :29].mean()) > 0.9
    assert detail[:, 5:25].std() > 0.5 * 0.02


def test_edge_agreement_orders_by_shared_structure(carphone) -> None:
    frame = VideoReader(carphone).frame_at(10)
    blurred = cv2.GaussianBlur(frame, (0, 0), 2.0)
    flat = np.full_like(frame, 128)
    assert edge_agreement(frame, frame) == pytest.approx(1.0)
    assert edge_agreement(frame, flat) == 0.0
    assert 0.2 < edge_agreement(blurred, frame) < 0.95
    assert edge_agreement(np.roll(frame, 40, axis=1), frame) < edge_agreement(blurred, frame)


def test_cuts_are_found_where_bikes_changes_shot(bikes, tmp_path) -> None:
    """bikes.mp4 has five hard cuts among fast street motion; exactly those pairs are cuts, whether the
    caller has the flow (a flow cache walk, at its working size) or only the frames (text tracks: full-size
    grey frames, the flow computed where needed)."""
    reader = VideoReader(bikes)
    settings = FlowSettings(scale=0.5, preset="fast")
    cache = FlowCache(reader.info, settings, root=tmp_path)
    size = settings.working_size(reader.video.width, reader.video.height)
    with_flow, frames_alone, previous, previous_grey = [], [], None, None
    for index, frame, pair in cache.walk(reader):
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if pair is not None and is_cut(previous, small, pair.forward, pair.backward):
            with_flow.append(index)
        if previous_grey is not None and is_cut(previous_grey, grey):
            frames_alone.append(index)
        previous, previous_grey = small, grey
    assert with_flow == frames_alone == [30, 76, 137, 187, 242]


@pytest.mark.parametrize("clip", ["bigbuckbunny", "carphone"])
def test_one_shot_clips_have_no_cuts(clip, request) -> None:
    """A bunny walking out of his burrow, a talking head in a moving car: one shot each."""
    frames = VideoReader(request.getfixturevalue(clip)).frames()
    previous = next(frames)
    cuts = []
    for index, frame in enumerate(frames, start=1):
        if is_cut(previous, frame):
            cuts.append(index)
        previous = frame
    assert cuts == []
