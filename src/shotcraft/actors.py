"""Diffusion windows on Ray actors that keep the model loaded: one actor per GPU of the cluster (one on a
CPU when it has none), one window per call.

The engine keeps a clip's windows sequential and holds what passes from one to the next (the previous
window's tail goes out in the job's fixed frames, the colour anchor is applied to what comes back), so a
call carries everything its window needs and any actor of the pool may take it. A window retried on a
restarted actor is the same job with the same seeds, so it comes back with the same frames. An actor loads
its pipeline through the same path as a local render (:meth:`DiffusionEngine.pipeline`, memory settings
chosen for the actor's own device) and keeps it for every later window and job.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from shotcraft.engines.base import EngineOptions
from shotcraft.engines.diffusion import DiffusionEngine, WindowCall, run_job
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.errors import EngineUnavailable, MediaError, SpecError
from shotcraft.progress import no_progress


class WindowActor:
    """The body of one actor (:class:`ActorWindows` wraps it with ``ray.remote``: Ray is an optional extra)."""

    def __init__(self) -> None:
        # A weak reference: the loader keeps the one resident pipeline, and drops it before loading another.
        self._loaded: weakref.ref[Any] | None = None
        self._loads = 0
        self._windows = 0
        self._device = ""

    def load(self, model: str, options: EngineOptions, task: str) -> list[str]:
        """Load ``model`` for ``task`` unless it is loaded; returns the loading notices."""
        return self._pipeline(model, options, task)[2]

    def run(
        self, model: str, options: EngineOptions, task: str, job: WindowJob
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """One window: its frames, and what the runner reported."""
        engine, pipe, _ = self._pipeline(model, options, task)
        frames = run_job(pipe, engine.card, job)
        self._windows += 1
        return frames, job.report

    def stats(self) -> dict[str, Any]:
        """Pipelines loaded and windows run by this actor's process, and its device."""
        return {"loads": self._loads, "windows": self._windows, "device": self._device}

    def _pipeline(
        self, model: str, options: EngineOptions, task: str
    ) -> tuple[DiffusionEngine, Any, list[str]]:
        # This node's settings (SHOTCRAFT_MODELS, SHOTCRAFT_DEVICE, ...) fill what the driver left unset.
        engine = DiffusionEngine(model, options.over_environment())
        pipe, notices = engine.pipeline(task)
        if self._loaded is None or self._loaded() is not pipe:
            self._loaded = weakref.ref(pipe)
            self._loads += 1
            self._device = engine.settings().device
        return engine, pipe, notices


class ActorWindows:
    """A pool of :class:`WindowActor` on a Ray cluster, as the diffusion engine's
    :class:`~shotcraft.engines.diffusion.WindowRunner`.

    The actors start with the first clip and serve every later one until :meth:`close`; several clips may
    run at once (from several threads), each call going to the actor with the fewest calls in flight. An
    actor whose process or node dies is restarted and its window run again, up to ``max_retries`` times.
    There is one actor per GPU of the cluster, or one CPU actor on a cluster without GPUs.
    """

    def __init__(self, ray: Any, *, max_retries: int = 3):
        self.ray = ray
        self.max_retries = max_retries
        self._actors: list[Any] = []
        self._in_flight: list[int] = []
        self._notice = ""
        self._lock = threading.Lock()

    def _start(self) -> None:
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        count = max(1, gpus)
        # One model per GPU; on CPUs one actor holding one core, so the cluster's other work still runs.
        placement = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        actor = self.ray.remote(
            max_restarts=self.max_retries, max_task_retries=self.max_retries, **placement
        )(WindowActor)
        self._actors = [actor.remote() for _ in range(count)]
        self._in_flight = [0] * count
        self._notice = (
            f"windows generated on {count} Ray actors, one per GPU"
            if gpus
            else "the Ray cluster has no GPU: windows generated on one CPU actor"
        )

    def open(self, engine: DiffusionEngine, task: str) -> tuple[WindowCall, list[str]]:
        with self._lock:
            if not self._actors:
                self._start()
            actors, notice = list(self._actors), self._notice
        # The device is each actor's own (its GPU, or its CPU), not the one the driver would pick.
        options = replace(engine.options, device=None)
        model = engine.card.name
        # Every actor loads now, side by side, so the model is resident wherever a window lands.
        notices = self._get([a.load.remote(model, options, task) for a in actors])[0]
        return partial(self._run, model, options, task), [notice, *notices]

    def _run(self, model: str, options: EngineOptions, task: str, job: WindowJob) -> np.ndarray:
        with self._lock:
            index = min(range(len(self._in_flight)), key=self._in_flight.__getitem__)
            self._in_flight[index] += 1
            actor = self._actors[index]
        try:
            # The driver's progress callback stays here: the window's steps are not reported from the actor.
            frames, report = self._get(
                actor.run.remote(model, options, task, replace(job, progress=no_progress))
            )
        finally:
            with self._lock:
                self._in_flight[index] -= 1
        job.report.update(report)
        return frames

    def _get(self, refs: Any) -> Any:
        """``ray.get``, with an error the user can fix (weights missing on a node) raised as itself, in one line."""
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, (EngineUnavailable, MediaError, SpecError)):
                raise exc.cause from None
            raise

    def stats(self) -> list[dict[str, Any]]:
        """Each actor's :meth:`WindowActor.stats` (as its current process counts them)."""
        with self._lock:
            actors = list(self._actors)
        return self.ray.get([a.stats.remote() for a in actors])

    def close(self) -> None:
        """Stop the actors (their models are unloaded); the next clip starts new ones."""
        with self._lock:
            for actor in self._actors:
                self.ray.kill(actor)
            self._actors, self._in_flight = [], []


__all__ = ["ActorWindows", "WindowActor"]
