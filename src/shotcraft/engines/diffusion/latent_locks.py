"""Locks in latent space: the re-noised source blended back under the lock mask at every denoising step.

Peer tools hand the model a mask and hope; the kept region still drifts in colour because the model
repaints it. Here, after each scheduler step, the latents under the (latent-resolution) lock mask are
replaced by the source latents noised to the step's current noise level, so at the last step (noise 0)
they *are* the source latents. Pixel paste-back in :mod:`shotcraft.finishing.locks` then makes the locked
pixels exact; this step makes the region around them agree with the source, so the feathered seam has
nothing to hide.

The same machinery starts a transform part-way down the noise schedule (the strength preset): the
source latents noised to the starting level are the initial latents, and the schedule is cut to begin
there (:func:`partial_schedule`).

>>> import numpy as np
>>> masks = np.zeros((9, 32, 32), np.float32); masks[:, :, :16] = 1.0
>>> m = latent_mask(masks, temporal=4, spatial=8)
>>> m.shape, float(m[:, :, :2].min()), float(m[:, :, 2:].max())
((3, 4, 4), 1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: Packs a ``(B, C, T, h, w)`` tensor the way the pipeline's latents are laid out (LTX packs tokens).
Packer = Callable[[Any], Any]


def latent_groups(frames: int, temporal: int) -> list[range]:
    """Pixel frames covered by each latent frame of a causal video VAE: ``[0]``, then runs of ``temporal``."""
    groups = [range(0, 1)]
    start = 1
    while start < frames:
        groups.append(range(start, min(frames, start + temporal)))
        start += temporal
    return groups


def latent_mask(masks: np.ndarray, temporal: int, spatial: int) -> np.ndarray:
    """A ``(T, H, W)`` pixel lock mask as ``(T_lat, H/spatial, W/spatial)``: the mean over each latent
    cell's pixels and frames (a cell fully inside the lock is exactly 1, fully outside exactly 0)."""
    t, h, w = masks.shape
    hh, ww = h // spatial, w // spatial
    cropped = masks[:, : hh * spatial, : ww * spatial].astype(np.float32)
    pooled = cropped.reshape(t, hh, spatial, ww, spatial).mean(axis=(2, 4))
    return np.stack([pooled[list(g)].mean(axis=0) for g in latent_groups(t, temporal)])


def renoise(x0: Any, noise: Any, sigma: float) -> Any:
    """The flow-matching forward process: ``(1 - sigma) * x0 + sigma * noise``."""
    return (1.0 - sigma) * x0 + sigma * noise


class LatentLock:
    """A ``callback_on_step_end`` that pins the locked latents to the re-noised source.

    ``source`` and ``mask`` are ``(1, C, T, h, w)`` and ``(1, 1, T, h, w)`` tensors for the video part;
    ``lead`` is how many latent frames the pipeline keeps in front of the video (VACE reference images)
    and ``pack`` lays a video tensor out like the pipeline's latents (LTX: tokens), whose video tokens
    come *last* (LTX puts its extra conditioning tokens first).
    """

    def __init__(self, source: Any, mask: Any, noise: Any, *, lead: int = 0, pack: Packer | None = None):
        self.source, self.mask, self.noise = source, mask, noise
        self.lead, self.pack = lead, pack
        self.blended_steps = 0

    def sigma_now(self, pipe: Any) -> float:
        """Noise level of the latents the scheduler just produced."""
        scheduler = pipe.scheduler
        index = scheduler.step_index
        sigmas = scheduler.sigmas
        return float(sigmas[min(index, len(sigmas) - 1)])

    def blend(self, latents: Any, sigma: float) -> Any:
        target = renoise(self.source, self.noise, sigma).to(latents.dtype)
        mask = self.mask.to(latents.dtype)
        if self.pack is not None:
            target, mask = self.pack(target), self.pack(mask.expand_as(self.source))
            video = latents[:, -target.shape[1] :]
            blended = mask * target + (1 - mask) * video
            return latents.clone().index_copy_(
                1, _arange(latents, latents.shape[1] - target.shape[1]), blended
            )
        video = latents[:, :, self.lead :]
        blended = mask * target + (1 - mask) * video
        out = latents.clone()
        out[:, :, self.lead :] = blended
        return out

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.blended_steps += 1
        return {"latents": self.blend(kwargs["latents"], self.sigma_now(pipe))}


