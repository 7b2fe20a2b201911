"""Studio jobs as Ray tasks (``shotcraft serve --ray auto|ADDRESS``, ``shotcraft worker --ray ADDRESS``).

A :class:`RayDispatcher` is a worker whose jobs run on a Ray cluster instead of in its own process. The
store stays the source of truth; the queue and its leases are the ones local workers use
(:mod:`shotcraft.studio.jobs`), and a task runs the job exactly as a local worker does
(:meth:`~shotcraft.studio.worker.PreparedJob.run`, the one render path).

- **One take per job.** The dispatcher leases a job, heartbeats the lease while the task runs and registers
  the take itself once the task has returned it: registration is conditional on holding the lease
  (:func:`~shotcraft.studio.jobs.finish`), so however often a job is submitted it gets exactly one take.
  The files come back through temporaries and one :func:`~shotcraft.media.output_path.commit`, so no
  half-written file ever has the take's name.
- **Progress and cancelling.** A task reports progress to a small actor (:class:`ProgressBoard`) that the
  dispatcher relays to the store, so tasks need no database connection. A job asked to cancel has its task
  cancelled (its Ray worker is killed) and is marked cancelled, with no take.
- **Lost tasks.** A task whose Ray worker or node dies is retried by Ray (``max_retries``); once Ray gives up,
  the job goes back to the queue as a failed attempt. When the cluster itself is gone (its address stops
  accepting connections), every job in flight is handed back to the queue at once, its attempt not
  counted, and the dispatcher waits for a cluster at that address to return. If the dispatcher dies, its
  jobs' leases expire and any worker or dispatcher sweeps them back to the queue.
- **Files by value** (:mod:`shotcraft.shipping`): the source and every file the spec names (masks,
  reference and swap images, tables) reach the task through Ray's object store, or a storage URL every node
  reaches (``--storage``); the outputs come back the same way. The take's sidecar names the studio's
  files, as a local worker's does, not the node's copies.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shotcraft.executors import connect_ray, require_ray
from shotcraft.media.output_path import commit, pid_alive, temp_name
from shotcraft.shipping import Shipped, Storage, receive, ship
from shotcraft.spec import input_paths
from shotcraft.studio import jobs
from shotcraft.studio.models import Job
from shotcraft.studio.refs import redact
from shotcraft.studio.store import Store
from shotcraft.studio.worker import (
    Lease,
    PreparedJob,
    ProgressGate,
    Worker,
    describe_failure,
    redact_notices,
)

log = logging.getLogger("shotcraft.ray")

#: Ticks in a row the cluster's address must refuse connections before its jobs are handed back (a cluster
#: that is gone, not one slow answer).
GONE_AFTER = 3
#: A task's private folders on a node: ``job-<pid>-<random>``; those of a process that is gone (a
#: cancelled task's worker is killed) are removed by the next task on that node.
_SCRATCH = re.compile(r"^job-(?P<pid>[1-9][0-9]{0,9})-")


class ProgressBoard:
    """A Ray actor holding each running task's latest progress until the dispatcher relays it to the store."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[str, float]] = {}

    def report(self, job_id: str, stage: str, fraction: float) -> None:
        self.latest[job_id] = (stage, fraction)

    def take(self) -> dict[str, tuple[str, float]]:
        latest, self.latest = self.latest, {}
        return latest


@dataclass
class TaskJob:
    """What a task gets: the prepared job (its paths are the studio's) and the files it names, shipped."""

    prepared: PreparedJob
    source: Shipped | None
    inputs: dict[str, Shipped]
    #: What the studio's files are called in messages (asset names), by their paths.
    labels: dict[str, str]
    #: The studio's home on the dispatcher's machine: what the take's records name.
    home: str
    #: Where the task uploads its outputs, or ``None``: they come back through the object store.
    outputs_url: str | None = None


@dataclass
class TaskResult:
    """A task's answer: the take records and their files (by path relative to the home), or an error."""

    records: list[jobs.TakeRecord] = field(default_factory=list)
    files: dict[str, Shipped] = field(default_factory=dict)
    error: str | None = None
    retry: bool = False


