"""The latent lock holds at every denoising step, under the scheduler each model ships with."""

from __future__ import annotations

import numpy as np
import pytest

from shotcraft.engines.diffusion import engine_for, run_job
from shotcraft.engines.diffusion import wan as wan_runner
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.engines.diffusion.latent_locks import LatentLock, renoise

torch = pytest.importorskip("torch")


def test_wan_lock_holds_in_the_sample_every_step_starts_from(models_env, monkeypatch):
    """Wan ships UniPC, whose corrector rebuilds each step's starting sample from the one before the
    previous step, where the lock's blend had not happened yet. A probe after every step compares, in the
    fully locked latent cells, the sample that step started from (``last_sample``, what UniPC steps from)
    and the latents handed on with the re-noised source at their noise level."""
    engine = engine_for("wan2.1-vace-1.3b")
    pipe, _ = engine.pipeline("transform")
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler"
    source = np.random.default_rng(1).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    lock_mask = np.zeros((9, 32, 32), np.float32)
    lock_mask[:, :, :16] = 1.0  # latent columns 0-1 of 4
    locks: list[LatentLock] = []
    deviations: list[tuple[float, float]] = []

    def probe(pipe, step, timestep, kwargs):
        (lock,) = locks
        scheduler = pipe.scheduler
        sigmas = scheduler.sigmas
        started = renoise(lock.source, lock.noise, float(sigmas[scheduler.step_index - 1]))
        handed_on = renoise(
            lock.source, lock.noise, float(sigmas[min(scheduler.step_index, len(sigmas) - 1)])
        )
        cells = (..., slice(0, 2))
        deviations.append((
            float((scheduler.last_sample[cells] - started[cells]).abs().max()),
            float((kwargs["latents"][cells] - handed_on[cells]).abs().max()),
        ))  # fmt: skip
        return {"latents": kwargs["latents"]}

    chain = wan_runner.chain_callbacks

    def with_probe(*callbacks):
        locks.extend(c for c in callbacks if isinstance(c, LatentLock))
        return chain(*callbacks, probe)

    monkeypatch.setattr(wan_runner, "chain_callbacks", with_probe)
    job = WindowJob("a red car", 32, 32, 9, 6, 5.0, seed=3, source=source, renoise=0.9, lock=lock_mask)
    run_job(pipe, engine.card, job)
    assert len(deviations) >= 4
    assert deviations == [(0.0, 0.0)] * len(deviations)
    # the corrector is only off for the run that needed it
    assert not pipe.scheduler.disable_corrector


def test_the_outpaint_hold_runs_without_unipcs_corrector_too(models_env, monkeypatch):
    """Outpainting holds the source area to the re-noised source after each step, as a lock does, so the
    corrector (which rebuilds a step from the sample before that blend) must be off while it runs."""
    engine = engine_for("wan2.1-vace-1.3b")
    pipe, _ = engine.pipeline("transform")
    seen: list[bool] = []

    def probe(pipe, step, timestep, kwargs):
        seen.append(step in pipe.scheduler.disable_corrector)
        return {"latents": kwargs["latents"]}

    chain = wan_runner.chain_callbacks
    monkeypatch.setattr(wan_runner, "chain_callbacks", lambda *callbacks: chain(*callbacks, probe))
    source = np.random.default_rng(2).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    outpaint = np.zeros((32, 32), np.float32)
    outpaint[:, 16:] = 1.0
    job = WindowJob("a", 32, 32, 9, 6, 1.0, seed=4, source=source, renoise=0.45, outpaint=outpaint)
    run_job(pipe, engine.card, job)
    assert seen and all(seen)
    assert not pipe.scheduler.disable_corrector
