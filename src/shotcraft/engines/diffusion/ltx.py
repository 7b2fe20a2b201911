"""Run one :class:`~shotcraft.engines.diffusion.job.WindowJob` on ``LTXConditionPipeline``.

Fixed frames become ``LTXVideoCondition`` items at their frame index (strength 1); a held overlap at the
start of a window becomes one video condition at index 0 (its longest ``8k+1`` prefix). The re-noise level
is the pipeline's own ``denoise_strength`` with the source latents as ``latents``; locks pin the locked
tokens with :class:`~shotcraft.engines.diffusion.latent_locks.LatentLock` (LTX packs latents into tokens
and puts its extra conditioning tokens first, so the lock is packed the same way and applied to the
trailing video tokens). LTX-Video has no control-video or reference-image input: structure follows from
the re-noise level, and references are reported as unused by the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shotcraft.engines.diffusion.job import WindowJob, as_uint8_video, pil
from shotcraft.engines.diffusion.latent_locks import LatentLock, chain_callbacks, latent_mask


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


def run_ltx(pipe: Any, job: WindowJob) -> np.ndarray:
    """Generate ``job.frames`` frames; returns ``(T, H, W, 3)`` uint8."""
    import torch

    temporal, spatial = vae_ratios(pipe)
    kwargs = job.pipeline_kwargs()
    items = conditions(job, temporal)
    if items:
        kwargs["conditions"] = items
    if pipe.vae.config.timestep_conditioning:
        kwargs.update(decode_timestep=0.05, decode_noise_scale=0.025)
    lock = None
    if job.source is not None and (job.renoise < 1.0 or job.lock is not None):
        x0 = encode(pipe, job.source)
        if job.renoise < 1.0:
            kwargs["latents"] = x0
            kwargs["denoise_strength"] = job.renoise
        if job.lock is not None:
            noise = torch.randn(x0.shape, generator=job.generator(1), dtype=torch.float32).to(x0.device)
            mask = torch.from_numpy(latent_mask(job.lock, temporal, spatial))[None, None].to(x0.device)
            p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
            lock = LatentLock(x0, mask, noise, pack=lambda t: pipe._pack_latents(t, p, pt))
            job.report["latent_mask"] = mask
    kwargs["callback_on_step_end"] = chain_callbacks(lock, job.step_progress())
    frames = pipe(**kwargs).frames
    if lock is not None:
        job.report["locked_steps"] = lock.blended_steps
    job.report["conditions"] = [(c.frame_index, "video" if c.video is not None else "image") for c in items]
    return as_uint8_video(frames)


__all__ = ["conditions", "encode", "run_ltx", "vae_ratios"]