@contextmanager
def steps_from_the_lock(scheduler: Any, steps: int) -> Iterator[None]:
    """Make ``scheduler`` step from the latents the lock hands it, for one run of ``steps`` steps.

    UniPC (Wan's scheduler) corrects each step's starting sample by rebuilding it from the sample before
    the previous step (its ``last_sample``), taken before the lock's blend, so the blend was thrown away
    (locked cells drifted 0.24 from the re-noised source after one step on the tiny Wan VACE). Its
    corrector is turned off for the run, the stock ``disable_corrector`` option: what is left is UniPC's
    multistep predictor, still second order, with the same model calls. Schedulers with no corrector
    (FlowMatchEuler, LTX's) already step from the latents they are given and are left alone.
    """
    if not hasattr(scheduler, "disable_corrector"):
        yield
        return
    original = scheduler.disable_corrector
    scheduler.disable_corrector = range(steps + 1)  # every step index the run can reach
    try:
        yield
    finally:
        scheduler.disable_corrector = original


def _arange(latents: Any, start: int) -> Any:
    import torch

    return torch.arange(start, latents.shape[1], device=latents.device)


def chain_callbacks(*callbacks: Callable[..., dict[str, Any]] | None) -> Callable[..., dict[str, Any]]:
    """One ``callback_on_step_end`` running several in order, each seeing the previous one's latents."""
    active = [c for c in callbacks if c is not None]

    def run(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(kwargs)
        for callback in active:
            kwargs.update(callback(pipe, step, timestep, kwargs) or {})
        return {"latents": kwargs["latents"]}

    return run


def start_index(sigmas: Any, level: float) -> int:
    """The step whose noise level is nearest ``level`` (ties: the quieter one), so denoising starts at that
    noise level whatever the scheduler's shift; 0 (the whole schedule) for ``level`` >= 1.

    ``sigmas`` are the scheduler's, one per step plus the final 0. A level is a noise level, not a share of
    the steps: with Wan's shift of 3, skipping 85 % of the steps would start at sigma 0.37, not 0.15.

    >>> start_index([1.0, 0.8, 0.5, 0.2, 0.0], 0.3)
    3
    >>> start_index([1.0, 0.8, 0.5, 0.2, 0.0], 1.0), start_index([1.0, 0.8, 0.5, 0.2, 0.0], 0.01)
    (0, 3)
    """
    steps = [float(s) for s in sigmas][:-1] or [1.0]
    if level >= 1.0:
        return 0
    return min(range(len(steps)), key=lambda i: (abs(steps[i] - level), steps[i]))


@contextmanager
def partial_schedule(scheduler: Any, level: float) -> Iterator[dict[str, float]]:
    """Make ``scheduler.set_timesteps`` start part-way down the schedule. Yields a dict whose ``sigma`` is
    filled with the starting noise level once the pipeline has set its timesteps.

    The schedule itself is cut (timesteps *and* sigmas) rather than entered at a begin index, because
    multistep solvers (UniPC, which Wan ships with) size their order from the steps left in the schedule.
    """
    original = scheduler.set_timesteps
    info: dict[str, float] = {}

    def set_timesteps(num_inference_steps: int, *args: Any, **kwargs: Any) -> None:
        original(num_inference_steps, *args, **kwargs)
        start = start_index(scheduler.sigmas, level)
        info["start"] = start
        if start == 0:
            info["sigma"] = float(scheduler.sigmas[0])
            return
        scheduler.timesteps = scheduler.timesteps[start:]
        scheduler.sigmas = scheduler.sigmas[start:]
        scheduler._step_index = None
        scheduler._begin_index = None
        if hasattr(scheduler, "num_inference_steps"):
            scheduler.num_inference_steps = len(scheduler.timesteps)
        info["sigma"] = float(scheduler.sigmas[0])

    scheduler.set_timesteps = set_timesteps
    try:
        yield info
    finally:
        del scheduler.set_timesteps  # back to the class's method


def starting_sigma(scheduler: Any, steps: int, level: float) -> float:
    """The noise level a :func:`partial_schedule` run will start at (computed on a scratch copy)."""
    import copy

    scratch = copy.deepcopy(scheduler)
    scratch.set_timesteps(steps)
    return float(scratch.sigmas[start_index(scratch.sigmas, level)])


__all__ = [
    "LatentLock", "chain_callbacks", "latent_groups", "latent_mask", "partial_schedule", "renoise",
    "start_index", "starting_sigma", "steps_from_the_lock",
]  # fmt: skip
