"""The diffusion engine: transform a clip with an open video model (Wan 2.x VACE, LTX-Video) under the
output contract.

Per clip: resample the source to the model's fps and frame grid (:class:`~shotcraft.media.timing.TimeConform`),
cut it into overlapping windows, and for each window build a :class:`~.job.WindowJob` from the plan —
re-noise level from the strength preset and motion adherence, a control video from structure/motion
adherence, keyframes at their model frames, the previous window's tail held, lock masks for latent
blending, references, the reframe canvas — run it, anchor its colour to the source, and map the model
frames back to the source's frames. Frames stream: one window of source frames and masks is held at a
time. Pixel-exact locks, audio and timestamps are then done by finishing and the writer, as for every engine.

Settings an operator may set without touching a spec: ``SHOTCRAFT_WEIGHTS`` (a weights folder),
``SHOTCRAFT_MODELS`` (a folder of model folders), ``SHOTCRAFT_STEPS``, ``SHOTCRAFT_VRAM`` (GiB),
``SHOTCRAFT_DEVICE``, ``SHOTCRAFT_WINDOW`` (model frames per window).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from shotcraft.engines.base import EngineOptions
from shotcraft.engines.diffusion.controls import (
    control_choice,
    control_frames,
    letterbox,
    model_size,
    renoise_level,
    resize,
)
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.engines.diffusion.memory import MemorySettings, choose_settings
from shotcraft.engines.diffusion.registry import DEFAULT_MODELS, ModelCard, get_model
from shotcraft.engines.diffusion.windows import ColourAnchor, plan_windows
from shotcraft.errors import EngineUnavailable
from shotcraft.progress import Progress, no_progress

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan
    from shotcraft.spec import TransformSpec


def run_job(pipe: Any, card: ModelCard, job: WindowJob) -> np.ndarray:
    """Run one window on ``pipe`` with the runner of ``card``'s family."""
    if card.family == "ltx":
        from shotcraft.engines.diffusion.ltx import run_ltx

        return run_ltx(pipe, job, frame_rate=card.fps)  # model frames always run at the card's fps
    from shotcraft.engines.diffusion.wan import run_wan

    return run_wan(pipe, job)


#: Generates one window: a job in, its frames (uint8 ``(T, H, W, 3)``) out.
WindowCall = Callable[[WindowJob], np.ndarray]


class WindowRunner(Protocol):
    """Where a clip's windows are generated. The engine keeps everything that passes from window to window
    (the previous window's tail, as the job's fixed frames; the colour anchor, applied to what comes back),
    so a runner only runs the model, and any runner gives the same frames for the same jobs."""

    def open(self, engine: DiffusionEngine, task: str) -> tuple[WindowCall, list[str]]:
        """A call that generates one window of ``engine``'s model for ``task``, and notices for the take."""
        ...


class LocalWindows:
    """Windows on a pipeline loaded in this process (the default)."""

    def open(self, engine: DiffusionEngine, task: str) -> tuple[WindowCall, list[str]]:
        pipe, notices = engine.pipeline(task)
        return partial(run_job, pipe, engine.card), notices


class _ForwardCache:
    """Items of a forward-only stream by index, keeping only those a later request may still ask for."""

    def __init__(self, stream: Iterator[Any]):
        self._stream, self._items, self._next = stream, {}, 0

    def get(self, index: int) -> Any:
        while self._next <= index:
            self._items[self._next] = next(self._stream)
            self._next += 1
        return self._items[index]

    def drop_before(self, index: int) -> None:
        for key in [k for k in self._items if k < index]:
            del self._items[key]


