"""A sequence: from an idea (or a clip) to market versions, described once in a file and re-runnable.

A sequence file (YAML or JSON) names a **start** (invent N takes on the diffusion engine, or an existing
clip), a **pick** (a take by its number, its seed, or a score), any number of **transforms** (each a
:class:`~shotcraft.spec.TransformSpec`, chained on the previous step or on the step named in ``input``) and
**markets** (market versions through :func:`shotcraft.markets.localize`)::

    name: spring
    output: spring-output          # every step's files go here (relative to this file)
    start:
      clip: footage.mp4            # or: invent: {prompt: "a tram at dawn", takes: 4, seed: 7}
    transforms:
      - name: night
        transform: {operations: [{op: relight, preset: night}]}
    markets: {markets: [de, fr], table: strings.csv}

Every step's output carries its lineage (the sequence, the step, its parent, the take and seed it descends
from, engine and versions) in its sidecar. Re-runs are content-addressed: a step's key is the hash of its
input's content, the files its spec names, its spec, its engine and shotcraft's version; a step whose key is
unchanged and whose outputs are intact (same SHA-256 as when made, recorded in ``<output>/<name>.sequence.json``)
is skipped, so changing one step re-runs it and only what depends on it. Every problem in the file is found
before any work starts (:func:`check_sequence`), one line each, named by its step.

>>> seq = parse_sequence({"start": {"clip": "a.mp4"}, "transforms": [{"name": "warm",
...     "transform": {"operations": [{"op": "relight", "preset": "golden_hour"}]}}]}, Path("/p/s.yaml"))
>>> [(s.name, s.kind, s.parent) for s in seq.steps]
[('start', 'clip', None), ('warm', 'transform', 'start')]
>>> seq.steps[1].outputs
[PosixPath('/p/s-output/warm.mp4')]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from shotcraft import __version__
from shotcraft.errors import EngineUnavailable, MediaError, SpecError
from shotcraft.media.output_path import check_output, commit, sidecar_of, temp_name
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import (
    MAX_MARKETS,
    MAX_OPERATIONS,
    GenerateSpec,
    TransformSpec,
    _Model,
    input_paths,
    load_spec,
    read_mapping,
    resolve_paths,
    validate_spec,
)

#: The seed of the first invented take when the file gives none, so a sequence file always reproduces.
DEFAULT_SEED = 0
#: Step names: what a file name and a timeline track can hold.
STEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SUFFIX = {"mp4_h264": ".mp4", "mp4_h265": ".mp4", "mov_prores": ".mov"}
#: Ways to pick the strongest take without a person: the steadiest (least frame-to-frame change, the least
#: flicker and jitter) or the sharpest (most edge detail).
PickScore = Literal["steadiest", "sharpest"]
StepState = Literal["done", "stale", "pending"]


class StartSpec(_Model):
    """Where the sequence starts: an existing clip, or takes invented from a :class:`GenerateSpec`."""

    clip: Path | None = None
    invent: GenerateSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> StartSpec:
        if (self.clip is None) == (self.invent is None):
            raise ValueError("give either clip (an existing clip) or invent (takes to invent)")
        return self


class PickSpec(_Model):
    """Which invented take goes on: its number (1 = the first), its seed, or the best by a score; with
    ``final`` the picked draft is rendered again at final quality from the same seed."""

    take: int | None = Field(default=None, ge=1, le=16)
    seed: int | None = Field(default=None, ge=0)
    score: PickScore | None = None
    final: bool = False

    @model_validator(mode="after")
    def _one(self) -> PickSpec:
        if sum(v is not None for v in (self.take, self.seed, self.score)) != 1:
            raise ValueError(
                "pick needs exactly one of take (its number), seed or score (steadiest, sharpest)"
            )
        return self


class TransformStep(_Model):
    """One transform: its name (also its output file's), the step it works on, and its spec (inline under
    ``transform`` or in a spec file)."""

    name: str = Field(pattern=STEP_NAME)
    input: str | None = Field(default=None, description="the step whose output it transforms")
    transform: TransformSpec | None = None
    spec: Path | None = Field(default=None, description="a TransformSpec file instead of `transform`")

    @model_validator(mode="after")
    def _one(self) -> TransformStep:
        if (self.transform is None) == (self.spec is None):
            raise ValueError("give the transform inline (transform: ...) or as a spec file (spec: FILE)")
        return self


class MarketsStep(_Model):
    """Market versions of one step's output (:func:`shotcraft.markets.localize`), into a folder named
    after the step."""

    name: str = Field(default="markets", pattern=STEP_NAME)
    input: str | None = None
    markets: list[str] = Field(min_length=1, max_length=MAX_MARKETS)
    table: Path | None = None
    replacements: dict[str, dict[str, str]] = Field(default_factory=dict)
    subtitles: dict[str, Path] = Field(default_factory=dict)
    burn_subtitles: bool = False
    soft_subtitles: bool = True


class SequenceSpec(_Model):
    name: str | None = Field(default=None, pattern=STEP_NAME)
    output: Path | None = Field(default=None, description="folder for every step's files")
    weights: Path | None = Field(default=None, description="diffusion weights folder (else the usual lookup)")
    start: StartSpec
    pick: PickSpec | None = None
    transforms: list[TransformStep] = Field(default_factory=list, max_length=4 * MAX_OPERATIONS)
    markets: MarketsStep | None = None


@dataclass
class Step:
    """One node of the sequence: what it is, which step feeds it, the files it writes (a clip start names
    the user's clip, which is never written)."""

    name: str
    kind: Literal["clip", "invent", "pick", "transform", "markets"]
    parent: str | None
    outputs: list[Path]
    spec: Any = None


@dataclass
class Sequence:
    file: Path
    name: str
    output: Path
    spec: SequenceSpec
    steps: list[Step]
    #: How the steps fit together (names, inputs, picks); reported with every other problem by
    #: :func:`check_sequence`.
    problems: list[str] = field(default_factory=list)

    @property
    def state_path(self) -> Path:
        return self.output / f"{self.name}.sequence.json"

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


@dataclass
class StepReport:
    """A step's state (done, stale or pending) and why, and whether this run made it."""

    name: str
    kind: str
    state: StepState
    reason: str
    outputs: list[Path]
    parent: str | None = None
    ran: bool = False
    notices: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# Reading the file


def load_sequence(path: str | os.PathLike[str]) -> Sequence:
    """Read and validate a sequence file; every problem in it is raised at once, each named by its step."""
    path = Path(path).absolute()
    return parse_sequence(read_mapping(path, "sequence file"), path)


_PARTS: dict[str, type[_Model]] = {"start": StartSpec, "pick": PickSpec, "markets": MarketsStep}


def parse_sequence(data: dict[str, Any], file: Path) -> Sequence:
    """A sequence from the mapping a file at ``file`` holds (relative paths are read from its folder)."""
    problems: list[str] = []
    parts: dict[str, Any] = {}
    for key, value in data.items():
        if key in _PARTS:
            parts[key] = _validated(value, _PARTS[key], key, problems)
        elif key == "transforms":
            if not isinstance(value, list):
                problems.append("transforms: should be a list of steps")
                continue
            parts[key] = []
            for i, item in enumerate(value):
                name = item.get("name") if isinstance(item, dict) else None
                parts[key].append(
                    _validated(item, TransformStep, f"{name or f'transform {i + 1}'}", problems)
                )
        else:
            parts[key] = value
    if "start" not in data:
        problems.append("start: missing; give start: {clip: FILE} or start: {invent: {...}}")
    if problems:
        raise SpecError(problems)
    spec = validate_spec(parts, SequenceSpec)
    resolve_paths(spec, file.parent)
    for step in spec.transforms:
        if step.spec is not None:
            try:
                step.transform = load_spec(step.spec, TransformSpec)
            except SpecError as exc:
                problems += [f"{step.name}: {p}" for p in exc.problems]
    if problems:
        raise SpecError(problems)
    name = spec.name or _file_safe(file.stem)
    output = spec.output or file.parent / f"{file.stem}-output"
    steps, problems = _build_steps(spec, name, output)
    return Sequence(file, name, output, spec, steps, problems)


def _validated(value: Any, model: type[_Model], where: str, problems: list[str]) -> Any:
    if not isinstance(value, dict):
        problems.append(f"{where}: should be a mapping of settings")
        return None
    try:
        return validate_spec(value, model)
    except SpecError as exc:
        problems += [f"{where}: {p}" for p in exc.problems]
        return None


def _file_safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:64] or "sequence"


