"""Strength presets are noise levels: denoising starts at the step whose sigma is nearest the preset's
level, whatever the scheduler's shift (Wan's UniPC) or schedule (LTX's), checked on the schedule and on the
timestep the transformer is first called with."""

from __future__ import annotations

import numpy as np
import pytest

from shotcraft.engines.diffusion import engine_for, run_job
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.engines.diffusion.latent_locks import starting_sigma
from shotcraft.spec import STRENGTH_LEVELS

torch = pytest.importorskip("torch")


def _unipc(shift: float):
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift)


@pytest.mark.parametrize("shift", [3.0, 5.0])
def test_every_preset_starts_at_its_sigma_for_both_wan_shifts(shift):
    scheduler = _unipc(shift)
    scheduler.set_timesteps(50)
    grid = scheduler.sigmas[:-1].numpy()
    for preset, level in STRENGTH_LEVELS.items():
        start = starting_sigma(scheduler, 50, level)
        nearest = grid[np.argmin(np.abs(grid - level))]
        assert start == pytest.approx(float(nearest)), preset
        assert abs(start - level) < 0.04, f"{preset}: starts at sigma {start:.3f}, not {level}"


class _FirstCall(Exception):
    pass


def _first_timestep(pipe, job, card, *, stop: bool = False):
    """The timestep the transformer is first called with. ``stop`` ends the job there, for a runner that
    fills ``job.report`` before the pipeline runs (Wan's; LTX's fills it after): the other steps and the
    decode only cost time."""
    seen: list = []

    def record(module, args, kwargs):
        seen.append(kwargs["timestep"])
        if stop:
            raise _FirstCall

    handle = pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    try:
        run_job(pipe, card, job)
    except _FirstCall:
        pass
    finally:
        handle.remove()
    return float(seen[0].flatten()[0]) / 1000.0


@pytest.mark.parametrize("shift", [3.0, 5.0])
def test_wan_transformer_is_first_called_at_the_presets_sigma(models_env, shift):
    engine = engine_for("wan2.1-vace-1.3b")
    pipe, _ = engine.pipeline("transform")
    original = pipe.scheduler
    pipe.scheduler = _unipc(shift)
    try:
        source = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
        for level in (STRENGTH_LEVELS["adhere_1"], STRENGTH_LEVELS["flex_2"]):
            job = WindowJob("a", 32, 32, 9, 30, 1.0, seed=0, source=source, renoise=level)
            first = _first_timestep(pipe, job, engine.card, stop=True)
            assert first == pytest.approx(job.report["start_sigma"], abs=1e-3)
            assert abs(first - level) < 0.05, f"level {level} started at sigma {first:.3f}"
    finally:
        pipe.scheduler = original


def test_ltx_denoise_starts_at_the_presets_sigma_not_a_share_of_its_steps(models_env):
    engine = engine_for("ltx-video-2b")
    pipe, _ = engine.pipeline("transform")
    source = np.random.default_rng(1).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    for level in (STRENGTH_LEVELS["adhere_2"], STRENGTH_LEVELS["flex_2"]):
        job = WindowJob("a", 64, 64, 9, 20, 1.0, seed=0, source=source, renoise=level)
        first = _first_timestep(pipe, job, engine.card)
        assert first == pytest.approx(job.report["start_sigma"], abs=1e-3)
        # LTX's own schedule (linear, then quadratic) is coarse: the start is its step nearest the level.
        grid = pipe.scheduler.sigmas[:-1].numpy()
        assert first == pytest.approx(float(grid[np.argmin(np.abs(grid - level))]), abs=1e-3)
