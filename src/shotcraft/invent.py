"""Invent new takes with an open video model: N takes with recorded seeds, draft then final, extend, loop.

- **takes**: take ``i`` uses seed ``seed + i``; the seed is in each take's sidecar, so a take can be
  reproduced exactly (same model, settings and seed → the same frames).
- **draft / final**: a draft renders at half size with a third of the steps and step caching on; the
  final of a chosen draft (``final_of``, ``generate(..., refine=draft)``) takes the draft's spec and seed
  from its sidecar and *refines the draft*: its frames, scaled to full size, are re-noised to
  :data:`FINAL_REFINE_SIGMA` and denoised at full size and steps. Re-rendering from the seed alone cannot
  keep the shot: the final's noise has another shape than the draft's, so the same seed gives an unrelated
  composition. A full-size draft would keep the noise but cost about four times as much per step, and
  fewer steps with caching still drift from the full run; refining keeps the draft's layout, colours and
  motion by construction, while the model redraws the detail a half-size, few-step draft lacks.
- **extend**: generate on from the last frames of a take (or back from its first frames), conditioned on
  them, at the take's own size (a size off the model's grid is padded on the right and bottom for the model
  and cropped back; a take larger than the model's pixel budget is worked on scaled down, same aspect); the
  new take holds the old frames plus the new ones.
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
from shotcraft.engines.diffusion.registry import DEFAULT_MODELS, ModelCard, get_model
from shotcraft.media.probe import VideoInfo
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import GenerateSpec, SpecError, validate_spec

#: A draft is rendered at this fraction of the final size (each side) and this fraction of the steps.
DRAFT_SCALE = 0.5
DRAFT_STEP_FRACTION = 1 / 3
#: The noise level a final starts from when it refines its draft: high enough to redraw the detail of a
#: half-size, few-step draft, low enough that the draft's layout, colours and motion survive (at sigma 0.7 the
#: draft is 30 % of the starting latents: coarse structure stays, texture is regenerated).
FINAL_REFINE_SIGMA = 0.7


@dataclass(frozen=True)
class Framing:
    """How a take's frames map to the model's: scaled to ``work`` (same aspect), padded on the right and
    bottom to ``size`` (the model's grid), and back (cropped, then scaled to ``out``). Never stretched."""

    size: tuple[int, int]
    work: tuple[int, int]
    out: tuple[int, int]

    @classmethod
    def plain(cls, size: tuple[int, int]) -> Framing:
        return cls(size, size, size)

    def to_model(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        from shotcraft.engines.diffusion.controls import resize

        scaled = resize(frame, self.work)
        right, bottom = self.size[0] - self.work[0], self.size[1] - self.work[1]
        if right or bottom:
            # Edge pixels repeated: the model sees no border to draw, and the pad is cropped away after.
            scaled = cv2.copyMakeBorder(scaled, 0, bottom, 0, right, cv2.BORDER_REPLICATE)
        return scaled

    def from_model(self, frame: np.ndarray) -> np.ndarray:
        from shotcraft.engines.diffusion.controls import resize

        return resize(frame[: self.work[1], : self.work[0]], self.out)


def extend_framing(card: ModelCard, width: int, height: int) -> tuple[Framing, list[str]]:
    """The framing that extends a ``width`` x ``height`` take at its own size: scaled down (same aspect)
    only when it has more pixels than the model's default size, padded up to the model's grid.

    >>> extend_framing(get_model("wan2.1-vace-1.3b"), 40, 24)[0]
    Framing(size=(48, 32), work=(40, 24), out=(40, 24))
    """
    notices = []
    budget = card.default_size[0] * card.default_size[1]
    scale = min(1.0, math.sqrt(budget / (width * height)))
    work = (max(1, round(width * scale)), max(1, round(height * scale)))
    if work != (width, height):
        notices.append(
            f"{width}x{height} is more than {card.name} generates: the new frames are made at "
            f"{work[0]}x{work[1]} and scaled up to {width}x{height} (same aspect)"
        )
    m = card.size_multiple
    size = (math.ceil(work[0] / m) * m, math.ceil(work[1] / m) * m)
    if size != work:
        notices.append(
            f"{work[0]}x{work[1]} is not on {card.name}'s {m}-pixel grid: the frames are padded to "
            f"{size[0]}x{size[1]} for the model and cropped back"
        )
    return Framing(size, work, (width, height)), notices


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
    refine: Path | None = None,
    **options: Any,
) -> list[InventedTake]:
    """Render ``spec.takes`` takes to ``output`` (``name_take2.mp4`` ... when several); returns them.

    ``options`` are :class:`~shotcraft.engines.diffusion.EngineOptions` fields (steps, vram_gb, device).
    ``refine`` is a draft take of this spec (see :func:`final_of`): a final then starts from it re-noised to
    :data:`FINAL_REFINE_SIGMA`, so it keeps the draft's shot. Every take's path is checked before any work
    (an existing file is replaced only with ``overwrite``; never a folder, a device or one of the inputs).
    """
    from shotcraft.engines.diffusion import engine_for
    from shotcraft.media.output_path import check_output, sidecar_of
    from shotcraft.plan import check_output_format
    from shotcraft.spec import input_paths

    output = Path(output)
    inputs = input_paths(spec)
    if refine is not None:
        if spec.quality != "final":
            raise SpecError("refining a draft makes a final: set quality to final")
        inputs += [Path(refine), sidecar_of(Path(refine))]
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
    take: list[np.ndarray] = []
    if spec.extend is not None:
        take, _ = _read_take(spec.extend.take)
        framing, notices = extend_framing(card, take[0].shape[1], take[0].shape[0])
        if spec.width and spec.height and (spec.width, spec.height) != framing.out:
            notices.append(f"an extension keeps the take's size ({framing.out[0]}x{framing.out[1]})")
    else:
        size, notices = plan_size(card, spec, draft)
        framing = Framing.plain(size)
    out_fps = Fraction(str(spec.fps)) if "fps" in spec.model_fields_set else card.fps
    pipe, load_notices = engine.pipeline(task)
    notices += load_notices
    base_seed = (
        seed if seed is not None else (spec.seed if spec.seed is not None else secrets.randbelow(2**31))
    )
    render = _Render(pipe, card, spec, framing, steps, progress, take, refine)
    takes = []
    for i in range(spec.takes):
        started = time.perf_counter()
        take_seed = base_seed + i
        frames, take_notices = render(take_seed)
        model_count = len(frames)
        if out_fps != card.fps:
            from shotcraft.media.timing import resample_indices

            frames = [frames[j] for j in resample_indices(model_count, card.fps, out_fps)]
            take_notices.append(f"{card.name} renders at {card.fps} fps; resampled to {out_fps} fps")
        takes.append(
            _write_take(paths[i], frames, out_fps, spec, card, take_seed, steps, framing.size, task,
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


def _reference(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A reference image fitted inside ``size`` on white, as VACE takes references (never stretched)."""
    from shotcraft.engines.diffusion.controls import letterbox
    from shotcraft.media.stills import read_image

    return letterbox(read_image(path, f"reference {path.name}"), size)


@dataclass
class _Render:
    """Renders one take per seed: the model's frames for the spec, plus the take's own frames around
    them when extending."""

    pipe: Any
    card: ModelCard
    spec: GenerateSpec
    framing: Framing
    steps: int
    progress: Progress
    #: the frames of the take being extended (empty otherwise).
    take: list[np.ndarray]
    #: a draft of this spec that the final refines, or None.
    refine: Path | None

    def __call__(self, seed: int) -> tuple[list[np.ndarray], list[str]]:
        from shotcraft.engines.diffusion import run_job
        from shotcraft.engines.diffusion.job import WindowJob

        card, spec, framing = self.card, self.spec, self.framing
        notices: list[str] = []
        frames = card.grid_frames(max(2, math.ceil(Fraction(str(spec.duration)) * card.fps)))
        fixed: dict[int, np.ndarray] = {}
        held = 0
        if spec.extend is not None:
            held = min(len(self.take), 2 * card.frame_grid + 1 if card.can("transform") else 1)
            frames = card.grid_frames(held + math.ceil(Fraction(str(spec.extend.seconds)) * card.fps))
            # The take's own frames are kept as they are; the model's re-rendering of the held ones is dropped.
            if spec.extend.direction == "forwards":
                fixed = {j: framing.to_model(f) for j, f in enumerate(self.take[-held:])}
            else:
                if not card.can("transform"):
                    from shotcraft.errors import EngineUnavailable

                    raise EngineUnavailable(
                        f"{card.name} can only extend forwards (it conditions on a first frame)"
                    )
                fixed = {frames - held + j: framing.to_model(f) for j, f in enumerate(self.take[:held])}
        if frames > card.window_frames:
            raise SpecError(
                f"{card.name} makes at most {float((card.window_frames - 1) / card.fps):.1f} s per take "
                f"({card.window_frames} frames at {card.fps} fps): make a shorter take and --extend it"
            )
        if spec.image is not None:
            fixed[0] = _image(spec.image, framing.size)
        if spec.end_image is not None:
            fixed[frames - 1] = _image(spec.end_image, framing.size)
        references = [_reference(r.image, framing.size) for r in spec.references]
        source = self.draft_window(frames) if self.refine is not None else None

        def job(fixed_frames: dict[int, np.ndarray]) -> WindowJob:
            return WindowJob(
                prompt=spec.prompt, negative_prompt=spec.negative_prompt, width=framing.size[0],
                height=framing.size[1], frames=frames, steps=self.steps,
                guidance=spec.guidance if spec.guidance is not None else card.guidance, seed=seed,
                fixed=fixed_frames, references=references, progress=self.progress, source=source,
                renoise=FINAL_REFINE_SIGMA if source is not None else 1.0,
            )  # fmt: skip

        if spec.loop:
            if 0 not in fixed:
                first = run_job(self.pipe, card, job(fixed))[0]
                fixed = {**fixed, 0: first}
                notices.append(
                    "loop: a first pass invented the opening frame; the second closes the loop on it"
                )
            fixed[frames - 1] = fixed[0]
            out = run_job(self.pipe, card, job(fixed))
            # The last frame repeats the first: drop it so the loop is seamless.
            return [framing.from_model(f) for f in out[:-1]], notices
        generated = [framing.from_model(f) for f in run_job(self.pipe, card, job(fixed))]
        if spec.extend is None:
            return generated, notices
        if spec.extend.direction == "forwards":
            return self.take + generated[held:], notices
        return generated[: frames - held] + self.take, notices

    def draft_window(self, frames: int) -> np.ndarray:
        """The draft's frames that this take's model frames cover, at the model's frame rate and size."""
        assert self.refine is not None
        shots, info = _read_take(self.refine)
        if info.fps != self.card.fps:
            from shotcraft.media.timing import resample_indices

            shots = [shots[j] for j in resample_indices(len(shots), info.fps, self.card.fps)]
        if self.spec.loop:
            shots = [*shots, shots[0]]  # the draft dropped its closing frame, a copy of its first
        extend = self.spec.extend
        shots = shots[-frames:] if extend is not None and extend.direction == "forwards" else shots[:frames]
        shots += [shots[-1]] * (frames - len(shots))
        return np.stack([self.framing.to_model(f) for f in shots])


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


__all__ = [
    "FINAL_REFINE_SIGMA", "Framing", "InventedTake", "extend_framing", "final_of", "generate",
    "generation_video_info", "plan_size", "task_of",
]  # fmt: skip
