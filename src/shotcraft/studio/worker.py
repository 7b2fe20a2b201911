"""A worker process: claim a job, run it under a heartbeating lease, register its outputs, repeat.

Workers are separate processes from the API, so a job that crashes (even a segfault in a native
library) takes down at most its worker; the lease then expires and another worker picks the job up,
resuming from its finished chunks.

>>> import tempfile
>>> from shotcraft.studio.store import Store
>>> worker = Worker(Store.open(tempfile.mkdtemp()), name="docs")
>>> worker.run_once()  # nothing queued
False
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shotcraft.progress import Progress
from shotcraft.studio import jobs
from shotcraft.studio.chunks import DEFAULT_CHUNK_FRAMES
from shotcraft.studio.kinds import JOB_KINDS, JobContext
from shotcraft.studio.labels import take_label
from shotcraft.studio.models import Asset, Job, Take
from shotcraft.studio.refs import redact, resolve_refs
from shotcraft.studio.store import Store

log = logging.getLogger("shotcraft.worker")

#: Progress is written to the store at most this often (seconds), plus at every stage change.
PROGRESS_INTERVAL = 0.25


class JobCancelled(Exception):
    """Raised inside a job when cancellation was requested."""


class WorkerStopping(Exception):
    """Raised inside a job when the worker was asked to stop; the job goes back to the queue."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that are the input's fault: retrying cannot help."""
    from shotcraft.errors import EngineUnavailable, MediaError
    from shotcraft.spec import SpecError

    return (SpecError, MediaError, EngineUnavailable)


def describe_failure(exc: Exception) -> tuple[str, bool]:
    """What a failed job's record says, and whether another attempt could help (not for the input's fault)."""
    if isinstance(exc, user_error_types()):
        return "; ".join(getattr(exc, "problems", None) or [str(exc)]), False
    return f"{type(exc).__name__}: {exc}", True


