"""Engines turn planned frames into new frames. ``select_engine`` picks one for a plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotcraft.engines.base import Engine, EngineOptions
from shotcraft.errors import EngineUnavailable

if TYPE_CHECKING:
    from shotcraft.engines.diffusion import WindowRunner
    from shotcraft.plan import TransformPlan
    from shotcraft.spec import TransformSpec


def engine_name(spec: TransformSpec) -> str:
    """The engine a spec runs on: the one it names; ``auto`` means classic unless the job needs a
    generative model (a prompt and nothing else to follow)."""
    if spec.engine != "auto":
        return spec.engine
    return "diffusion" if spec.prompt and not spec.operations and not spec.keyframes else "classic"


def select_engine(
    plan: TransformPlan, options: EngineOptions | None = None, runner: WindowRunner | None = None
) -> Engine:
    """The engine :func:`engine_name` names for the plan's spec.

    ``options`` say how to run rather than what to make (weights folder, steps, vram_gb, device); only the
    diffusion engine has any, the classic engine needs none. ``runner`` is where the diffusion engine
    generates its windows (default: in this process).
    """
    if engine_name(plan.spec) == "classic":
        from shotcraft.engines.classic import ClassicEngine

        return ClassicEngine()
    from shotcraft.engines.diffusion import DiffusionEngine

    return DiffusionEngine.from_spec(plan.spec, options, runner)


__all__ = ["Engine", "EngineOptions", "EngineUnavailable", "engine_name", "select_engine"]
