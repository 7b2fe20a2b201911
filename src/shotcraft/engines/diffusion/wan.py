"""Run one :class:`~shotcraft.engines.diffusion.job.WindowJob` on a Wan pipeline.

- ``WanVACEPipeline`` takes everything: the control video and the fixed frames go in ``video``, with
  ``mask`` 0 where the output must keep what it is given (keyframes, the held overlap, locked pixels, the
  source area of a reframe) and 1 where it generates; reference images go in ``reference_images``.
  All of these form one hint, which ``conditioning_scale`` scales as a whole, so it stays 1 and the
  control strength is applied to the control video alone (blended toward grey, VACE's "no control").
- ``WanImageToVideoPipeline`` takes a first frame and optionally a last frame.
- ``WanPipeline`` takes a prompt only.

For all three, a re-noise level below 1 starts from the source latents noised to that level, and a lock
mask pins the locked latents to the re-noised source after every step
(:class:`~shotcraft.engines.diffusion.latent_locks.LatentLock`). With an outpainting mask the new area
has no source to re-noise, so it starts from pure noise: the whole schedule runs, and the source area is
held to the re-noised source until the schedule reaches the re-noise level (:class:`HoldUntil`), from
where both denoise together.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from shotcraft.engines.diffusion.job import WindowJob, as_uint8_video, pil
from shotcraft.engines.diffusion.latent_locks import (
    LatentLock,
    chain_callbacks,
    latent_mask,
    partial_schedule,
    renoise,
    starting_sigma,
    steps_from_the_lock,
)
from shotcraft.errors import EngineUnavailable

_GREY = 127


def vae_ratios(pipe: Any) -> tuple[int, int]:
    """(temporal, spatial) compression of the pipeline's VAE."""
    return int(pipe.vae_scale_factor_temporal), int(pipe.vae_scale_factor_spatial)


def to_tensor(frames: np.ndarray, pipe: Any) -> Any:
    """``(T, H, W, 3)`` uint8 → ``(1, 3, T, H, W)`` in [-1, 1] on the VAE's device and dtype."""
    import torch

    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    return video.to(device=pipe._execution_device, dtype=pipe.vae.dtype)


def encode(pipe: Any, frames: np.ndarray) -> Any:
    """Normalised latents ``(1, C, T_lat, h, w)`` of ``frames``, as the Wan pipelines normalise them."""
    import torch

    with torch.no_grad():
        z = pipe.vae.encode(to_tensor(frames, pipe)).latent_dist.mode().float()
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean, device=z.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(config.latents_std, device=z.device).view(1, -1, 1, 1, 1)
    return (z - mean) / std


def vace_inputs(job: WindowJob) -> tuple[list[Any] | None, list[Any] | None]:
    """The ``video`` and ``mask`` lists for WanVACEPipeline (None, None when nothing constrains it)."""
    if job.control is None and not job.fixed and job.lock is None and job.outpaint is None:
        return None, None
    h, w = job.height, job.width
    control = None
    if job.control is not None:
        faded = _GREY + (job.control.astype(np.float32) - _GREY) * job.control_scale
        control = np.clip(faded + 0.5, 0, 255).astype(np.uint8)
    video, masks = [], []
    for j in range(job.frames):
        if j in job.fixed:
            video.append(pil(job.fixed[j]))
            masks.append(pil(np.zeros((h, w), np.uint8)))
            continue
        frame = control[j] if control is not None else np.full((h, w, 3), _GREY, np.uint8)
        keep = np.zeros((h, w), np.float32)
        if job.lock is not None:
            keep = np.maximum(keep, job.lock[j])
        if job.outpaint is not None and job.source is not None:
            keep = np.maximum(keep, 1.0 - job.outpaint)
        if keep.any():
            assert job.source is not None, "locks and reframes keep source pixels, so they need the source"
            frame = np.where(keep[..., None] > 0.5, job.source[j], frame)
        video.append(pil(frame))
        masks.append(pil(((1.0 - keep) * 255 + 0.5).astype(np.uint8)))
    return video, masks


