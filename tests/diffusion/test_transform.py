"""The diffusion engine's plumbing with tiny random Wan VACE and LTX condition pipelines on the CPU.

These check that things reach the model where they should (lock masks at latent positions, keyframes at
latent indices on both frame grids), that windows stitch without losing or repeating frames, and the
output contract end to end: frame count, fps, audio and exact locked pixels.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from shotcraft.engines.diffusion import engine_for, run_job
from shotcraft.engines.diffusion import wan as wan_runner
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.engines.diffusion.windows import plan_windows
from shotcraft.errors import EngineUnavailable
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.pipeline import transform
from shotcraft.spec import Keyframe, RectLock, TimePoint, TransformSpec

torch = pytest.importorskip("torch")


def _video(frames: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def test_lock_mask_pins_source_latents_at_the_locked_positions(models_env, monkeypatch):
    engine = engine_for("wan2.1-vace-1.3b")
    pipe, _ = engine.pipeline("transform")
    source = _video(9, 32)
    lock = np.zeros((9, 32, 32), np.float32)
    lock[:, :, :16] = 1.0  # left half: latent columns 0-1 of 4
    captured = {}

    def capture(pipe, step, timestep, kwargs):
        captured["latents"] = kwargs["latents"].clone()
        return {"latents": kwargs["latents"]}

    chain = wan_runner.chain_callbacks
    monkeypatch.setattr(wan_runner, "chain_callbacks", lambda *cbs: chain(*cbs, capture))
    job = WindowJob("a red car", 32, 32, 9, 2, 5.0, seed=3, source=source, renoise=0.7, lock=lock)
    run_job(pipe, engine.card, job)
    mask = job.report["latent_mask"][0, 0]
    assert mask.shape == (3, 4, 4)
    assert bool((mask[:, :, :2] == 1).all()) and bool((mask[:, :, 2:] == 0).all())
    assert job.report["locked_steps"] >= 1
    x0 = wan_runner.encode(pipe, source)
    final = captured["latents"]
    # The last step ends at noise 0: under the lock the latents *are* the source's; elsewhere they are not.
    assert torch.equal(final[..., :2], x0[..., :2].to(final.dtype))
    assert not torch.allclose(final[..., 2:], x0[..., 2:].to(final.dtype), atol=1e-3)


def _capture_forward(transformer, store):
    def hook(module, args, kwargs):
        store.append(kwargs)

    return transformer.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("frame", [0, 4, 5])
def test_vace_keyframe_lands_at_its_latent_index(models_env, frame):
    engine = engine_for("wan2.1-vace-1.3b")
    pipe, _ = engine.pipeline("transform")
    control = np.full((9, 32, 32, 3), 90, np.uint8)
    key = _video(1, 32, seed=frame)[0]
    controls = []
    for fixed in ({}, {frame: key}):
        seen: list = []
        handle = _capture_forward(pipe.transformer, seen)
        try:
            run_job(
                pipe, engine.card, WindowJob("a", 32, 32, 9, 1, 1.0, seed=0, control=control, fixed=fixed)
            )
        finally:
            handle.remove()
        controls.append(seen[0]["control_hidden_states"][:, :16])  # the "inactive" (kept) latents
    changed = [
        t for t in range(controls[0].shape[2]) if not torch.equal(controls[0][:, :, t], controls[1][:, :, t])
    ]
    assert changed[0] == engine.card.latent_index(frame)


@pytest.mark.parametrize("frame", [3, 8, 16])
def test_ltx_keyframe_is_a_condition_at_its_frame_index(models_env, frame):
    engine = engine_for("ltx-video-2b")
    pipe, _ = engine.pipeline("transform")
    seen: list = []
    handle = _capture_forward(pipe.transformer, seen)
    try:
        job = WindowJob("a", 64, 64, 17, 1, 1.0, seed=0, fixed={frame: _video(1, 64)[0]})
        run_job(pipe, engine.card, job)
    finally:
        handle.remove()
    coords = seen[0]["video_coords"][0]  # (3, tokens): time (seconds), y, x
    tokens_per_frame = 2 * 2
    video_tokens = engine.card.latent_frames(17) * tokens_per_frame
    extra = coords.shape[1] - video_tokens
    assert extra == tokens_per_frame  # one image condition, one latent frame of tokens
    assert torch.allclose(coords[0, :extra] * 24, torch.tensor(float(frame)))  # the card's 24 fps
    assert job.report["conditions"] == [(frame, "image")]


def test_windows_cover_every_frame_once():
    for total, window, grid in [(161, 81, 4), (250, 41, 4), (17, 9, 4), (300, 121, 8), (9, 9, 8), (1, 9, 4)]:
        emitted = []
        for w in plan_windows(total, window=window, overlap=2 * grid + 1, grid=grid):
            assert w.length <= window and (w.length - 1) % grid == 0 and w.start <= w.emit_from
            emitted.extend(range(w.emit_from, w.stop))
        assert emitted == list(range(total))


def test_too_many_keyframes_spread_over_more_windows():
    keys = list(range(0, 81, 2))  # 41 keyframes in 81 frames
    plain = plan_windows(81, window=81, overlap=9, grid=4)
    spread = plan_windows(81, window=81, overlap=9, grid=4, keyframes=keys, capacity=18)
    assert len(plain) == 1 and len(spread) > 1
    for w in spread:
        assert sum(w.emit_from <= k < w.stop for k in keys) <= 18 or w.length == 5


def test_ten_seconds_come_back_as_250_frames_with_audio_and_exact_lock(
    models_env, clip_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("SHOTCRAFT_WINDOW", "41")
    source = clip_factory("ten_s.mp4", frames=250, width=16, height=16, fps=Fraction(25), audio_channels=2)
    spec = TransformSpec.model_validate({
        "prompt": "a red car at night", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": 7,
        "locks": [RectLock(x=0, y=0, width=8, height=16, feather=0)], "output": {"lossless": True},
        "keyframes": [Keyframe(at=TimePoint(seconds=4.0), image=_still(tmp_path))],
    })  # fmt: skip
    stages: dict[str, int] = {}
    result = transform(source, tmp_path / "out.mp4", spec, progress=lambda s, d, t: stages.update({s: t}))
    out = probe(result.path)
    assert out.video.frame_count == 250 and out.video.fps == 25 and out.video.duration == 10
    assert stages["window"] >= 3 and stages["denoise"] >= 1
    assert _audio_packets(result.path) == _audio_packets(source)
    for got, want in zip(VideoReader(result.path).frames(), VideoReader(source).frames(), strict=True):
        assert np.array_equal(got[:, :8], want[:, :8])


def _still(folder):
    from PIL import Image

    path = folder / "key.png"
    Image.fromarray(_video(1, 16, seed=5)[0]).save(path)
    return path


def _audio_packets(path):
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def test_ltx_transform_keeps_frame_count(models_env, clip_factory, tmp_path):
    source = clip_factory("ltx.mp4", frames=30, width=64, height=64, fps=Fraction(30))
    spec = TransformSpec(prompt="rain", engine="diffusion", model="ltx-video-2b", seed=1, strength="flex_1")
    result = transform(source, tmp_path / "ltx.mp4", spec)
    assert probe(result.path).video.frame_count == 30
    assert any("no control video" in n for n in result.notices)


def test_text_to_video_model_refuses_a_source_clip(models_env, small_clip, tmp_path):
    spec = TransformSpec(prompt="rain", engine="diffusion", model="wan2.1-t2v-1.3b")
    with pytest.raises(EngineUnavailable, match="cannot transform a source clip.*wan2.1-vace-1.3b"):
        transform(small_clip, tmp_path / "x.mp4", spec)


def test_reframe_outpaints_to_the_new_aspect_with_the_lock_exact(models_env, clip_factory, tmp_path):
    source = clip_factory("wide.mp4", frames=9, width=32, height=16, fps=Fraction(16), audio_channels=2)
    spec = TransformSpec.model_validate({
        "prompt": "a beach", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": 2,
        "reframe": {"aspect": "1:1"}, "locks": [RectLock(x=0, y=0, width=16, height=16, feather=0)],
        "output": {"lossless": True},
    })  # fmt: skip
    result = transform(source, tmp_path / "square.mp4", spec)
    out = probe(result.path).video
    assert (out.width, out.height, out.frame_count) == (32, 32, 9)
    assert _audio_packets(result.path) == _audio_packets(source)
    for got, want in zip(VideoReader(result.path).frames(), VideoReader(source).frames(), strict=True):
        assert np.array_equal(got[8:24, :16], want[:, :16])  # the source sits 8 rows down on the canvas
