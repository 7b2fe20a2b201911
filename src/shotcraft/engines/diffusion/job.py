"""One generation window, described without reference to any model family.

A :class:`WindowJob` is what the engine and the invent step ask for; :mod:`.wan` and :mod:`.ltx` turn it
into a call of their pipeline. Frames are uint8 RGB at the generation size, indexed by model frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shotcraft.progress import Progress, no_progress


@dataclass
class WindowJob:
    """One window to generate: prompt, size, steps, seed, and what conditions it (source, fixed frames)."""

    prompt: str
    width: int
    height: int
    frames: int
    steps: int
    guidance: float
    seed: int
    negative_prompt: str = ""
    #: the source frames of this window, ``(T, H, W, 3)`` (transform, extend); None when inventing.
    source: np.ndarray | None = None
    #: the re-noise level: 1.0 starts from pure noise; below 1 starts from the source noised to it.
    renoise: float = 1.0
    #: structure/motion control video ``(T, H, W, 3)`` and how strongly it is followed (0 .. 1); the
    #: strength applies to the control video only, never to fixed frames, masks or references.
    control: np.ndarray | None = None
    control_scale: float = 1.0
    #: frames the output must show: keyframes, the held overlap, first/last images.
    fixed: dict[int, np.ndarray] = field(default_factory=dict)
    #: ``(T, H, W)`` float lock mask (1 = keep the source), or None.
    lock: np.ndarray | None = None
    #: ``(H, W)`` mask of the area to invent around the source (reframe), or None.
    outpaint: np.ndarray | None = None
    references: list[np.ndarray] = field(default_factory=list)
    progress: Progress = no_progress
    #: filled by the runner: what it did, for tests and the sidecar (latent lock steps, schedule start, ...).
    report: dict[str, Any] = field(default_factory=dict)

    def generator(self, offset: int = 0) -> Any:
        """A CPU generator seeded from the take's seed (CPU so a seed gives the same take on any device)."""
        import torch

        return torch.Generator(device="cpu").manual_seed(self.seed + offset)

    def pipeline_kwargs(self) -> dict[str, Any]:
        """The call arguments every supported pipeline takes the same way: prompt, size, length, steps,
        guidance, a seeded generator, and ``np`` output; each runner adds its family's conditioning.

        >>> job = WindowJob("a red car", 64, 32, 9, 4, 5.0, seed=3)
        >>> sorted(k for k in job.pipeline_kwargs() if k != "generator")  # doctest: +NORMALIZE_WHITESPACE
        ['guidance_scale', 'height', 'negative_prompt', 'num_frames', 'num_inference_steps', 'output_type',
         'prompt', 'width']
        """
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt or None,
            "height": self.height,
            "width": self.width,
            "num_frames": self.frames,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance,
            "generator": self.generator(),
            "output_type": "np",
        }

    def step_progress(self, window: str = "denoise") -> Any:
        """A ``callback_on_step_end`` that reports each finished step (and leaves the latents alone)."""

        def report(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            self.progress(window, step + 1, len(pipe.scheduler.timesteps))
            return {"latents": kwargs["latents"]}

        return report


def as_uint8_video(frames: Any) -> np.ndarray:
    """A pipeline's ``np`` output (``(1, T, H, W, 3)`` floats in 0..1) as ``(T, H, W, 3)`` uint8."""
    array = np.asarray(frames)
    if array.ndim == 5:
        array = array[0]
    return np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)


def pil(image: np.ndarray) -> Any:
    """A uint8 array as a PIL image, the form diffusers pipelines take images in."""
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image))


__all__ = ["WindowJob", "as_uint8_video", "pil"]