def _build_steps(spec: SequenceSpec, name: str, output: Path) -> tuple[list[Step], list[str]]:
    problems: list[str] = []
    start = spec.start
    steps: list[Step] = []
    if start.clip is not None:
        steps.append(Step("start", "clip", None, [start.clip]))
        if spec.pick is not None:
            problems.append(
                "pick: the sequence starts from a clip, which is its one take; pick is for invented takes"
            )
    else:
        invent = start.invent
        assert invent is not None
        if invent.output.format == "png_sequence":
            problems.append("start: a sequence writes clip files; choose mp4_h264, mp4_h265 or mov_prores")
        seed = invent.seed if invent.seed is not None else DEFAULT_SEED
        invent = invent.model_copy(update={"seed": seed})
        base = output / f"{name}{_SUFFIX.get(invent.output.format, '.mp4')}"
        from shotcraft.invent import _take_path

        takes = [_take_path(base, i, invent.takes) for i in range(invent.takes)]
        steps.append(Step("start", "invent", None, takes, invent))
        pick = spec.pick
        if pick is not None:
            if pick.take is not None and pick.take > invent.takes:
                problems.append(f"pick: take {pick.take} asked for, but start invents {invent.takes}")
            if pick.seed is not None and not seed <= pick.seed < seed + invent.takes:
                problems.append(f"pick: seed {pick.seed} is not one of the takes' seeds "
                                f"({seed}..{seed + invent.takes - 1}: take i uses seed + i - 1)")  # fmt: skip
            final = [output / f"{name}_final{takes[0].suffix}"] if pick.final else []
            steps.append(Step("pick", "pick", "start", final, pick))
        elif invent.takes > 1 and (spec.transforms or spec.markets):
            problems.append(f"pick: start invents {invent.takes} takes; say which one goes on "
                            "(pick: {take: N}, {seed: S} or {score: steadiest})")  # fmt: skip
    taken = {s.name for s in steps}
    previous = steps[-1].name
    for item in spec.transforms:
        assert item.transform is not None
        if item.name in taken:
            problems.append(f"{item.name}: the step name is used twice (start and pick are taken)")
        parent = item.input or previous
        if parent not in taken or parent == item.name:
            problems.append(f"{item.name}: input {parent!r} is not a step before it")
        if item.transform.output.format == "png_sequence":
            problems.append(
                f"{item.name}: a sequence writes clip files; choose mp4_h264, mp4_h265 or mov_prores"
            )
        suffix = _SUFFIX.get(item.transform.output.format, ".mp4")
        steps.append(Step(item.name, "transform", parent, [output / f"{item.name}{suffix}"], item.transform))
        taken.add(item.name)
        previous = item.name
    if spec.markets is not None:
        step = spec.markets
        parent = step.input or previous
        if step.name in taken:
            problems.append(f"{step.name}: the step name is used twice")
        if parent not in taken:
            problems.append(f"{step.name}: input {parent!r} is not a step before it")
        steps.append(Step(step.name, "markets", parent, [], step))
    for step in steps:
        if step.kind == "markets" and not problems:
            folder = output / step.name
            step.outputs = [
                folder / f"{source.stem}_{_file_safe(m)}{source.suffix}"
                for source in _handed_on(steps, step.parent)
                for m in step.spec.markets
            ]
    return steps, problems