def run_on_node(task: TaskJob, board: Any) -> TaskResult:
    """One studio job on a Ray worker, in a private folder removed afterwards."""
    base = Path(tempfile.gettempdir()) / "shotcraft-ray"
    base.mkdir(exist_ok=True)
    for entry in base.iterdir():
        match = _SCRATCH.match(entry.name)
        if match and not pid_alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix=f"job-{os.getpid()}-", dir=base))
    try:
        return _run(task, board, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(task: TaskJob, board: Any, root: Path) -> TaskResult:
    prepared, home = task.prepared, root / "home"
    known: dict[str, str] = {}
    gate = ProgressGate()

    def progress(stage: str, done: int, total: int) -> None:
        fraction = gate(stage, done, total)
        if fraction is not None:
            board.report.remote(prepared.id, stage, fraction)

    try:
        spec, copies = receive(prepared.spec, task.inputs, root / "inputs")
        source = None
        if task.source is not None and prepared.source is not None:
            source = copies[str(prepared.source)] = task.source.save(root / "source")
        known = {str(copy): task.labels.get(original, copy.name) for original, copy in copies.items()}
        local = replace(prepared, spec=spec, source=source)
        output_dir = home / "takes" / prepared.id
        records = local.run(home, home / "work" / prepared.id, output_dir, progress)
    except Exception as exc:
        message, retry = describe_failure(exc)
        if retry:
            log.exception("job %s failed", prepared.id)
        return TaskResult(error=redact(message, known, home), retry=retry)
    redact_notices(records, lambda text: redact(text, known, home))
    originals = {str(copy): original for original, copy in copies.items()}
    storage = Storage(task.outputs_url) if task.outputs_url else None
    files = {}
    for path in sorted(p for p in output_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(home).as_posix()
        if path.suffix == ".json":  # a take's record names the studio's files, not this node's copies
            record = _swap_paths(json.loads(path.read_text("utf-8")), originals, str(home), task.home)
            path.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        if storage is not None:
            files[relative] = Shipped(path.name, url=storage.write(relative, path))
        else:
            files[relative] = Shipped(path.name, data=path.read_bytes())
    return TaskResult(records=records, files=files)


def _swap_paths(value: Any, originals: dict[str, str], home: str, studio_home: str) -> Any:
    """``value`` (a JSON record) with each node copy's path swapped for the original's, and paths under the
    task's home for the same paths under the studio's."""
    if isinstance(value, str):
        if value in originals:
            return originals[value]
        return studio_home + value[len(home) :] if value.startswith(home + os.sep) else value
    if isinstance(value, list):
        return [_swap_paths(v, originals, home, studio_home) for v in value]
    if isinstance(value, dict):
        return {k: _swap_paths(v, originals, home, studio_home) for k, v in value.items()}
    return value


def _answers(address: str) -> bool:
    """Whether ``host:port`` accepts a connection (the cluster's head is there)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


@dataclass
class _Flight:
    job_id: str
    token: str
    ref: Any
    lease: Lease
    known: dict[str, str]
    outputs: str | None


class RayDispatcher(Worker):
    """Leases jobs from ``store`` and runs each as a Ray task on the cluster at ``address`` (``auto``: the
    local one, started if none runs), at most one job per CPU of the cluster (or ``max_jobs``) at once."""

    def __init__(
        self,
        store: Store,
        address: str = "auto",
        *,
        storage: Storage | None = None,
        max_jobs: int | None = None,
        max_retries: int = 2,
        **options: Any,
    ):
        options.setdefault("name", f"ray:{socket.gethostname()}:{os.getpid()}")
        super().__init__(store, **options)
        self.ray = require_ray()
        self.address, self.storage = address, storage
        self.max_jobs, self.max_retries = max_jobs, max_retries
        self.flights: dict[str, _Flight] = {}
        self.connected = False
        self.capacity = 0
        self.board: Any = None
        self.task: Any = None
        self._gcs = ""
        self._misses = 0
        self._waiting_said = False

    def run_forever(self) -> None:
        try:
            super().run_forever()
        finally:
            self.close()

    def close(self) -> None:
        """Cancel the tasks in flight, hand their jobs back to the queue, and leave the cluster."""
        # Stopping (not lost): the cluster still runs the tasks, so they are cancelled first.
        for flight in self.flights.values() if self.connected else ():
            self.ray.cancel(flight.ref, force=True)
        self._hand_back("the dispatcher is stopping")
        self._disconnect()

    def run_once(self) -> bool:
        """One round: watch the cluster, relay progress, cancel, collect finished tasks, submit new jobs.
        Returns ``False`` so the loop waits ``poll_seconds`` between rounds."""
        if not self.connected:
            if not self._connect():
                return False
        elif not _answers(self._gcs):
            self._misses += 1
            if self._misses >= GONE_AFTER:
                self._hand_back(f"the Ray cluster at {self._gcs} is gone")
                self._disconnect()
            return False
        self._misses = 0
        self._relay_progress()
        self._cancel_asked()
        self._collect()
        while len(self.flights) < self.capacity and not self._stopping.is_set():
            job = jobs.claim(self.store, self.name, self.lease_seconds)
            if job is None:
                break
            self._submit(job)
        return False

    # -- the cluster -------------------------------------------------------------------------------------------

    def _connect(self) -> bool:
        # Ray's own connect waits for a head that is not there; the dispatcher keeps its round going instead.
        if self.address != "auto" and not _answers(self.address):
            if not self._waiting_said:
                log.warning("waiting for the Ray cluster at %s", self.address)
                self._waiting_said = True
            return False
        handler = signal.getsignal(signal.SIGTERM)
        connect_ray(self.address)
        if threading.current_thread() is threading.main_thread() and handler is not None:
            # ray.init makes SIGTERM exit at once; the worker's own handler stops it between rounds instead.
            signal.signal(signal.SIGTERM, handler)
        ray = self.ray
        self._gcs = ray.get_runtime_context().gcs_address
        self.board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        self.task = ray.remote(num_cpus=1, max_retries=self.max_retries)(run_on_node)
        self.capacity = self.max_jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.connected, self._waiting_said, self._misses = True, False, 0
        log.info(
            "dispatcher %s: Ray cluster at %s, up to %d jobs at once", self.name, self._gcs, self.capacity
        )
        return True

    def _disconnect(self) -> None:
        if self.connected:
            self.connected = False
            self.ray.shutdown()

    def _hand_back(self, why: str) -> None:
        """Every job in flight back to the queue, its attempt not counted (no fault of the job's)."""
        if self.flights:
            log.warning("%s: %d job(s) back to the queue", why, len(self.flights))
        for flight in list(self.flights.values()):
            jobs.release(self.store, flight.token)
            self._land(flight)

    # -- jobs in flight ----------------------------------------------------------------------------------------

    def _submit(self, job: Job) -> None:
        token = job.lease_token
        assert token is not None
        lease = Lease(self.store, token, self.lease_seconds)
        self._known = {}
        try:
            prepared = self._prepare(job)
            inputs = ship(self.ray, input_paths(prepared.spec), self.storage)
            source = None
            if prepared.source is not None:
                source = ship(self.ray, [prepared.source], self.storage)[str(prepared.source)]
        except Exception as exc:
            lease.stop()
            message, retry = describe_failure(exc)
            self._fail(job.id, token, self._redact(message), retry=retry)
            return
        outputs = f"outputs/{job.id}/{secrets.token_hex(8)}" if self.storage else None
        task = TaskJob(
            prepared=prepared,
            source=source,
            inputs=inputs,
            labels=dict(self._known),
            home=str(self.store.home),
            outputs_url=f"{self.storage.url}/{outputs}" if self.storage and outputs else None,
        )
        ref = self.task.remote(task, self.board)
        self.flights[job.id] = _Flight(job.id, token, ref, lease, dict(self._known), outputs)
        log.info("job %s (%s) attempt %d submitted to Ray", job.id, job.kind, job.attempts)

    def _land(self, flight: _Flight) -> None:
        """Forget a job in flight: stop its heartbeat, remove what it left in the storage."""
        flight.lease.stop()
        self.flights.pop(flight.job_id, None)
        if self.storage is not None and flight.outputs is not None:
            self.storage.remove(flight.outputs)

    def _relay_progress(self) -> None:
        try:
            latest = self.ray.get(self.board.take.remote(), timeout=10)
        except self.ray.exceptions.RayActorError:
            # The board's worker died: tasks submitted from now on report to a new one.
            log.warning("the progress board was lost; starting another")
            self.board = self.ray.remote(num_cpus=0)(ProgressBoard).remote()
            return
        except self.ray.exceptions.RayError:
            log.warning("progress could not be read from the cluster this round")
            return
        for job_id, (stage, fraction) in latest.items():
            flight = self.flights.get(job_id)
            if flight is None:
                continue
            try:
                if jobs.report_progress(self.store, flight.token, stage, fraction):
                    flight.lease.cancelled = True
            except jobs.LeaseLost:
                flight.lease.lost = True

    def _cancel_asked(self) -> None:
        asked = jobs.cancels_requested(self.store, [f.token for f in self.flights.values()])
        for flight in list(self.flights.values()):
            if flight.lease.lost:
                self.ray.cancel(flight.ref, force=True)
                log.warning(
                    "job %s: lease lost, its task cancelled; leaving the job to its new worker", flight.job_id
                )
                self._land(flight)
            elif flight.lease.cancelled or flight.token in asked:
                self.ray.cancel(flight.ref, force=True)
                jobs.mark_cancelled(self.store, flight.token)
                self._land(flight)
                self._clean(flight.job_id, outputs=True)
                log.info("job %s cancelled (its Ray task too)", flight.job_id)

    def _collect(self) -> None:
        refs = {flight.ref: flight for flight in self.flights.values()}
        if not refs:
            return
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0)
        for ref in ready:
            flight = refs[ref]
            self._known = flight.known
            try:
                self._finish(flight, ref)
            finally:
                self._land(flight)

    def _finish(self, flight: _Flight, ref: Any) -> None:
        job_id, token = flight.job_id, flight.token
        try:
            result: TaskResult = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # its worker or node died more often than Ray retries
            log.warning("job %s: its Ray task was lost (%s)", job_id, type(exc).__name__)
            self._fail(job_id, token, f"its Ray task was lost ({type(exc).__name__})", retry=True)
            return
        if result.error is not None:
            self._fail(job_id, token, self._redact(result.error), retry=result.retry)
            return
        try:
            self._place(job_id, result.files)
        except Exception as exc:
            log.exception("job %s: its outputs could not be put in place", job_id)
            shutil.rmtree(self.store.job_output_dir(job_id), ignore_errors=True)
            self._fail(job_id, token, self._redact(f"{type(exc).__name__}: {exc}"), retry=True)
            return
        self._register(job_id, token, result.records)

    def _place(self, job_id: str, files: dict[str, Shipped]) -> None:
        """The task's files into the job's output folder under the studio's home: each written under a
        temporary name, then all renamed together."""
        folder = self.store.job_output_dir(job_id).resolve()
        pairs: list[tuple[Path, Path]] = []
        try:
            for relative, item in files.items():
                final = (self.store.home / relative).resolve()
                if not final.is_relative_to(folder):
                    raise RuntimeError(f"a task returned {relative}, outside its job's folder")
                final.parent.mkdir(parents=True, exist_ok=True)
                pairs.append((temp_name(final), final))
                item.write_to(pairs[-1][0])
        except BaseException:
            for tmp, _ in pairs:
                tmp.unlink(missing_ok=True)
            raise
        commit(pairs)
