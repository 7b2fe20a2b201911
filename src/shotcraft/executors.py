"""Where the parts of a split transform render: local processes (:class:`LocalExecutor`) or the tasks of
a Ray cluster (:class:`RayExecutor`, the optional ``scale`` extra).

Every executor renders each :class:`~shotcraft.render.Part` with :func:`~shotcraft.render.render_part` into
``folder / segment_name(i)``, a hidden temporary folder next to the output that :func:`render_parts` removes
once the take is joined from them. A Ray task gets the source's bytes, and those of every file the spec
names (mask stills, images), from Ray's object store (:mod:`shotcraft.shipping`) and returns its segment's
bytes the same way, so no node needs a path that exists on another.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shotcraft.engines.base import EngineOptions
from shotcraft.errors import EngineUnavailable
from shotcraft.media.output_path import remove_partial_folder, temp_name
from shotcraft.plan import TransformPlan
from shotcraft.progress import Progress
from shotcraft.render import Part, PartCost, Segments, joined, render_part
from shotcraft.shipping import Shipped, receive, ship
from shotcraft.spec import TransformSpec, input_paths
from shotcraft.threads import share_cores

RAY_MISSING = "--ray needs Ray: pip install 'shotcraft[scale]'"


@dataclass(frozen=True)
class PartsJob:
    """The parts of one transform to render, and the folder their segments go to."""

    source: Path
    spec: TransformSpec
    parts: list[Part]
    folder: Path
    options: EngineOptions | None = None


class PartExecutor(Protocol):
    def render(self, job: PartsJob, progress: Progress) -> list[str]:
        """Render every part into ``job.folder / segment_name(i)``; returns each part's engine name."""
        ...


def segment_name(index: int) -> str:
    return f"part-{index:05d}.mov"


@contextlib.contextmanager
def render_parts(
    plan: TransformPlan,
    parts: list[Part],
    executor: PartExecutor,
    output: Path,
    options: EngineOptions | None,
    progress: Progress,
) -> Iterator[tuple[str, Segments | Iterator[Any]]]:
    """Render ``parts`` of ``plan`` with ``executor``; yields the engine's name and the take's video from the
    segments (:func:`~shotcraft.render.joined`), which are removed on the way out."""
    folder = temp_name(output.with_suffix(".parts"))
    folder.mkdir(parents=True)
    try:
        engines = executor.render(PartsJob(plan.source.path, plan.spec, parts, folder, options), progress)
        yield engines[0], joined(plan, [folder / segment_name(i) for i in range(len(parts))])
    finally:
        remove_partial_folder(folder)


class LocalExecutor:
    """Parts on ``workers`` local processes (spawned, so no engine state is shared by forking).

    The processes start with the first render and serve every later one until :meth:`close` (or the end of
    a ``with`` block), so a caller rendering many clips pays their start-up once. Each uses its share of
    the cores (:func:`~shotcraft.threads.share_cores`): ``workers`` renders on as many cores, not each on
    all of them.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        #: the last render's parts' :class:`~shotcraft.render.PartCost`, in order, and when it sent them
        #: (``time.time()``)
        self.costs: list[PartCost] = []
        self.dispatched = 0.0

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def render(self, job: PartsJob, progress: Progress) -> list[str]:
        if self._pool is None:
            share = max(1, (os.cpu_count() or 1) // self.workers)
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, context, share_cores, (share,))
        parts = job.parts
        total, done = sum(p.frames for p in parts), 0
        engines = [""] * len(parts)
        self.costs = [PartCost() for _ in parts]
        self.dispatched = time.time()
        futures = {
            self._pool.submit(
                _costed_part, job.source, job.spec, part, job.folder / segment_name(i), job.options
            ): i
            for i, part in enumerate(parts)
        }
        try:
            for future in as_completed(futures):
                index = futures[future]
                engines[index], self.costs[index] = future.result()
                done += parts[index].frames
                progress("render", done, total)
        except BaseException:
            # A failed or interrupted render stops its processes; the next render starts new ones.
            self.close()
            raise
        return engines


def _costed_part(
    source: Path, spec: TransformSpec, part: Part, segment: Path, options: EngineOptions | None
) -> tuple[str, PartCost]:
    cost = PartCost()
    return render_part(source, spec, part, segment, options, cost=cost), cost


def require_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ModuleNotFoundError:
        raise EngineUnavailable(RAY_MISSING) from None
    return ray


def connect_ray(address: str) -> Any:
    """Ray, connected to the cluster at ``address`` (``auto``: the local one, started if none runs)."""
    ray = require_ray()
    if not ray.is_initialized():
        try:
            ray.init(
                address=None if address == "auto" else address, logging_level="ERROR", log_to_driver=False
            )
        except (ConnectionError, ValueError) as exc:
            raise EngineUnavailable(f"cannot reach the Ray cluster at {address}: {exc}") from None
    return ray


def _render_on_node(
    source: Shipped,
    inputs: dict[str, Shipped],
    spec: TransformSpec,
    part: Part,
    options: EngineOptions | None,
) -> tuple[str, bytes]:
    """One part on a Ray worker: the source and the spec's files from the object store into a private
    folder, the segment back."""
    share_cores(1)  # the task holds one CPU of its node
    with tempfile.TemporaryDirectory(prefix="shotcraft-part-") as tmp:
        local, _ = receive(spec, inputs, Path(tmp) / "inputs")
        segment = Path(tmp) / "segment.mov"
        engine = render_part(source.save(Path(tmp)), local, part, segment, options)
        return engine, segment.read_bytes()


class RayExecutor:
    """Parts as Ray tasks (one CPU each), retried up to ``max_retries`` times when a worker or node dies;
    a diffusion transform's windows on actors that keep the model loaded (:attr:`window_runner`)."""

    def __init__(self, address: str = "auto", *, max_retries: int = 3):
        self.ray = connect_ray(address)
        self.max_retries = max_retries
        from shotcraft.actors import ActorWindows

        #: the actors that generate diffusion windows (:mod:`shotcraft.actors`): started by the first diffusion
        #: transform, they keep its model loaded for every later one.
        self.window_runner = ActorWindows(self.ray, max_retries=max_retries)

    def cpus(self) -> int:
        """CPUs in the cluster: the natural number of parts."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def render(self, job: PartsJob, progress: Progress) -> list[str]:
        parts, ray = job.parts, self.ray
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_render_on_node)
        # Every file goes into the object store once, whatever the number of parts.
        source = ship(ray, [job.source])[str(job.source)]
        inputs = ship(ray, input_paths(job.spec))
        pending = {
            task.remote(source, inputs, job.spec, part, job.options): i for i, part in enumerate(parts)
        }
        total, done = sum(p.frames for p in parts), 0
        engines = [""] * len(parts)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ready[0])
                engines[index], segment = ray.get(ready[0])
                (job.folder / segment_name(index)).write_bytes(segment)
                done += parts[index].frames
                progress("render", done, total)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return engines
