"""Invent new takes with an open video model: N takes with recorded seeds, draft then final, extend, loop.

- **takes**: take ``i`` uses seed ``seed + i``; the seed is in each take's sidecar, so a take can be
  reproduced exactly (same model, settings and seed → the same frames).
- **draft / final**: a draft renders at reduced size with a third of the steps and step caching on; the
  final re-renders a chosen draft (``final_of``) at full size and steps from the *same* seed and settings,
  read from the draft's sidecar.
- **extend**: generate on from the last frames of a take (or back from its first frames), conditioned on
  them; the new take holds the old frames plus the new ones.
- **loop**: the last generated frame is conditioned to equal the first and then dropped, so the take
  plays seamlessly on repeat (two passes when no start image is given: the first invents the frame).

>>> plan_size(get_model("wan2.1-vace-1.3b"), GenerateSpec(prompt="x", aspect="16:9"))
((848, 480), [])
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft import __version__
from shotcraft.engines.base import Progress, no_progress
from shotcraft.engines.diffusion.registry import DEFAULT_MODELS, ModelCard, get_model
from shotcraft.media.probe import VideoInfo
from shotcraft.spec import GenerateSpec, SpecError, validate_spec

#: A draft is rendered at this fraction of the final size (each side) and this fraction of the steps.
DRAFT_SCALE = 0.5
DRAFT_STEP_FRACTION = 1 / 3


@dataclass
class InventedTake:
    """A written take: its file and sidecar, the seed that reproduces it, and its timing."""

    path: Path
    sidecar: Path
    seed: int
    frame_count: int
    fps: Fraction
    notices: list[str]


def task_of(spec: GenerateSpec) -> str:
    """The job a spec asks for, in registry task names."""
    if spec.extend is not None:
        return "extend"
    if spec.loop:
        return "loop"
    if spec.image is not None and spec.end_image is not None:
        return "flf2v"
    if spec.references:
        return "reference"
    if spec.image is not None:
        return "i2v"
    if spec.end_image is not None:
        raise SpecError("an end image needs a start image (--image)")
    return "t2v"


def plan_size(card: ModelCard, spec: GenerateSpec, draft: bool = False) -> tuple[tuple[int, int], list[str]]:
    """``((width, height), notices)``: the user's size rounded to the model's grid (with a notice), or
    the model's pixel budget at the asked aspect ratio."""
    notices: list[str] = []
    if spec.width and spec.height:
        size = card.snap_size(spec.width, spec.height)
        if size != (spec.width, spec.height):
            notices.append(
                f"{spec.width}x{spec.height} is not on {card.name}'s {card.size_multiple}-pixel grid: "
                f"rounded to {size[0]}x{size[1]}"
            )
    else:
        aw, ah = (int(v) for v in spec.aspect.split(":"))
        budget = card.default_size[0] * card.default_size[1]
        width = math.sqrt(budget * aw / ah)
        size = card.snap_size(round(width), round(width * ah / aw))
    if draft:
        size = card.snap_size(round(size[0] * DRAFT_SCALE), round(size[1] * DRAFT_SCALE))
    return size, notices


def generation_video_info(width: int, height: int, fps: Fraction, frames: int) -> VideoInfo:
    """The timing template for a generated take: constant ``fps``, one tick per frame, BT.709 tags."""
    fps = Fraction(fps)
    return VideoInfo(
        index=0, codec="h264", width=width, height=height, fps=fps, time_base=1 / fps, frame_count=frames,
        duration=Fraction(frames) / fps, pix_fmt="yuv420p", bit_depth=8, color_range=1, colorspace=1,
        color_primaries=1, color_trc=1, pts=tuple(range(frames)),
    )  # fmt: skip


def _read_take(path: Path) -> tuple[list[np.ndarray], VideoInfo]:
    from shotcraft.media.read import VideoReader

    reader = VideoReader(path)
    return list(reader.frames()), reader.video