class ProgressGate:
    """Which progress reports reach the store: every stage change and stage end, otherwise one per
    :data:`PROGRESS_INTERVAL`. Returns the fraction to record, or ``None`` to skip this report."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.at = 0.0

    def __call__(self, stage: str, done: int, total: int) -> float | None:
        now = time.monotonic()
        if stage == self.stage and now - self.at < PROGRESS_INTERVAL and done < total:
            return None
        self.stage, self.at = stage, now
        # 99 % at most until the outputs are registered: 100 % means "done and downloadable".
        return min(0.99, done / total) if total else 0.0


class Lease:
    """Heartbeats a job's lease from a background thread and remembers what the store said."""

    def __init__(self, store: Store, token: str, lease_seconds: float):
        self.store, self.token, self.lease_seconds = store, token, lease_seconds
        self.cancelled = False
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                self.cancelled = jobs.heartbeat(self.store, self.token, self.lease_seconds) or self.cancelled
            except jobs.LeaseLost:
                self.lost = True
                return
            except Exception:  # a store hiccup: keep trying until the lease would expire anyway
                log.exception("heartbeat failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class PreparedJob:
    """A job ready to run wherever its files are: the spec with its files resolved to paths, the source, and
    what its takes record. A local worker runs it on the store's files; a Ray task on copies of them."""

    id: str
    kind: str
    attempt: int
    spec: Any
    spec_record: dict[str, Any]
    source: Path | None
    lineage: dict[str, Any]
    chunk_frames: int

    def run(self, home: Path, work_dir: Path, output_dir: Path, progress: Progress) -> list[jobs.TakeRecord]:
        """Run the job's kind; its outputs go under ``output_dir``, recorded relative to ``home``."""
        from shotcraft.spec import SpecError

        kind = JOB_KINDS.get(self.kind)
        reason = f"job kind {self.kind!r} is unknown to this worker" if kind is None else kind.unavailable()
        if kind is None or reason:
            raise SpecError(reason)
        context = JobContext(
            job_id=self.id,
            attempt=self.attempt,
            spec=self.spec,
            spec_record=self.spec_record,
            source=self.source,
            home=home,
            work_dir=work_dir,
            output_dir=output_dir,
            progress=progress,
            lineage=self.lineage,
            chunk_frames=self.chunk_frames,
        )
        return kind.run(context)


def redact_notices(records: list[jobs.TakeRecord], redact: Callable[[str], str]) -> None:
    """Take the server's paths out of the notices the takes will show."""
    for record in records:
        notices = record.info.get("notices")
        if notices:
            record.info["notices"] = [redact(str(n)) for n in notices]


class Worker:
    """Runs jobs from ``store`` until :meth:`stop` is called."""

    def __init__(
        self,
        store: Store,
        *,
        name: str | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.5,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        parent_pid: int | None = None,
    ):
        self.store = store
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds, self.poll_seconds, self.chunk_frames = lease_seconds, poll_seconds, chunk_frames
        #: The ``serve`` process that started this worker: when it is gone, the worker stops too.
        self.parent_pid = parent_pid
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ask the worker to stop: a running job is handed back to the queue at its next progress report."""
        self._stopping.set()

    def run_forever(self) -> None:
        log.info("worker %s started on %s", self.name, self.store.home)
        if self.parent_pid is not None:
            threading.Thread(target=self._watch_parent, name="parent-watch", daemon=True).start()
        while not self._stopping.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the store is unreachable for a moment: wait and try again
                log.exception("claiming a job failed")
                busy = False
            if not busy:
                self._stopping.wait(self.poll_seconds)
        log.info("worker %s stopped", self.name)

    def _watch_parent(self) -> None:
        """Stop (handing a running job back) once the parent process is gone: a ``serve`` that was killed
        must not leave its workers running, nor a restarted one find them beside its own."""
        while not self._stopping.wait(min(1.0, self.poll_seconds)):
            if os.getppid() != self.parent_pid:
                log.warning("worker %s: its serve process %s is gone; stopping", self.name, self.parent_pid)
                self.stop()
                return

    def run_once(self) -> bool:
        """Claim and run one job; ``False`` when the queue had nothing runnable."""
        job = jobs.claim(self.store, self.name, self.lease_seconds)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        token = job.lease_token
        assert token is not None
        self._known: dict[str, str] = {}
        lease = Lease(self.store, token, self.lease_seconds)
        log.info("job %s (%s) attempt %d started", job.id, job.kind, job.attempts)
        try:
            records = self._execute(job, lease)
        except JobCancelled:
            jobs.mark_cancelled(self.store, token)
            self._clean(job.id, outputs=True)
            log.info("job %s cancelled", job.id)
        except WorkerStopping:
            jobs.release(self.store, token)
            log.info("job %s handed back: worker stopping", job.id)
        except jobs.LeaseLost:
            log.warning("job %s: lease lost, leaving it to its new worker", job.id)
        except Exception as exc:
            message, retry = describe_failure(exc)
            if retry:
                log.exception("job %s failed", job.id)
            self._fail(job.id, token, self._redact(message), retry=retry)
        else:
            self._register(job.id, token, records)
        finally:
            lease.stop()

    def _register(self, job_id: str, token: str, records: list[jobs.TakeRecord]) -> None:
        """Register a finished job's takes (its files are in place under the job's output folder)."""
        redact_notices(records, self._redact)
        try:
            jobs.finish(self.store, token, records)
        except jobs.LeaseLost:
            log.warning("job %s: lease lost before registering outputs", job_id)
        except Exception as exc:  # the outputs could not be registered: they are nobody's, remove them
            log.exception("job %s: registering its outputs failed", job_id)
            shutil.rmtree(self.store.job_output_dir(job_id), ignore_errors=True)
            self._fail(job_id, token, self._redact(f"{type(exc).__name__}: {exc}"), retry=True)
        else:
            self._clean(job_id, outputs=False)
            log.info("job %s succeeded with %d take(s)", job_id, len(records))

    def _fail(self, job_id: str, token: str, message: str, *, retry: bool) -> None:
        try:
            state = jobs.fail(self.store, token, message, retry=retry)
        except jobs.LeaseLost:
            return
        if state != "queued":  # finished for good: its resumable state is of no more use
            self._clean(job_id, outputs=True)

    def _execute(self, job: Job, lease: Lease) -> list[jobs.TakeRecord]:
        return self._prepare(job).run(
            self.store.home,
            self.store.job_work_dir(job.id),
            self.store.job_output_dir(job.id),
            self._progress_callback(job, lease),
        )

    def _prepare(self, job: Job) -> PreparedJob:
        """The job with its source and the files its spec names resolved to the store's files."""
        kind = JOB_KINDS.get(job.kind)
        from shotcraft.spec import SpecError, validate_spec

        if kind is None:
            raise SpecError(f"job kind {job.kind!r} is unknown to this worker")
        source = None
        if job.source_asset_id:
            asset = self.store.get(Asset, job.source_asset_id)
            if asset is None:  # deleted since the job was queued: retrying cannot help
                raise SpecError(f"source asset {job.source_asset_id} no longer exists")
            source = self.store.asset_path(asset)
            self._known[str(source)] = asset.name
        elif job.parent_take_id:  # transforming a take: the take's file is the source
            take = self.store.get(Take, job.parent_take_id)
            if take is None:
                raise SpecError(f"parent take {job.parent_take_id} no longer exists")
            source = self.store.take_path(take)
            self._known[str(source)] = f"take “{take_label(take)}”"
        # The stored spec names files as asset references; the run gets the stored files. (Paths written by
        # a trusted caller that queued the job directly, not through the API, are kept as they are.)
        recorded = validate_spec(job.spec, kind.spec_type)
        return PreparedJob(
            id=job.id,
            kind=job.kind,
            attempt=job.attempts,
            spec=resolve_refs(recorded, lambda ident: self._asset_file(job, ident), keep_paths=True),
            spec_record=recorded.model_dump(mode="json"),
            source=source,
            lineage={"job": job.id, "source_asset": job.source_asset_id, "parent_take": job.parent_take_id},
            chunk_frames=self.chunk_frames,
        )

    def _asset_file(self, job: Job, ident: str) -> Path | None:
        asset = self.store.get(Asset, ident)
        if asset is None or asset.project_id != job.project_id:
            return None
        path = self.store.asset_path(asset)
        self._known[str(path)] = asset.name
        return path

    def _redact(self, text: str) -> str:
        """A message for the job's record: the store's files are named by their names (the rest go)."""
        return redact(text, self._known, self.store.home)

    def _progress_callback(self, job: Job, lease: Lease) -> Any:
        gate = ProgressGate()
        token = job.lease_token
        assert token is not None

        def progress(stage: str, done: int, total: int) -> None:
            if lease.lost:
                raise jobs.LeaseLost("the job's lease was lost")
            if lease.cancelled:
                raise JobCancelled()
            if self._stopping.is_set():
                raise WorkerStopping()
            fraction = gate(stage, done, total)
            if fraction is None:
                return
            if jobs.report_progress(self.store, token, stage, fraction):
                raise JobCancelled()

        return progress

    def _clean(self, job_id: str, *, outputs: bool) -> None:
        shutil.rmtree(self.store.job_work_dir(job_id), ignore_errors=True)
        if outputs:
            shutil.rmtree(self.store.job_output_dir(job_id), ignore_errors=True)
