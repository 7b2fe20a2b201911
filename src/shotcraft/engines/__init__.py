"""Engines turn planned frames into new frames. ``select_engine`` picks one for a plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shotcraft.engines.base import Engine
from shotcraft.errors import EngineUnavailable

if TYPE_CHECKING:
    from shotcraft.plan import TransformPlan


def select_engine(plan: TransformPlan, **options: Any) -> Engine:
    """The engine the spec names; ``auto`` means classic unless the job needs a generative model.

    ``options`` say how to run rather than what to make (weights folder, steps, vram_gb, device); only the
    diffusion engine has any, the classic engine needs none.
    """
    name = plan.spec.engine
    if name == "auto":
        name = (
            "diffusion"
            if plan.spec.prompt and not plan.spec.operations and not plan.spec.keyframes
            else "classic"
        )
    if name == "classic":
        from shotcraft.engines.classic import ClassicEngine

        return ClassicEngine()
    from shotcraft.engines.diffusion import DiffusionEngine

    return DiffusionEngine.from_spec(plan.spec, **options)


__all__ = ["Engine", "EngineUnavailable", "select_engine"]