class DiffusionEngine:
    name = "diffusion"

    def __init__(
        self,
        model: str | None = None,
        options: EngineOptions | None = None,
        runner: WindowRunner | None = None,
    ):
        self.card = get_model(model or DEFAULT_MODELS["transform"])
        self.options = options or EngineOptions.from_environment()
        self.runner = runner or LocalWindows()

    @classmethod
    def from_spec(
        cls, spec: TransformSpec, options: EngineOptions | None = None, runner: WindowRunner | None = None
    ) -> DiffusionEngine:
        return cls(spec.model, (options or EngineOptions()).over_environment(), runner)

    def capabilities(self) -> frozenset[str]:
        caps = {"prompt", "restyle", "generate"} if self.card.can("transform") else {"generate"}
        return frozenset(caps | set(self.card.tasks))

    # -- loading -------------------------------------------------------------------------------------------

    def settings(self) -> MemorySettings:
        return choose_settings(
            self.card, self.options.vram_gb, device=self.options.device, draft=self.options.draft
        )

    def pipeline(self, task: str) -> tuple[Any, list[str]]:
        from shotcraft.engines.diffusion.loading import load_pipeline

        return load_pipeline(
            self.card, self.settings(), weights=self.options.weights, task=task, steps=self.options.steps
        )

    @property
    def steps(self) -> int:
        return self.options.steps or self.card.default_steps

    # -- transform -----------------------------------------------------------------------------------------

    def transform(
        self, plan: TransformPlan, reader: VideoReader, progress: Progress = no_progress
    ) -> Iterator[np.ndarray]:
        """Yield ``plan.frame_count`` transformed frames at the source size (the reframed size with a reframe)."""
        from shotcraft.media.stills import read_image
        from shotcraft.media.timing import TimeConform
        from shotcraft.signals.masks import lock_masks

        card, spec = self.card, plan.spec
        card.require("transform", "transform a source clip (it invents from a prompt or image only)")
        if spec.operations:
            names = ", ".join(op.op for op in spec.operations)
            raise EngineUnavailable(
                f"the diffusion engine does not run {names} operations: use --engine classic"
            )
        if spec.reframe is not None and card.family == "ltx":
            raise EngineUnavailable(
                f"{card.name} cannot reframe (LTX-Video takes no outpainting mask): use wan2.1-vace-1.3b or -14b"
            )
        run, notices = self.runner.open(self, "transform")
        plan.notices.extend(notices)
        if spec.seed is None:
            spec.seed = secrets.randbelow(2**31)
        src_w, src_h = plan.size
        canvas = plan.canvas
        if canvas is not None:
            canvas_w, canvas_h, ox, oy = canvas.width, canvas.height, canvas.x, canvas.y
        else:
            canvas_w, canvas_h, ox, oy = src_w, src_h, 0, 0
        gen = model_size(canvas_w, canvas_h, card.default_size, card.size_multiple)
        if gen != (canvas_w, canvas_h):
            plan.notices.append(
                f"{card.name} generates at {gen[0]}x{gen[1]} (its grid is {card.size_multiple} px); "
                f"frames are scaled back to {canvas_w}x{canvas_h}"
            )

        def on_canvas(image: np.ndarray, fill: float | int) -> np.ndarray:
            if (canvas_w, canvas_h) == (src_w, src_h):
                return resize(image, gen)
            canvas = np.full((canvas_h, canvas_w, *image.shape[2:]), fill, image.dtype)
            canvas[oy : oy + src_h, ox : ox + src_w] = image
            return resize(canvas, gen)

        outpaint = None
        if spec.reframe is not None:
            outpaint = on_canvas(np.zeros((src_h, src_w), np.float32), 1.0)
        conform = TimeConform.build(plan.frame_count, plan.video.fps, card.fps, card.frame_grid)
        window = self.options.window_frames or card.window_frames
        # as plan_windows clamps it: a short window (SHOTCRAFT_WINDOW=9) overlaps less, and has room for keys
        overlap = min(2 * card.frame_grid + 1, window - card.frame_grid)
        keys = {conform.model_index(k.index): k for k in plan.keyframes}
        capacity = card.latent_frames(window) - card.latent_frames(overlap)
        windows = plan_windows(
            conform.model_frames, window=window, overlap=overlap, grid=card.frame_grid,
            keyframes=sorted(keys), capacity=capacity,
        )  # fmt: skip
        if len(keys) > capacity:
            plan.notices.append(
                f"{len(keys)} keyframes are more than one {card.name} window holds ({capacity}): "
                f"spread over {len(windows)} windows"
            )
        kind, scale = control_choice(spec.structure_adherence, spec.motion_adherence)
        if kind is not None and card.family == "ltx":
            plan.notices.append(
                "LTX-Video takes no control video: structure follows from the strength preset"
            )
            kind = None
        # a reference is a picture of its own, not a frame of the source: fitted to the generation size
        references = [letterbox(read_image(r.image, f"{r.role} reference"), gen) for r in spec.references]
        if references and not card.can("reference"):
            plan.notices.append(f"{card.name} takes no reference images: they were not used")
            references = []
        level = renoise_level(plan.strength, spec.motion_adherence)
        sources = _ForwardCache(reader.frames())
        masks_stream = lock_masks(plan, reader)
        masks = _ForwardCache(masks_stream) if masks_stream is not None else None
        anchor = ColourAnchor()
        held: dict[int, np.ndarray] = {}
        out_index = 0
        to_model = conform.to_model
        for number, win in enumerate(windows):
            indices = [to_model[min(j, len(to_model) - 1)] for j in range(win.start, win.start + win.length)]
            source = np.stack([on_canvas(sources.get(s), 127) for s in indices])
            lock = None
            if masks is not None:
                lock = np.stack([on_canvas(masks.get(s), 0.0) for s in indices]).astype(np.float32)
            fixed = {j - win.start: held[j] for j in range(win.start, win.emit_from)}
            own_keys = [m - win.start for m in keys if win.emit_from <= m < win.stop]
            for j in own_keys:
                fixed[j] = on_canvas(plan.keyframe_image(keys[win.start + j]), 127)
            job = WindowJob(
                prompt=spec.prompt, width=gen[0], height=gen[1], frames=win.length, steps=self.steps,
                guidance=card.guidance, seed=spec.seed + number, source=source, renoise=level,
                control=control_frames(source, kind) if kind else None, control_scale=scale, fixed=fixed,
                lock=lock, outpaint=outpaint, references=references, progress=progress,
            )  # fmt: skip
            frames = anchor.apply(run(job), source, own_keys)
            held = {
                win.start + j: frames[j]
                for j in range(max(0, win.stop - win.start - overlap), win.stop - win.start)
            }
            while out_index < plan.frame_count and conform.to_source[out_index] < win.stop:
                yield resize(frames[conform.to_source[out_index] - win.start], (canvas_w, canvas_h))
                out_index += 1
            lowest = indices[min(max(0, win.stop - overlap - win.start), len(indices) - 1)]
            sources.drop_before(lowest)
            if masks is not None:
                masks.drop_before(lowest)
            progress("window", number + 1, len(windows))


def engine_for(model: str | None, **options: Any) -> DiffusionEngine:
    """A DiffusionEngine for ``model`` with ``options`` over the environment's settings."""
    return DiffusionEngine(model, EngineOptions.from_environment(**options))


__all__ = [
    "DiffusionEngine", "EngineOptions", "LocalWindows", "WindowCall", "WindowRunner", "engine_for", "run_job",
]  # fmt: skip