def _handed_on(steps: list[Step], name: str | None) -> list[Path]:
    """The file the named step hands on; for a pick by score, known only once scored, any of the takes."""
    step = next(s for s in steps if s.name == name)
    if step.kind == "pick" and not step.outputs:
        start = next(s for s in steps if s.name == step.parent)
        pick: PickSpec = step.spec
        if pick.take is not None:
            return [start.outputs[pick.take - 1]]
        if pick.seed is not None:
            return [start.outputs[pick.seed - start.spec.seed]]
        return list(start.outputs)
    return step.outputs[:1]


# ---------------------------------------------------------------------------------------------------------
# Checks before any work


def check_sequence(
    seq: Sequence, *, overwrite: bool = False, state: dict[str, Any] | None = None
) -> list[str]:
    """Every problem that can be found before work starts, raised together (one line each, named by its
    step); returns notices. Finds missing files, clips that cannot be read, specs that do not fit the clip,
    missing diffusion weights, and outputs that would replace a file this sequence did not make."""
    from shotcraft.plan import plan_transform

    state = state if state is not None else read_state(seq)
    problems: list[str] = list(seq.problems)
    notices: list[str] = []
    clip_info = None
    start = seq.spec.start
    all_inputs: list[Path] = []
    if start.clip is not None:
        all_inputs.append(start.clip)
        try:
            from shotcraft.media.probe import probe

            clip_info = probe(start.clip)
            clip_info.require_video()
        except MediaError as exc:
            problems.append(f"start: {exc}")
            clip_info = None
    for step in seq.steps:
        where = step.name
        if step.kind == "invent":
            problems += [f"{where}: {p}" for p in _missing_files(step.spec)]
            problems += [f"{where}: {p}" for p in _weights_problems_invent(step.spec, seq.spec.weights)]
            if start.invent is not None and start.invent.seed is None:
                notices.append(f"start: no seed given; the takes use seeds {DEFAULT_SEED} and up, so the file "
                               "reproduces them")  # fmt: skip
            all_inputs += input_paths(step.spec)
        elif step.kind == "transform":
            spec: TransformSpec = step.spec
            missing = _missing_files(spec)
            problems += [f"{where}: {p}" for p in missing]
            all_inputs += input_paths(spec)
            if clip_info is not None and not missing and _chain_keeps_size(seq, step):
                try:
                    plan_transform(clip_info, spec)
                except (SpecError, MediaError) as exc:
                    problems += [f"{where}: {p}" for p in getattr(exc, "problems", [str(exc)])]
            problems += [f"{where}: {p}" for p in _weights_problems_transform(spec, seq.spec.weights)]
        elif step.kind == "markets":
            problems += [f"{where}: {p}" for p in _markets_problems(step.spec)]
            all_inputs += input_paths(step.spec)
    ours = _ours(state)
    for step in seq.steps:
        if step.kind == "clip":
            continue
        for target in step.outputs:
            try:
                check_output(target, inputs=all_inputs, overwrite=overwrite or ours(target))
            except MediaError as exc:
                text = str(exc)
                if "already exists" in text:
                    text = f"{target} exists and was not made by this sequence (or was changed since): add --overwrite (-y) to replace it"
                problems.append(f"{step.name}: {text}")
    if problems:
        raise SpecError(problems)
    return notices


