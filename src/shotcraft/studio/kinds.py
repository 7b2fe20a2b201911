"""The job kinds the studio runs. Adding a kind is one entry in :data:`JOB_KINDS`: its spec type, what
source it needs, the module it depends on, and a function from a :class:`JobContext` to take records.

A kind whose module is not installed (or not written yet) stays listed with the reason it is unavailable,
so the API can answer "not available here" instead of queueing a job that can only fail.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from shotcraft.progress import Progress
from shotcraft.render import split_refusal
from shotcraft.spec import GenerateSpec, LocalizeOp, OutputSpec, SpecError, TransformSpec
from shotcraft.studio.chunks import DEFAULT_CHUNK_FRAMES, ChunkedTransform
from shotcraft.studio.jobs import TakeRecord

_SUFFIX = {"mp4_h264": ".mp4", "mp4_h265": ".mp4", "mov_prores": ".mov"}


@dataclass
class JobContext:
    """Everything a running job may use. ``progress`` raises if the job was cancelled or the worker is stopping."""

    job_id: str
    attempt: int
    spec: Any
    source: Path | None
    home: Path
    work_dir: Path
    output_dir: Path
    progress: Progress
    lineage: dict[str, Any] = field(default_factory=dict)
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    #: The spec as the job holds it (files as ``asset:<id>``): what a take records and a client sees.
    spec_record: dict[str, Any] | None = None

    def record(
        self,
        path: Path,
        *,
        name: str,
        kind: str,
        engine: str,
        frame_count: int,
        fps: str,
        info: dict[str, Any],
        seed: int | None = None,
        model: str | None = None,
    ) -> TakeRecord:
        """A take record for a finished file under ``output_dir``; ``seed`` and ``model`` default to the spec's."""
        spec = self.spec_record if self.spec_record is not None else self.spec.model_dump(mode="json")
        return TakeRecord(
            name=name,
            kind=kind,
            path=str(path.relative_to(self.home)),
            size_bytes=_size(path),
            engine=engine,
            spec=spec,
            frame_count=frame_count,
            fps=fps,
            model=model or spec.get("model"),
            seed=seed if seed is not None else spec.get("seed"),
            info=info,
        )


@dataclass(frozen=True)
class Availability:
    """Whether a kind can run here; when not, why (for the person using the studio) and what to set up (for
    the person running the server). Neither names a path of the server's disk."""

    reason: str | None = None
    operator_note: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class JobKind:
    """One entry of :data:`JOB_KINDS`: how the API validates a job of this kind and how a worker runs it.

    ``check(spec, source)`` runs before the job is queued, on the spec with its files resolved: it raises
    SpecError or MediaError for anything that would only fail later. ``ready()`` says what this server lacks
    to run the kind (weights, say), or ``None``."""

    name: str
    title: str
    spec_type: type[BaseModel]
    source: Literal["video", "image", "optional", "none"]
    run: Callable[[JobContext], list[TakeRecord]]
    requires: str | None = None
    check: Callable[[Any, Path | None], None] | None = None
    ready: Callable[[], Availability | None] | None = None

    def availability(self) -> Availability:
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return Availability(
                f"{self.title} is not part of this server's install.",
                f"Server operator: {self.title.lower()} needs the module {self.requires}, which is not installed.",
            )
        return (self.ready() if self.ready else None) or Availability()

    def unavailable(self) -> str | None:
        """Why this kind cannot run in this install, in a user's words, or ``None``."""
        return self.availability().reason


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def output_name(output: OutputSpec, stem: str = "take") -> str:
    """The take's file name for ``output``'s format; a SpecError for formats that are not one file."""
    if output.format not in _SUFFIX:
        raise SpecError(
            f"the studio serves single files: output format {output.format} is not one of {', '.join(_SUFFIX)}"
        )
    return stem + _SUFFIX[output.format]


def check_transform(spec: TransformSpec, source: Path | None) -> None:
    """A transform that would change nothing is refused (it would only copy the clip), then the plan checks
    the spec against its source."""
    from shotcraft.plan import plan_transform

    if spec.is_identity:
        raise SpecError(
            "this transform changes nothing: tick what to change (relight, restyle or product swap), "
            "add a keyframe or write a prompt"
        )
    if source is not None:
        plan_transform(source, spec)


def check_localize(op: LocalizeOp, source: Path | None) -> None:
    """Every market is checked before the job is queued: an empty table, a market without text for a row,
    text no installed font can set, a missing table or subtitle file."""
    from shotcraft.engines.classic.localize import market_strings
    from shotcraft.plan import plan_transform

    if op.table is None and not op.replacements and not op.subtitles:
        raise SpecError(
            "the text table is empty: write the text shown in the clip and what each market should read instead"
        )
    problems: list[str] = []
    for market in op.markets:
        try:
            market_strings(op, market)
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    if source is not None:
        plan_transform(source, TransformSpec(operations=[op], engine="classic"))


