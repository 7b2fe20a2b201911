"""The classic engine: weight-free, CPU-only transforms chained as streaming frame stages.

Each operation of a :class:`~shotcraft.spec.TransformSpec` is one stage, a function
``stage(plan, op, frames, reader, progress) -> frames`` that maps an iterator of RGB frames to another.
The engine starts from the source frames (or from the keyframe-restyled frames when the spec restyles)
and applies the spec's operations in the order written. Stage modules are imported only when a spec
uses them, so a missing or broken one never stops the others.

>>> from shotcraft.media.samples import sample_clip
>>> from shotcraft.plan import plan_transform
>>> from shotcraft.media.read import VideoReader
>>> from shotcraft.spec import TransformSpec
>>> spec = TransformSpec.model_validate({"operations": [{"op": "relight", "preset": "golden_hour"}]})
>>> plan = plan_transform(sample_clip("carphone"), spec)
>>> frames = ClassicEngine().transform(plan, VideoReader(plan.source.path, plan.source))
>>> next(frames).shape
(144, 176, 3)
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from shotcraft.errors import EngineUnavailable
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import LocalizeOp, RelightOp, RestyleOp, SpecError, SwapOp

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

#: Operation type → (operation name, module, stage function) of the stages that follow the restyle.
_STAGES: dict[type, tuple[str, str, str]] = {
    RelightOp: ("relight", "shotcraft.engines.classic.relight", "relight"),
    SwapOp: ("swap", "shotcraft.engines.classic.swap", "swap"),
    LocalizeOp: ("localize", "shotcraft.engines.classic.localize", "localize_frames"),
}
_RESTYLE = ("restyle", "shotcraft.engines.classic.restyle", "restyle")


class ClassicEngine:
    """Relight, restyle, swap and localize on the CPU, streaming frame by frame."""

    name = "classic"

    def capabilities(self) -> frozenset[str]:
        """'identity' plus each operation whose stage module is installed."""
        names = {"identity"}
        for op_name, module, _ in (*_STAGES.values(), _RESTYLE):
            if importlib.util.find_spec(module) is not None:
                names.add(op_name)
        return frozenset(names)

    def transform(
        self, plan: TransformPlan, reader: VideoReader, progress: Progress = no_progress
    ) -> Iterator[np.ndarray]:
        """The plan's frames with its operations applied in order.

        Everything the engine cannot do is refused here, before the first frame is decoded.
        """
        spec = plan.spec
        if spec.reframe is not None:
            raise EngineUnavailable("reframing (outpainting to a new aspect) needs the diffusion engine")
        # plan.operations: the spec's operations with coordinates turned to storage orientation.
        restyles = [op for op in plan.operations if isinstance(op, RestyleOp)]
        if len(restyles) > 1:
            raise SpecError("a transform takes one restyle operation; merge the looks into one")
        if not spec.operations and not spec.keyframes:
            if spec.prompt:
                raise SpecError(
                    "a prompt-only transform needs the diffusion engine (--engine diffusion), "
                    "or give the classic engine an operation such as --relight or --look"
                )
            raise SpecError(
                "the classic engine needs an operation (relight, restyle, swap, localize) or keyframes"
            )
        if spec.prompt:
            plan.notices.append("the classic engine does not read the prompt; it follows the operations only")

        stages: list[tuple[Callable[..., Iterator[np.ndarray]], Any]] = []
        for op in plan.operations:
            if isinstance(op, RestyleOp):
                continue
            stages.append((_load_stage(*_STAGES[type(op)]), op))
        if restyles or spec.keyframes:
            restyle = _load_stage(*_RESTYLE)
            frames = restyle(plan, restyles[0] if restyles else None, reader, progress)
        else:
            frames = reader.frames()
        for stage, op in stages:
            frames = stage(plan, op, frames, reader, progress)
        return frames


def _load_stage(op_name: str, module: str, function: str) -> Callable[..., Iterator[np.ndarray]]:
    """Import one stage function, turning a missing module into a clear EngineUnavailable."""
    try:
        return getattr(importlib.import_module(module), function)
    except ModuleNotFoundError as exc:
        # Only a missing stage module (or a missing package it needs) is "unavailable"; other import
        # errors are bugs and propagate as they are.
        raise EngineUnavailable(
            f"the classic engine cannot {op_name} in this install ({exc.name} is missing)"
        ) from None


__all__ = ["ClassicEngine"]