def _chain_keeps_size(seq: Sequence, step: Step) -> bool:
    """Whether the clip this transform gets has the start clip's size: no reframe on the way to it."""
    named = {s.name: s for s in seq.steps}
    before = named.get(step.parent or "")
    while before is not None:
        if before.kind == "transform" and before.spec.reframe is not None:
            return False
        before = named.get(before.parent or "")
    return step.parent in named


def _missing_files(spec: Any) -> list[str]:
    return [f"{p} does not exist" for p in input_paths(spec) if not Path(p).exists()]


def _markets_problems(step: MarketsStep) -> list[str]:
    problems = _missing_files(step)
    if step.table is None and not step.replacements and not step.subtitles:
        problems.append("localize needs a translation table, replacements or subtitles")
    unknown = sorted(set(step.subtitles) - set(step.markets))
    if unknown:
        problems.append(f"subtitles are given for {', '.join(unknown)}, which is not among the markets")
    return problems


def _weights_problems_invent(spec: GenerateSpec, weights: Path | None) -> list[str]:
    from shotcraft.engines.diffusion.registry import DEFAULT_MODELS, get_model
    from shotcraft.invent import _TASK_WORDS, task_of

    try:
        task = task_of(spec)
        card = get_model(spec.model or DEFAULT_MODELS.get(task, DEFAULT_MODELS["t2v"]))
        card.require(task, _TASK_WORDS[task])
        return _locate_problems(card, weights)
    except (SpecError, EngineUnavailable) as exc:
        return list(getattr(exc, "problems", None) or [str(exc)])


def _weights_problems_transform(spec: TransformSpec, weights: Path | None) -> list[str]:
    from shotcraft.engines import engine_name

    if engine_name(spec) != "diffusion":
        return []
    from shotcraft.engines.diffusion.registry import DEFAULT_MODELS, get_model

    try:
        return _locate_problems(get_model(spec.model or DEFAULT_MODELS["transform"]), weights)
    except EngineUnavailable as exc:
        return [str(exc)]


def _locate_problems(card: Any, weights: Path | None) -> list[str]:
    from shotcraft.engines.diffusion.weights import locate

    if weights is None and os.environ.get("SHOTCRAFT_WEIGHTS"):
        weights = Path(os.environ["SHOTCRAFT_WEIGHTS"])
    try:
        locate(card, weights)
    except EngineUnavailable as exc:
        return [str(exc)]
    return []