def invent_ready() -> Availability | None:
    """Inventing needs the diffusion packages and the default model's weights on this server."""
    import os

    from shotcraft.engines.diffusion.registry import DEFAULT_MODELS, get_model
    from shotcraft.engines.diffusion.weights import MODELS_ENV, locate
    from shotcraft.errors import EngineUnavailable

    card = get_model(DEFAULT_MODELS["t2v"])
    reason = "Inventing new shots needs a video model, and none is set up on this server yet."
    missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        return Availability(
            reason,
            f"Server operator: install the diffusion extra (pip install 'shotcraft[diffusion]'; missing: "
            f"{', '.join(missing)}), then set up the weights of {card.name}.",
        )
    weights = os.environ.get("SHOTCRAFT_WEIGHTS")
    try:
        locate(card, Path(weights) if weights else None)
    except EngineUnavailable:
        return Availability(
            reason,
            f"Server operator: set {MODELS_ENV} to a folder holding {card.name}/ (the diffusers weights; "
            f"`shotcraft models pull {card.name}` fetches them where there is internet) for `shotcraft "
            "serve` and its workers, then reload this page.",
        )
    return None


def run_transform(ctx: JobContext) -> list[TakeRecord]:
    """A transform, chunked (resumable) when the spec allows it, otherwise in one pass."""
    from shotcraft.pipeline import transform

    assert ctx.source is not None
    spec: TransformSpec = ctx.spec
    output = ctx.output_dir / output_name(spec.output)
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    if split_refusal(spec) is None:
        chunked = ChunkedTransform(ctx.source, output, spec, ctx.work_dir, ctx.chunk_frames)
        result = chunked.run(ctx.progress, attempt=ctx.attempt, lineage=ctx.lineage)
    else:
        result = transform(
            ctx.source, output, spec, progress=ctx.progress, lineage=ctx.lineage, overwrite=True
        )
    info = {
        "notices": result.notices,
        "sidecar": str(result.sidecar.relative_to(ctx.home)),
        "seconds": round(result.seconds, 3),
    }
    fps = probe_fps(result.path)
    return [
        ctx.record(
            result.path,
            name="take",
            kind="transform",
            engine=result.engine,
            frame_count=result.frame_count,
            fps=fps,
            info=info,
        )
    ]


def run_invent(ctx: JobContext) -> list[TakeRecord]:
    """N new takes from a GenerateSpec, each with its own recorded seed."""
    from shotcraft.invent import generate

    spec: GenerateSpec = ctx.spec
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    takes = generate(
        spec,
        ctx.output_dir / output_name(spec.output),
        progress=ctx.progress,
        lineage=ctx.lineage,
        overwrite=True,
    )
    records = []
    for i, take in enumerate(takes):
        # The sidecar names the model actually used: the spec's model may be empty (the registry default).
        sidecar = json.loads(take.sidecar.read_text(encoding="utf-8"))
        records.append(
            ctx.record(
                take.path,
                name=f"take{i + 1}",
                kind="invent",
                engine="diffusion",
                frame_count=take.frame_count,
                fps=str(take.fps),
                seed=take.seed,
                model=sidecar.get("model"),
                info={"notices": take.notices, "sidecar": str(take.sidecar.relative_to(ctx.home))},
            )
        )
    return records


def run_localize(ctx: JobContext) -> list[TakeRecord]:
    """One take per market; markets that cannot be made are reported on the others' takes."""
    from shotcraft.markets import localize

    assert ctx.source is not None
    op: LocalizeOp = ctx.spec
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    # One market at a time, so progress can say which one and only ever move forwards.
    for number, market in enumerate(op.markets, 1):
        results += localize(
            ctx.source,
            ctx.output_dir,
            [market],
            table=op.table,
            replacements=op.replacements,
            subtitles={m: path for m, path in op.subtitles.items() if m == market},
            burn_subtitles=op.burn_subtitles,
            progress=MarketProgress(ctx.progress, number, len(op.markets)),
            overwrite=True,
        )
    problems = [f"{r.market}: {p}" for r in results if r.take is None for p in r.problems]
    records = []
    for r in results:
        if r.take is None:
            continue
        info = {
            "market": r.market,
            "notices": r.take.notices + problems,
            "sidecar": str(r.take.sidecar.relative_to(ctx.home)),
        }
        records.append(
            ctx.record(
                r.take.path,
                name=f"market-{r.market}",
                kind="localize",
                engine=r.take.engine,
                frame_count=r.take.frame_count,
                fps=probe_fps(r.take.path),
                info=info,
            )
        )
    if not records:
        raise SpecError(problems or ["no market version could be made"])
    return records


class MarketProgress:
    """Progress of market ``number`` of ``count`` as one forward-moving fraction of the whole job, staged
    "market 2 of 3 · localize". Within a market, finding the text is the first half and rendering (replacing
    and writing, which interleave) the second; the fraction never goes back."""

    STEPS = 1000

    def __init__(self, progress: Progress, number: int, count: int):
        self.progress, self.number, self.count = progress, number, count
        self.done = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        part = done / total if total else 0.0
        within = part / 2 if stage == "find text" else 0.5 + part / 2
        self.done = max(self.done, within)
        overall = (self.number - 1 + self.done) / self.count
        self.progress(
            f"market {self.number} of {self.count} · {stage}", round(overall * self.STEPS), self.STEPS
        )


def probe_fps(path: Path) -> str:
    """The frame rate of a written take, as the exact fraction's string (``"30000/1001"``)."""
    from shotcraft.media.probe import probe

    return str(probe(path).require_video().fps)


JOB_KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind("transform", "Transform", TransformSpec, "video", run_transform, check=check_transform),
        JobKind(
            "invent",
            "Invent",
            GenerateSpec,
            "none",
            run_invent,
            requires="shotcraft.invent",
            ready=invent_ready,
        ),
        JobKind(
            "localize",
            "Localize",
            LocalizeOp,
            "video",
            run_localize,
            requires="shotcraft.markets",
            check=check_localize,
        ),
    )
}