def final_of(draft: Path) -> tuple[GenerateSpec, int]:
    """The spec and seed of a draft take (from its sidecar), switched to final quality."""
    sidecar = Path(f"{draft}.json")
    if not sidecar.is_file():
        raise SpecError(
            f"{draft} has no sidecar ({sidecar.name}): only takes made by shotcraft can be finalised"
        )
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        data, seed = record["spec"], int(record["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"{sidecar.name} is not a take record shotcraft can finalise ({exc!r})") from None
    return validate_spec({**data, "quality": "final", "takes": 1}, GenerateSpec), seed


def generate(
    spec: GenerateSpec,
    output: str | os.PathLike[str],
    *,
    weights: Path | None = None,
    progress: Progress = no_progress,
    seed: int | None = None,
    lineage: dict[str, Any] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> list[InventedTake]:
    """Render ``spec.takes`` takes to ``output`` (``name_take2.mp4`` ... when several); returns them.

    ``options`` are :class:`~shotcraft.engines.diffusion.EngineOptions` fields (steps, vram_gb, device).
    Every take's path is checked before any work (an existing file is replaced only with ``overwrite``;
    never a folder, a device or one of the spec's inputs).
    """
    from shotcraft.engines.diffusion import engine_for
    from shotcraft.media.output_path import check_output
    from shotcraft.plan import check_output_format
    from shotcraft.spec import input_paths

    output = Path(output)
    inputs = input_paths(spec)
    check_output_format(output, spec.output)
    paths = [_take_path(output, i, spec.takes) for i in range(spec.takes)]
    for path in paths:
        check_output(path, inputs=inputs, overwrite=overwrite, folder=spec.output.format == "png_sequence")
    task = task_of(spec)
    card = get_model(spec.model or DEFAULT_MODELS.get(task, DEFAULT_MODELS["t2v"]))
    card.require(task, _TASK_WORDS[task])
    draft = spec.quality == "draft"
    engine = engine_for(card.name, weights=weights, draft=draft, **options)
    steps = engine.options.steps or (
        max(4, round(card.default_steps * DRAFT_STEP_FRACTION)) if draft else card.default_steps
    )
    size, notices = plan_size(card, spec, draft)
    out_fps = Fraction(str(spec.fps)) if "fps" in spec.model_fields_set else card.fps
    pipe, load_notices = engine.pipeline(task)
    notices += load_notices
    base_seed = (
        seed if seed is not None else (spec.seed if spec.seed is not None else secrets.randbelow(2**31))
    )
    takes = []
    for i in range(spec.takes):
        started = time.perf_counter()
        take_seed = base_seed + i
        frames, take_notices = _render(pipe, card, spec, task, size, steps, take_seed, progress)
        model_count = len(frames)
        if out_fps != card.fps:
            from shotcraft.media.timing import resample_indices

            frames = [frames[j] for j in resample_indices(model_count, card.fps, out_fps)]
            take_notices.append(f"{card.name} renders at {card.fps} fps; resampled to {out_fps} fps")
        takes.append(
            _write_take(paths[i], frames, out_fps, spec, card, take_seed, steps, size, task,
                        notices + take_notices, lineage, time.perf_counter() - started, overwrite, inputs)
        )  # fmt: skip
        progress("takes", i + 1, spec.takes)
    return takes


_TASK_WORDS = {
    "t2v": "invent from a prompt", "i2v": "start from an image", "flf2v": "go from a first to a last frame",
    "reference": "use reference images", "extend": "extend a take", "loop": "make a loop",
    "transform": "transform a source clip",
}  # fmt: skip


def _image(path: Path, size: tuple[int, int]) -> np.ndarray:
    from shotcraft.engines.diffusion.controls import resize
    from shotcraft.media.stills import read_image

    return resize(read_image(path, f"image {path.name}"), size)


def _render(
    pipe: Any,
    card: ModelCard,
    spec: GenerateSpec,
    task: str,
    size: tuple[int, int],
    steps: int,
    seed: int,
    progress: Progress,
) -> tuple[list[np.ndarray], list[str]]:
    from shotcraft.engines.diffusion import run_job
    from shotcraft.engines.diffusion.job import WindowJob

    notices: list[str] = []
    frames = card.grid_frames(max(2, math.ceil(Fraction(str(spec.duration)) * card.fps)))
    prefix: list[np.ndarray] = []
    suffix: list[np.ndarray] = []
    fixed: dict[int, np.ndarray] = {}
    if spec.extend is not None:
        take, _ = _read_take(spec.extend.take)
        held = min(len(take), 2 * card.frame_grid + 1 if card.can("transform") else 1)
        frames = card.grid_frames(held + math.ceil(Fraction(str(spec.extend.seconds)) * card.fps))
        from shotcraft.engines.diffusion.controls import resize

        # The take's own frames are kept as they are; the model's re-rendering of the held ones is dropped.
        if spec.extend.direction == "forwards":
            for j, frame in enumerate(take[-held:]):
                fixed[j] = resize(frame, size)
            prefix = take
        else:
            if not card.can("transform"):
                from shotcraft.errors import EngineUnavailable

                raise EngineUnavailable(
                    f"{card.name} can only extend forwards (it conditions on a first frame)"
                )
            for j, frame in enumerate(take[:held]):
                fixed[frames - held + j] = resize(frame, size)
            suffix = take
        if (take[0].shape[1], take[0].shape[0]) != size:
            prefix = [resize(f, size) for f in prefix]
            suffix = [resize(f, size) for f in suffix]
    if frames > card.window_frames:
        raise SpecError(
            f"{card.name} makes at most {float((card.window_frames - 1) / card.fps):.1f} s per take "
            f"({card.window_frames} frames at {card.fps} fps): make a shorter take and --extend it"
        )
    if spec.image is not None:
        fixed[0] = _image(spec.image, size)
    if spec.end_image is not None:
        fixed[frames - 1] = _image(spec.end_image, size)
    references = [_image(r.image, size) for r in spec.references]

    def job(fixed_frames: dict[int, np.ndarray]) -> WindowJob:
        return WindowJob(
            prompt=spec.prompt, negative_prompt=spec.negative_prompt, width=size[0], height=size[1],
            frames=frames, steps=steps, guidance=spec.guidance if spec.guidance is not None else card.guidance,
            seed=seed, fixed=fixed_frames, references=references, progress=progress,
        )  # fmt: skip

    if spec.loop:
        if 0 not in fixed:
            first = run_job(pipe, card, job(fixed))[0]
            fixed = {**fixed, 0: first}
            notices.append("loop: a first pass invented the opening frame; the second closes the loop on it")
        fixed[frames - 1] = fixed[0]
        out = run_job(pipe, card, job(fixed))
        return list(out[:-1]), notices  # the last frame repeats the first: drop it so the loop is seamless
    generated = list(run_job(pipe, card, job(fixed)))
    if spec.extend is not None:
        new = generated[len(fixed) :] if prefix else generated[: frames - len(fixed)]
        return prefix + new + suffix, notices
    return generated, notices


def _write_take(
    path: Path,
    frames: list[np.ndarray],
    fps: Fraction,
    spec: GenerateSpec,
    card: ModelCard,
    seed: int,
    steps: int,
    size: tuple[int, int],
    task: str,
    notices: list[str],
    lineage: dict[str, Any] | None,
    seconds: float,
    overwrite: bool = False,
    inputs: list[Path] | None = None,
) -> InventedTake:
    from shotcraft.media.write import VideoWriter

    height, width = frames[0].shape[:2]
    info = generation_video_info(width, height, fps, len(frames))
    with VideoWriter(
        path, output=spec.output, video=info, overwrite=overwrite, inputs=inputs or ()
    ) as writer:
        for frame in frames:
            writer.write(frame)
        writer.sidecar = {
        "kind": "generate", "shotcraft": __version__, "output": str(path), "task": task,
        "spec": spec.model_dump(mode="json"), "model": card.name, "repo_id": card.repo_id, "seed": seed,
        "steps": steps, "size": list(size), "quality": spec.quality, "frame_count": len(frames), "fps": str(fps),
        "seconds": round(seconds, 3), "notices": notices + writer.notices,
        "lineage": lineage or ({"extends": str(spec.extend.take)} if spec.extend else {}),
        }  # fmt: skip
    return InventedTake(path, writer.sidecar_path, seed, len(frames), fps, notices + writer.notices)


def _take_path(output: Path, index: int, takes: int) -> Path:
    return output if takes == 1 else output.with_name(f"{output.stem}_take{index + 1}{output.suffix}")


__all__ = ["InventedTake", "final_of", "generate", "generation_video_info", "plan_size", "task_of"]
