"""Outpainting starts the new area from pure noise (Wan); LTX-Video refuses a reframe in one line, runs
its tokens at the model's frame rate, and locks with the same noise its pipeline re-noised with."""

from __future__ import annotations

import numpy as np
import pytest

from shotcraft.engines.diffusion import engine_for, run_job
from shotcraft.engines.diffusion import ltx as ltx_runner
from shotcraft.engines.diffusion import wan as wan_runner
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.engines.diffusion.latent_locks import LatentLock, renoise
from shotcraft.errors import EngineUnavailable
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

torch = pytest.importorskip("torch")


def _video(frames: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def _forwards(pipe, card, job) -> list[dict]:
    seen: list[dict] = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(
            {
                "latents": kwargs["hidden_states"].clone(),
                "sigma": float(kwargs["timestep"].flatten()[0]) / 1000,
            }
        ),
        with_kwargs=True,
    )
    try:
        run_job(pipe, card, job)
    finally:
        handle.remove()
    return seen


def test_outpainted_area_starts_from_pure_noise_and_the_source_joins_at_the_presets_sigma(models_env):
    engine = engine_for("wan2.1-vace-1.3b")
    pipe, _ = engine.pipeline("transform")
    source = _video(9, 32, seed=2)
    outpaint = np.zeros((32, 32), np.float32)
    outpaint[:, 16:] = 1.0  # the right half is new: latent columns 2-3
    job = WindowJob("a", 32, 32, 9, 12, 1.0, seed=4, source=source, renoise=0.45, outpaint=outpaint)
    seen = _forwards(pipe, engine.card, job)
    noise = torch.randn(
        (1, 16, 3, 4, 4), generator=torch.Generator().manual_seed(5)
    )  # the runner's: seed + 1
    assert seen[0]["sigma"] == pytest.approx(1.0, abs=2e-3)  # the whole schedule runs
    assert torch.allclose(seen[0]["latents"][..., 2:], noise[..., 2:])  # new area: pure noise
    sigma0 = job.report["start_sigma"]
    at_start = min(seen, key=lambda s: abs(s["sigma"] - sigma0))  # timesteps are whole thousandths
    assert at_start["sigma"] == pytest.approx(sigma0, abs=2e-3) and at_start is not seen[0]
    x0 = wan_runner.encode(pipe, source)
    want = renoise(x0, noise, sigma0)
    assert torch.allclose(
        at_start["latents"][..., :2], want[..., :2], atol=1e-5
    )  # the source area joins here
    assert not torch.allclose(at_start["latents"][..., 2:], want[..., 2:], atol=1e-2)


def test_ltx_refuses_a_reframe_before_any_work(models_env, clip_factory, tmp_path, monkeypatch):
    from fractions import Fraction

    source = clip_factory("wide.mp4", frames=9, width=64, height=32, fps=Fraction(24))
    engine_cls = type(engine_for("ltx-video-2b"))
    monkeypatch.setattr(engine_cls, "pipeline", lambda self, task: pytest.fail("loaded a pipeline"))
    spec = TransformSpec(
        prompt="a beach", engine="diffusion", model="ltx-video-2b", reframe={"aspect": "1:1"}
    )
    with pytest.raises(EngineUnavailable, match="ltx-video-2b cannot reframe"):
        transform(source, tmp_path / "x.mp4", spec)
    assert not (tmp_path / "x.mp4").exists()


def test_ltx_time_coordinates_use_the_models_frame_rate(models_env):
    engine = engine_for("ltx-video-2b")
    pipe, _ = engine.pipeline("transform")
    seen: list = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["video_coords"]), with_kwargs=True
    )
    try:
        run_job(pipe, engine.card, WindowJob("a", 64, 64, 17, 1, 1.0, seed=0, fixed={8: _video(1, 64)[0]}))
    finally:
        handle.remove()
    times = seen[0][0, 0]
    assert engine.card.fps == 24
    assert torch.allclose(
        times[:4] * 24, torch.tensor(8.0)
    )  # the condition's tokens sit at frame 8 of 24 fps


def test_ltx_lock_follows_the_noise_the_pipeline_started_from(models_env, monkeypatch):
    engine = engine_for("ltx-video-2b")
    pipe, _ = engine.pipeline("transform")
    made: list[LatentLock] = []

    class Recording(LatentLock):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(ltx_runner, "LatentLock", Recording)
    lock = np.zeros((9, 64, 64), np.float32)
    lock[:, :, :32] = 1.0
    job = WindowJob("a", 64, 64, 9, 6, 1.0, seed=9, source=_video(9, 64, seed=3), renoise=0.55, lock=lock)
    seen = _forwards(pipe, engine.card, job)
    (recorded,) = made
    start = recorded.pack(renoise(recorded.source, recorded.noise, job.report["start_sigma"]))
    assert torch.allclose(seen[0]["latents"], start.to(seen[0]["latents"].dtype), atol=1e-5)
