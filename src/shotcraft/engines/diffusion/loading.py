"""Load a model's diffusers pipeline from a weights folder: the one path every caller (CLI, API, tests) takes.

The folder is checked first (:func:`~shotcraft.engines.diffusion.weights.locate`), so a missing or partial
download is one sentence naming the missing parts, never a stack trace from deep inside diffusers. The last
loaded pipeline stays loaded in the process, so N takes or N windows load the weights once; asking for
another model or other settings (a draft's step cache, a final without it) drops it first, so a worker
never holds two pipelines side by side.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from shotcraft.engines.diffusion.memory import MemorySettings, apply_settings, torch_dtype
from shotcraft.engines.diffusion.registry import ModelCard
from shotcraft.engines.diffusion.weights import locate
from shotcraft.errors import EngineUnavailable

_LOADED: dict[tuple[str, str, MemorySettings], tuple[Any, list[str]]] = {}
#: Wan's VAE is kept in float32: in bf16 it bands dark gradients (as the model authors recommend).
_FP32_VAE = {"wan": "AutoencoderKLWan"}


def require_packages() -> Any:
    """Import diffusers (and torch), or an EngineUnavailable saying what to install."""
    try:
        import diffusers
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(
            f"the diffusion engine needs {exc.name}: pip install 'shotcraft[diffusion]'"
        ) from None
    return diffusers


def pipeline_class(card: ModelCard, task: str) -> str:
    """The diffusers pipeline for ``task`` on ``card``: Wan's text-to-video checkpoints that also take an
    image (Wan 2.2 TI2V) run image jobs through the image-to-video pipeline."""
    if card.family == "wan" and card.pipeline == "WanPipeline" and task in ("i2v", "extend"):
        return "WanImageToVideoPipeline"
    return card.pipeline


def load_pipeline(
    card: ModelCard,
    settings: MemorySettings,
    *,
    weights: Path | None = None,
    task: str = "t2v",
    steps: int | None = None,
) -> tuple[Any, list[str]]:
    """``(pipeline, notices)`` for ``card`` with ``settings`` applied; weights from ``weights`` or the
    usual places (see :mod:`~shotcraft.engines.diffusion.weights`)."""
    diffusers = require_packages()
    folder = locate(card, weights)
    class_name = pipeline_class(card, task)
    key = (str(folder.resolve()), class_name, settings)
    if key in _LOADED:
        return _LOADED[key]
    forget_loaded()  # one resident pipeline: free the last one before loading the next
    cls = getattr(diffusers, class_name)
    dtype = torch_dtype(settings)
    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if card.family in _FP32_VAE and settings.dtype != "float32":
        import torch

        vae_cls = getattr(diffusers, _FP32_VAE[card.family])
        kwargs["vae"] = vae_cls.from_pretrained(folder, subfolder="vae", torch_dtype=torch.float32)
    if class_name == "WanImageToVideoPipeline" and card.pipeline == "WanPipeline":
        kwargs["expand_timesteps"] = True
    try:
        pipe = cls.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnavailable(
            f"the weights in {folder} do not load as {class_name} for {card.name}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    _check_pipeline(pipe, card, folder)
    pipe.set_progress_bar_config(disable=True)
    notices = apply_settings(pipe, settings, steps)
    _LOADED[key] = (pipe, notices)
    return pipe, notices


def _check_pipeline(pipe: Any, card: ModelCard, folder: Path) -> None:
    transformer = getattr(pipe, "transformer", None) or getattr(pipe, "transformer_2", None)
    if transformer is None:
        raise EngineUnavailable(f"{folder} has no transformer for {card.name}")
    if type(transformer).__name__ != card.transformer_class:
        raise EngineUnavailable(
            f"{folder} holds a {type(transformer).__name__}, but {card.name} needs a {card.transformer_class}: "
            "is --weights pointing at the right model?"
        )


def forget_loaded() -> None:
    """Drop the process's loaded pipeline and give its GPU memory back."""
    _LOADED.clear()
    gc.collect()  # pipelines hold reference cycles (hooks, modules pointing at their pipeline)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


__all__ = ["forget_loaded", "load_pipeline", "pipeline_class", "require_packages"]