# ---------------------------------------------------------------------------------------------------------
# Content hashes and the state file


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) so one run reads a file once."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def read_state(seq: Sequence) -> dict[str, Any]:
    """What earlier runs recorded: per step its key, its outputs' hashes, its pick and lineage chain."""
    path = seq.state_path
    if not path.is_file():
        return {"steps": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"{path} is not a sequence state file shotcraft can read ({exc}); move it away"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != "sequence-state":
        raise SpecError(f"{path} exists and is not this sequence's state file: move it away")
    return data


def _write_state(seq: Sequence, state: dict[str, Any]) -> None:
    path = seq.state_path
    state = {"kind": "sequence-state", "sequence": str(seq.file), "shotcraft": __version__, **state}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    tmp.write_text(json.dumps(state, indent=2, default=str), encoding="utf-8")
    commit([(tmp, path)])


def _ours(state: dict[str, Any]) -> Callable[[Path], bool]:
    """Whether a path holds exactly what a recorded step wrote (so a re-run may replace it)."""
    recorded: dict[str, str] = {}
    for record in state.get("steps", {}).values():
        recorded.update(record.get("outputs", {}))
        recorded.update(record.get("sidecars", {}))

    def ours(path: Path) -> bool:
        for candidate in (path, sidecar_of(path)):
            sha = recorded.get(str(candidate))
            if os.path.lexists(candidate) and (
                sha is None or not candidate.is_file() or file_sha256(candidate) != sha
            ):
                return False
        return str(path) in recorded

    return ours


def _intact(record: dict[str, Any]) -> str | None:
    """Why a recorded step's outputs are no longer as it made them, or None when they are."""
    for path, sha in record.get("outputs", {}).items():
        if not Path(path).is_file():
            return f"{Path(path).name} is missing"
        if file_sha256(Path(path)) != sha:
            return f"{Path(path).name} was changed since it was made"
    return None


def _step_key(seq: Sequence, step: Step, parent_sha: str | list[str] | None) -> str:
    """The content address of a step: its input's content, the files its spec names, its spec, engine and
    shotcraft's version."""
    spec = step.spec.model_dump(mode="json") if step.spec is not None else None
    files = {str(p): file_sha256(Path(p)) for p in (input_paths(step.spec) if step.spec is not None else [])}
    payload = {
        "kind": step.kind,
        "spec": spec,
        "files": files,
        "parent": parent_sha,
        "engine": _engine_id(step),
        "shotcraft": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _engine_id(step: Step) -> str | None:
    from shotcraft.engines.diffusion.registry import DEFAULT_MODELS

    if step.kind == "invent" or (step.kind == "pick" and step.spec.final):
        return "diffusion"
    if step.kind == "transform":
        from shotcraft.engines import engine_name

        name = engine_name(step.spec)
        return f"diffusion:{step.spec.model or DEFAULT_MODELS['transform']}" if name == "diffusion" else name
    if step.kind == "markets":
        return "classic"
    return None


# ---------------------------------------------------------------------------------------------------------
# Walking the steps: status, dry run and run are one walk


def sequence_status(seq: Sequence) -> list[StepReport]:
    """Each step's state: done (key unchanged, outputs intact), stale (made before, but its inputs, spec or
    outputs changed since) or pending (never made)."""
    if seq.problems:
        raise SpecError(seq.problems)
    return _walk(seq, read_state(seq), execute=None)


def run_sequence(
    seq: Sequence, *, progress: Progress = no_progress, overwrite: bool = False, dry_run: bool = False
) -> list[StepReport]:
    """Check everything, then run the steps that are not done, in order; returns every step's report.

    With ``dry_run`` nothing is written: the reports say what would run. Each finished step is recorded at
    once, so an interrupted run keeps what it finished.
    """
    state = read_state(seq)
    notices = check_sequence(seq, overwrite=overwrite, state=state)
    if dry_run:
        reports = _walk(seq, state, execute=None)
    else:
        runner = _Runner(seq, state, progress, overwrite)
        reports = _walk(seq, state, execute=runner.run)
    if reports and notices:
        reports[0].notices[:0] = notices
    return reports


def _walk(
    seq: Sequence,
    state: dict[str, Any],
    execute: Callable[[Step, str, dict[str, Any]], dict[str, Any]] | None,
) -> list[StepReport]:
    records: dict[str, dict[str, Any]] = {}
    reports: list[StepReport] = []
    for step in seq.steps:
        report = StepReport(step.name, step.kind, "pending", "", list(step.outputs), step.parent)
        reports.append(report)
        if step.kind == "clip":
            clip = step.outputs[0]
            if clip.is_file():
                report.state, report.reason = "done", "the source clip"
                records[step.name] = {"main": str(clip), "main_sha": file_sha256(clip), "chain": [
                    {"step": "start", "kind": "clip", "path": str(clip), "sha256": file_sha256(clip)}]}  # fmt: skip
            else:
                report.reason = f"{clip} does not exist"
            continue
        parent = records.get(step.parent) if step.parent else None
        if step.parent and parent is None:
            recorded = step.name in state["steps"]
            report.state = "stale" if recorded else "pending"
            report.reason = f"waits on {step.parent}"
            continue
        parent_sha: str | list[str] | None = None
        if step.kind == "pick":
            parent_sha = parent["shas"] if parent else None
        elif parent is not None:
            parent_sha = parent["main_sha"]
        key = _step_key(seq, step, parent_sha)
        record = state["steps"].get(step.name)
        broken = _intact(record) if record else None
        if record and record.get("key") == key and broken is None:
            report.state, report.reason = "done", "inputs and spec unchanged, outputs intact"
            records[step.name] = record
            report.outputs = _shown(record, report.outputs)
            continue
        if record:
            report.state = "stale"
            report.reason = broken or "its input or spec changed since it was made"
        else:
            report.state = "pending"
            report.reason = "not made yet"
        if execute is None:
            continue
        record = execute(step, key, parent or {})
        state["steps"][step.name] = record
        _write_state(seq, state)
        if record.get("key") != key:  # a market failed: recorded, but not done
            report.reason = "; ".join(record.get("problems", []))
            raise SpecError([f"{step.name}: {p}" for p in record.get("problems", [])])
        records[step.name] = record
        report.state, report.reason, report.ran = "done", "made now", True
        report.outputs = _shown(record, report.outputs)
        report.notices = record.get("notices", [])
    return reports


def _shown(record: dict[str, Any], planned: list[Path]) -> list[Path]:
    """The files a done step stands for: what it wrote, else (a pick) the take it hands on."""
    written = [Path(p) for p in record.get("outputs", {})]
    return written or ([Path(record["main"])] if record.get("main") else planned)


# ---------------------------------------------------------------------------------------------------------
# Running one step


class _Runner:
    def __init__(self, seq: Sequence, state: dict[str, Any], progress: Progress, overwrite: bool):
        self.seq, self.progress, self.overwrite = seq, progress, overwrite
        self.ours = _ours(state)

    def may_replace(self, path: Path) -> bool:
        return self.overwrite or self.ours(path)

    def run(self, step: Step, key: str, parent: dict[str, Any]) -> dict[str, Any]:
        self.seq.output.mkdir(parents=True, exist_ok=True)
        lineage = {
            "sequence": {"file": str(self.seq.file), "name": self.seq.name, "step": step.name, "key": key},
            "parent": {"step": step.parent, "path": parent.get("main"), "sha256": parent.get("main_sha")}
            if step.parent else None,
            "chain": parent.get("chain", []),
        }  # fmt: skip
        return getattr(self, f"_{step.kind}")(step, key, parent, lineage)

    def _invent(
        self, step: Step, key: str, parent: dict[str, Any], lineage: dict[str, Any]
    ) -> dict[str, Any]:
        from shotcraft.invent import generate

        spec: GenerateSpec = step.spec
        takes = generate(
            spec, _take_base(step), weights=self.seq.spec.weights, progress=self.progress, lineage=lineage,
            overwrite=all(self.may_replace(p) for p in step.outputs if os.path.lexists(p)),
        )  # fmt: skip
        record = _record(key, [t.path for t in takes], [n for t in takes for n in t.notices])
        record["seeds"] = [t.seed for t in takes]
        record["shas"] = [record["outputs"][str(t.path)] for t in takes]
        model = json.loads(takes[0].sidecar.read_text(encoding="utf-8")).get("model")
        record["chain"] = [{"step": step.name, "kind": "invent", "takes": len(takes), "seeds": record["seeds"],
                            "model": model, "shotcraft": __version__}]  # fmt: skip
        if len(takes) == 1:
            record["main"], record["main_sha"] = str(takes[0].path), record["shas"][0]
            record["chain"][0]["take"] = {"index": 1, "seed": takes[0].seed, "path": str(takes[0].path)}
        return record

    def _pick(self, step: Step, key: str, parent: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
        pick: PickSpec = step.spec
        takes = [Path(p) for p in parent["outputs"]]
        seeds = parent["seeds"]
        scores: list[float] = []
        if pick.take is not None:
            index = pick.take - 1
        elif pick.seed is not None:
            index = seeds.index(pick.seed)
        else:
            assert pick.score is not None
            scores = [score_take(t, pick.score) for t in takes]
            index = max(range(len(takes)), key=scores.__getitem__)
        chosen = {
            "index": index + 1,
            "seed": seeds[index],
            "path": str(takes[index]),
            "by": _pick_words(pick),
        }
        if scores:
            chosen["scores"] = [round(s, 4) for s in scores]
        chain = [*parent["chain"], {"step": step.name, "kind": "pick", "take": chosen}]
        if not pick.final:
            record = _record(key, [], [])
            record.update(main=str(takes[index]), main_sha=parent["shas"][index], picked=chosen, chain=chain)
            return record
        from shotcraft.invent import final_of, generate

        spec, seed = final_of(takes[index])
        target = step.outputs[0]
        lineage = {**lineage, "chain": chain, "final_of": str(takes[index])}
        take = generate(spec, target, weights=self.seq.spec.weights, progress=self.progress, seed=seed,
                        lineage=lineage, overwrite=self.may_replace(target))[0]  # fmt: skip
        record = _record(key, [take.path], take.notices)
        record.update(main=str(take.path), main_sha=record["outputs"][str(take.path)], picked=chosen)
        record["chain"] = [*chain, {"step": step.name, "kind": "final", "seed": seed, "path": str(take.path)}]
        return record

    def _transform(
        self, step: Step, key: str, parent: dict[str, Any], lineage: dict[str, Any]
    ) -> dict[str, Any]:
        from shotcraft.pipeline import transform

        target = step.outputs[0]
        from shotcraft.engines.base import EngineOptions

        options = EngineOptions(weights=self.seq.spec.weights)
        result = transform(parent["main"], target, step.spec, progress=self.progress, lineage=lineage,
                           engine_options=options, overwrite=self.may_replace(target))  # fmt: skip
        record = _record(key, [result.path], result.notices)
        record["main"], record["main_sha"] = str(result.path), record["outputs"][str(result.path)]
        record["chain"] = [*parent["chain"], {"step": step.name, "kind": "transform", "engine": result.engine,
                                              "path": str(result.path), "shotcraft": __version__}]  # fmt: skip
        return record

    def _markets(
        self, step: Step, key: str, parent: dict[str, Any], lineage: dict[str, Any]
    ) -> dict[str, Any]:
        from shotcraft.markets import localize
        from shotcraft.media.write import write_sidecar

        spec: MarketsStep = step.spec
        source = Path(parent["main"])
        folder = self.seq.output / step.name
        targets = [folder / f"{source.stem}_{_file_safe(m)}{source.suffix}" for m in spec.markets]
        results = localize(
            source, folder, spec.markets, table=spec.table, replacements=spec.replacements,
            subtitles=dict(spec.subtitles), burn_subtitles=spec.burn_subtitles, soft_subtitles=spec.soft_subtitles,
            suffix=source.suffix, progress=self.progress,
            overwrite=all(self.may_replace(t) for t in targets if os.path.lexists(t)),
        )  # fmt: skip
        made = [r for r in results if r.take is not None]
        # localize records the market in each sidecar; the sequence's lineage is added beside it.
        for result in made:
            assert result.take is not None
            data = json.loads(result.take.sidecar.read_text(encoding="utf-8"))
            data["lineage"] = {**data.get("lineage", {}), **lineage}
            write_sidecar(result.take.path, data, overwrite=True)
        record = _record(
            key, [r.take.path for r in made if r.take], [n for r in made if r.take for n in r.take.notices]
        )
        record["markets"] = {r.market: str(r.path) for r in made}
        problems = [f"{r.market}: {p}" for r in results if r.take is None for p in r.problems]
        if problems:
            record["key"], record["problems"] = None, problems
        return record


def _take_base(step: Step) -> Path:
    """The output name ``generate`` is given so it names the takes as the step's outputs."""
    first = step.outputs[0]
    if len(step.outputs) == 1:
        return first
    return first.with_name(first.name.replace("_take1", "", 1))


def _record(key: str, outputs: list[Path], notices: list[str]) -> dict[str, Any]:
    sidecars = {str(sidecar_of(p)): file_sha256(sidecar_of(p)) for p in outputs if sidecar_of(p).is_file()}
    return {"key": key, "outputs": {str(p): file_sha256(p) for p in outputs}, "sidecars": sidecars,
            "notices": list(dict.fromkeys(notices))}  # fmt: skip


def _pick_words(pick: PickSpec) -> str:
    if pick.take is not None:
        return f"take {pick.take}"
    if pick.seed is not None:
        return f"seed {pick.seed}"
    return f"score {pick.score}"


def score_take(path: Path, score: PickScore, samples: int = 24) -> float:
    """A take's score for picking (higher is better): ``steadiest`` is minus the mean change between
    neighbouring frames (flicker and jitter), ``sharpest`` the share of edge pixels; frames are sampled
    evenly, at most ``samples``, at the scoring size."""
    import numpy as np

    from shotcraft.media.read import VideoReader
    from shotcraft.metrics import canny_edges, scoring_size

    reader = VideoReader(path)
    count = reader.video.frame_count
    step = max(1, count // samples)
    frames = [scoring_size(f).astype(np.float32) for i, f in enumerate(reader.frames()) if i % step == 0]
    if score == "sharpest":
        return float(np.mean([canny_edges(f.astype(np.uint8)).mean() for f in frames]))
    if len(frames) < 2:
        return 0.0
    return -float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(frames)]))


# ---------------------------------------------------------------------------------------------------------
# A sequence file from the advisor's answer


def sequence_of_advice(advice: Any, clip: Path | None = None) -> str:
    """The sequence file (YAML text) that carries out ``advice`` (an :class:`~shotcraft.advisor.Advice`):
    its start (the clip, or the takes to invent, picked by score), one transform step per operation sharing
    the suggested adherence, strength, locks and engine, and market versions. What only the user can give
    (a swap's corners, the translation table, the clip when none was passed) is listed at the top; ``sequence
    run`` names each missing piece before any work."""
    import yaml

    generate = advice.settings.get("generate")
    transform = dict(advice.settings.get("transform", {}))
    data: dict[str, Any] = {"name": "plan"}
    todo = [step for step in advice.steps if not step.startswith(("Transform ", "Invent ", "Pick "))]
    # Inventing to explore looks for a clip that exists still transforms the clip: the sequence starts there.
    if generate is not None and (clip is None or advice.workflow == "invent"):
        data["start"] = {"invent": generate}
        if transform and generate.get("takes", 1) > 1:
            data["pick"] = {"score": "steadiest"}
            todo.append(
                "Look at the takes and set pick: {take: N} to the one you keep (the steadiest is picked now)."
            )
    else:
        data["start"] = {"clip": str(clip.resolve()) if clip is not None else "CLIP.mp4"}
        if clip is None:
            todo.insert(0, "Replace CLIP.mp4 with your clip.")
    operations = transform.pop("operations", [])
    steps = []
    for op in operations:
        if op["op"] == "localize":
            data["markets"] = {"markets": op.get("markets") or ["DE"], "table": "strings.csv"}
            todo.append("Write strings.csv (source,de,fr,...) with the on-screen text per market.")
        else:
            steps.append({"name": op["op"], "transform": {**transform, "operations": [op]}})
    if transform and not steps and not operations:
        steps.append({"name": "transform", "transform": transform})
    if steps:
        data["transforms"] = steps
    header = [
        "# A sequence file written by `shotcraft advise --write-sequence`; run it with",
        "#   shotcraft sequence run THIS_FILE",
    ]
    if todo:
        header += ["#", "# Before running:"] + [f"#   - {line}" for line in todo]
    return "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write_text_file(path: Path, text: str, *, overwrite: bool = False) -> Path:
    """``text`` into ``path`` atomically, under the rules of :mod:`shotcraft.media.output_path`."""
    check_output(path, overwrite=overwrite, sidecar=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        commit([(tmp, path)])
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = [
    "MarketsStep", "PickSpec", "Sequence", "SequenceSpec", "StartSpec", "Step", "StepReport", "TransformStep",
    "check_sequence", "file_sha256", "load_sequence", "parse_sequence", "read_state", "run_sequence", "score_take",
    "sequence_of_advice", "sequence_status", "write_text_file",
]  # fmt: skip