class HoldUntil(LatentLock):
    """A :class:`LatentLock` that lets go once the schedule is below ``until``: the held area then
    starts its own denoising at that noise level, as if the schedule had been cut there."""

    def __init__(self, source: Any, mask: Any, noise: Any, *, until: float, lead: int = 0):
        super().__init__(source, mask, noise, lead=lead)
        self.until = until

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.sigma_now(pipe) < self.until - 1e-6:
            return {"latents": kwargs["latents"]}
        return super().__call__(pipe, step, timestep, kwargs)


def run_wan(pipe: Any, job: WindowJob) -> np.ndarray:
    """Generate ``job.frames`` frames; returns ``(T, H, W, 3)`` uint8."""
    import torch

    kind = type(pipe).__name__
    kwargs = job.pipeline_kwargs()
    lead = 0
    if kind == "WanVACEPipeline":
        video, masks = vace_inputs(job)
        kwargs.update(video=video, mask=masks)
        if job.references:
            kwargs["reference_images"] = [pil(r) for r in job.references]
            lead = len(job.references)
    elif kind == "WanImageToVideoPipeline":
        extra = sorted(set(job.fixed) - {0, job.frames - 1})
        if 0 not in job.fixed or extra:
            raise EngineUnavailable("image-to-video models take a first frame (and a last frame) only")
        kwargs["image"] = pil(job.fixed[0])
        if job.frames - 1 in job.fixed:
            kwargs["last_image"] = pil(job.fixed[job.frames - 1])
    elif job.fixed or job.control is not None:
        raise EngineUnavailable("text-to-video models take a prompt only: use a VACE or LTX-Video model")

    lock = hold = None
    schedule_level = 1.0
    if job.source is not None and (job.renoise < 1.0 or job.lock is not None):
        temporal, spatial = vae_ratios(pipe)
        x0 = encode(pipe, job.source)
        shape = (x0.shape[0], x0.shape[1], x0.shape[2] + lead, *x0.shape[3:])
        noise = torch.randn(shape, generator=job.generator(1), dtype=torch.float32).to(x0.device)
        if job.renoise < 1.0:
            sigma0 = starting_sigma(pipe.scheduler, job.steps, job.renoise)
            job.report["start_sigma"] = sigma0
            if job.outpaint is None:
                schedule_level = job.renoise
                padded = torch.cat([torch.zeros_like(noise[:, :, :lead]), x0], dim=2)
                kwargs["latents"] = renoise(padded, noise, sigma0)
            else:
                kwargs["latents"] = noise
                kept = np.broadcast_to(1.0 - job.outpaint, (job.frames, *job.outpaint.shape))
                area = torch.from_numpy(latent_mask(kept, temporal, spatial))[None, None].to(x0.device)
                hold = HoldUntil(x0, area, noise[:, :, lead:], until=sigma0, lead=lead)
        if job.lock is not None:
            mask = torch.from_numpy(latent_mask(job.lock, temporal, spatial))[None, None].to(x0.device)
            lock = LatentLock(x0, mask, noise[:, :, lead:], lead=lead)
            job.report["latent_mask"] = mask
    callbacks = chain_callbacks(hold, lock, job.step_progress())
    kwargs["callback_on_step_end"] = callbacks
    # The outpaint hold blends latents after each step as the lock does, so UniPC's corrector would undo it too.
    blended = lock is not None or hold is not None
    corrector_off = steps_from_the_lock(pipe.scheduler, job.steps) if blended else nullcontext()
    with partial_schedule(pipe.scheduler, schedule_level), corrector_off:
        frames = pipe(**kwargs).frames
    if lock is not None:
        job.report["locked_steps"] = lock.blended_steps
    return as_uint8_video(frames)


__all__ = ["HoldUntil", "encode", "run_wan", "vace_inputs", "vae_ratios"]
