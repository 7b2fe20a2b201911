"""Run one :class:`~shotcraft.engines.diffusion.job.WindowJob` on ``LTXConditionPipeline``.

Fixed frames become ``LTXVideoCondition`` items at their frame index (strength 1); a held overlap at the
start of a window becomes one video condition at index 0 (its longest ``8k+1`` prefix). The re-noise level
is the pipeline's own ``denoise_strength`` with the source latents as ``latents``; locks pin the locked
tokens with :class:`~shotcraft.engines.diffusion.latent_locks.LatentLock` (LTX packs latents into tokens
and puts its extra conditioning tokens first, so the lock is packed the same way and applied to the
trailing video tokens). LTX-Video has no control-video or reference-image input: structure follows from
the re-noise level, and references are reported as unused by the engine.

The re-noise level is a noise level (sigma), as for Wan: the pipeline's ``get_timesteps``, which cuts by a
share of the steps, is replaced for the call by a cut at the step nearest that sigma
(:func:`~shotcraft.engines.diffusion.latent_locks.start_index`). The lock's noise is the pipeline's own
first draw from the job's generator, so locked latents follow the same noise the pipeline re-noised with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np

from shotcraft.engines.diffusion.job import WindowJob, as_uint8_video, pil
from shotcraft.engines.diffusion.latent_locks import LatentLock, chain_callbacks, latent_mask, start_index
from shotcraft.errors import EngineUnavailable


def vae_ratios(pipe: Any) -> tuple[int, int]:
    """(temporal, spatial) compression of the pipeline's VAE."""
    return int(pipe.vae_temporal_compression_ratio), int(pipe.vae_spatial_compression_ratio)


def encode(pipe: Any, frames: np.ndarray) -> Any:
    """Normalised latents ``(1, C, T_lat, h, w)`` of ``frames``, as LTX normalises them."""
    import torch

    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    video = video.to(device=pipe._execution_device, dtype=pipe.vae.dtype)
    with torch.no_grad():
        z = pipe.vae.encode(video).latent_dist.mode().float()
    vae = pipe.vae
    return pipe._normalize_latents(z, vae.latents_mean, vae.latents_std, vae.config.scaling_factor).float()


def conditions(job: WindowJob, temporal: int) -> list[Any]:
    """``LTXVideoCondition`` items for the job's fixed frames."""
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    items = []
    run = 0
    while run in job.fixed:
        run += 1
    held = ((run - 1) // temporal) * temporal + 1 if run > 1 else 0
    if held > 1:
        clip = [pil(job.fixed[j]) for j in range(held)]
        items.append(LTXVideoCondition(video=clip, frame_index=0, strength=1.0))
    for index in sorted(job.fixed):
        if index < held:
            continue
        items.append(LTXVideoCondition(image=pil(job.fixed[index]), frame_index=index, strength=1.0))
    return items


@contextmanager
def start_at_sigma(pipe: Any, level: float) -> Iterator[dict[str, float]]:
    """Make the pipeline's ``denoise_strength`` cut start at the step whose sigma is nearest ``level``.
    Yields a dict whose ``sigma`` is the starting noise level once the pipeline has cut its schedule."""
    info: dict[str, float] = {}

    def get_timesteps(sigmas: Any, timesteps: Any, num_inference_steps: int, strength: float) -> Any:
        start = start_index(sigmas, level)
        info["sigma"] = float(sigmas[start])
        return sigmas[start:], timesteps[start:], num_inference_steps - start

    pipe.get_timesteps = get_timesteps
    try:
        yield info
    finally:
        del pipe.get_timesteps  # back to the class's method


def run_ltx(pipe: Any, job: WindowJob, frame_rate: Fraction | float = 24) -> np.ndarray:
    """Generate ``job.frames`` frames at ``frame_rate`` (the model frames' rate, which sets the time
    coordinates of the tokens); returns ``(T, H, W, 3)`` uint8."""
    import torch

    if job.outpaint is not None:
        raise EngineUnavailable("LTX-Video cannot outpaint (it takes no mask): use a Wan VACE model")
    temporal, spatial = vae_ratios(pipe)
    kwargs = job.pipeline_kwargs()
    kwargs["frame_rate"] = float(frame_rate)
    items = conditions(job, temporal)
    if items:
        kwargs["conditions"] = items
    if pipe.vae.config.timestep_conditioning:
        kwargs.update(decode_timestep=0.05, decode_noise_scale=0.025)
    lock = None
    level = 1.0
    if job.source is not None and (job.renoise < 1.0 or job.lock is not None):
        x0 = encode(pipe, job.source)
        if job.renoise < 1.0:
            level = job.renoise
            kwargs["latents"] = x0
            kwargs["denoise_strength"] = job.renoise
        if job.lock is not None:
            # The pipeline's first draw from its generator (job.generator(), seeded like kwargs["generator"])
            # is the noise it starts from, re-noised source or not: the lock follows the same noise.
            noise = torch.randn(x0.shape, generator=job.generator(), dtype=torch.float32).to(x0.device)
            mask = torch.from_numpy(latent_mask(job.lock, temporal, spatial))[None, None].to(x0.device)
            p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
            lock = LatentLock(x0, mask, noise, pack=lambda t: pipe._pack_latents(t, p, pt))
            job.report["latent_mask"] = mask
    kwargs["callback_on_step_end"] = chain_callbacks(lock, job.step_progress())
    with start_at_sigma(pipe, level) as start:
        frames = pipe(**kwargs).frames
    if "sigma" in start:
        job.report["start_sigma"] = start["sigma"]
    if lock is not None:
        job.report["locked_steps"] = lock.blended_steps
    job.report["conditions"] = [(c.frame_index, "video" if c.video is not None else "image") for c in items]
    return as_uint8_video(frames)


__all__ = ["conditions", "encode", "run_ltx", "start_at_sigma", "vae_ratios"]
