"""The job queue, kept in the store: enqueue, claim with a lease, heartbeat, progress, finish, cancel.

A worker holds a job through a *lease*: a random token plus an expiry it pushes forward with
heartbeats. Every write a worker makes is conditional on still holding the token, so a worker that
was presumed dead (its lease expired and the job went to someone else) can no longer change the job
or register outputs. Expired leases are swept back to ``queued`` (or to ``failed`` once the job has
used all its attempts) by every worker before it claims.

>>> import tempfile
>>> from shotcraft.studio.store import Store
>>> store = Store.open(tempfile.mkdtemp())
>>> key, _ = store.create_key("docs")
>>> project = create_project(store, key.id, "demo")
>>> job = enqueue(store, key, project.id, "transform", {})
>>> claimed = claim(store, "worker-1", lease_seconds=30)
>>> claimed.id == job.id, claimed.attempts
(True, 1)
>>> finish(store, claimed.lease_token, [])
[]
>>> store.job(job.id).state
'succeeded'
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shotcraft.studio.models import (
    CANCELLED,
    FAILED,
    FINAL_STATES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    ApiKey,
    Job,
    Project,
    Take,
    utcnow,
)
from shotcraft.studio.store import Store

#: Seconds before a retried job runs again, by attempt number (then the last value).
RETRY_DELAYS = (1.0, 5.0, 30.0)


class LeaseLost(RuntimeError):
    """The worker no longer holds the job (its lease expired and the job was handed on, or it was cancelled)."""


class LimitExceeded(RuntimeError):
    """A per-key limit (live jobs, storage) would be exceeded; the message says which."""


class IdempotencyConflict(RuntimeError):
    """An idempotency key already used for a different request."""


@dataclass
class TakeRecord:
    """An output ready to be registered as a take; ``path`` is relative to the studio home."""

    name: str
    kind: str
    path: str
    size_bytes: int
    engine: str
    spec: dict[str, Any]
    frame_count: int = 0
    fps: str = ""
    model: str | None = None
    seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


def create_project(store: Store, key_id: str, name: str) -> Project:
    """A new project owned by ``key_id``."""
    project = Project(owner_key_id=key_id, name=name)
    with store.write() as s:
        s.add(project)
    return project


def live_jobs(session: Session, key_id: str) -> int:
    """How many of the key's jobs are queued or running (what ``max_concurrent_jobs`` limits)."""
    return count_live(session, Job.owner_key_id == key_id)


def count_live(session: Session, *where: Any) -> int:
    """How many queued or running jobs match ``where`` (SQL conditions on :class:`Job`)."""
    return int(
        session.scalar(select(func.count()).select_from(Job).where(*where, Job.state.in_((QUEUED, RUNNING))))
        or 0
    )


def enqueue(
    store: Store,
    key: ApiKey,
    project_id: str,
    kind: str,
    spec: dict[str, Any],
    *,
    source_asset_id: str | None = None,
    parent_take_id: str | None = None,
    max_attempts: int = 3,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Job:
    """Queue a job. A key may hold at most ``max_concurrent_jobs`` live (queued or running) jobs.

    With an ``idempotency_key``, a second call with the same key and ``request_hash`` returns the job the
    first one queued (however far it got), and one with another ``request_hash`` raises
    :class:`IdempotencyConflict`: a client that sends its request twice (a retry, a double click, two tabs)
    gets one job."""
    if idempotency_key is not None:
        existing = find_idempotent(store, key.id, idempotency_key, request_hash)
        if existing is not None:
            return existing
    job = Job(
        project_id=project_id,
        owner_key_id=key.id,
        kind=kind,
        spec=spec,
        source_asset_id=source_asset_id,
        parent_take_id=parent_take_id,
        max_attempts=max_attempts,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    try:
        with store.write() as s:
            if live_jobs(s, key.id) >= key.max_concurrent_jobs:
                raise LimitExceeded(
                    f"this key already has {key.max_concurrent_jobs} queued or running jobs (its limit): "
                    "wait for one to finish or cancel one"
                )
            s.add(job)
    except IntegrityError:
        # Another request with the same key was queued between the look-up and this insert.
        existing = find_idempotent(store, key.id, idempotency_key, request_hash)
        if existing is None:
            raise
        return existing
    return job


def find_idempotent(
    store: Store, key_id: str, idempotency_key: str | None, request_hash: str | None
) -> Job | None:
    """The job queued earlier with this idempotency key, or ``None``; :class:`IdempotencyConflict` when that
    job came from a different request."""
    with store.read() as s:
        job = s.scalar(select(Job).where(Job.owner_key_id == key_id, Job.idempotency_key == idempotency_key))
    if job is not None and job.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request: send a new key for a new job"
        )
    return job


def sweep_stale(session: Session) -> int:
    """Put jobs whose worker stopped heartbeating back in the queue (or fail them if out of attempts)."""
    now = utcnow()
    # Locked, skipping jobs another transaction holds: a worker may be committing one right now
    # (finish/fail lock the job first), and PostgreSQL re-checks the condition once that commit lands.
    query = select(Job).where(Job.state == RUNNING, Job.lease_expires_at < now)
    stale = session.scalars(query.with_for_update(skip_locked=True)).all()
    for job in stale:
        job.lease_token = job.lease_owner = job.lease_expires_at = None
        job.updated_at = now
        if job.cancel_requested:
            job.state, job.finished_at = CANCELLED, now
        elif job.attempts >= job.max_attempts:
            job.state, job.finished_at = FAILED, now
            job.error = f"the worker running this job stopped responding {job.attempts} times; giving up"
        else:
            job.state = QUEUED
            job.stage = "waiting for a worker (the last one stopped responding)"
    return len(stale)


def claim(store: Store, worker: str, lease_seconds: float) -> Job | None:
    """Take the oldest runnable job, or ``None``. Safe with any number of workers on one store."""
    now = utcnow()
    with store.write() as s:
        sweep_stale(s)
        query = (
            select(Job)
            .where(Job.state == QUEUED, (Job.run_after.is_(None)) | (Job.run_after <= now))
            .order_by(Job.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job = s.scalar(query)
        if job is None:
            return None
        job.state = RUNNING
        job.lease_token = secrets.token_hex(16)
        job.lease_owner = worker
        job.lease_expires_at = now + timedelta(seconds=lease_seconds)
        job.attempts += 1
        job.started_at = job.started_at or now
        job.updated_at = now
        job.error = None
        s.flush()
        return job


def _held(token: str) -> Any:
    return update(Job).where(Job.lease_token == token, Job.state == RUNNING)


def heartbeat(store: Store, token: str, lease_seconds: float) -> bool:
    """Extend the lease; returns whether cancellation was requested. Raises :class:`LeaseLost`."""
    now = utcnow()
    with store.write() as s:
        result = s.execute(_held(token).values(lease_expires_at=now + timedelta(seconds=lease_seconds)))
        if result.rowcount != 1:
            raise LeaseLost("the job's lease was lost")
        return bool(s.scalar(select(Job.cancel_requested).where(Job.lease_token == token)))


def report_progress(store: Store, token: str, stage: str, progress: float) -> bool:
    """Record progress; returns whether cancellation was requested. Raises :class:`LeaseLost`."""
    with store.write() as s:
        values = {"stage": stage[:64], "progress": max(0.0, min(1.0, progress)), "updated_at": utcnow()}
        result = s.execute(_held(token).values(**values))
        if result.rowcount != 1:
            raise LeaseLost("the job's lease was lost")
        return bool(s.scalar(select(Job.cancel_requested).where(Job.lease_token == token)))


def cancels_requested(store: Store, tokens: list[str]) -> set[str]:
    """The leases among ``tokens`` whose job was asked to cancel: one query for every job a dispatcher holds."""
    if not tokens:
        return set()
    with store.read() as s:
        query = select(Job.lease_token).where(Job.lease_token.in_(tokens), Job.cancel_requested.is_(True))
        return {token for token in s.scalars(query) if token is not None}


def finish(store: Store, token: str, takes: list[TakeRecord]) -> list[str]:
    """Register the outputs and mark the job succeeded, in one transaction: a job has its takes exactly
    once, or not at all. Returns the new take ids."""
    now = utcnow()
    with store.write() as s:
        job = s.scalar(select(Job).where(Job.lease_token == token, Job.state == RUNNING).with_for_update())
        if job is None:
            raise LeaseLost("the job's lease was lost before its outputs could be registered")
        ids = []
        for record in takes:
            take = Take(
                project_id=job.project_id,
                owner_key_id=job.owner_key_id,
                job_id=job.id,
                parent_take_id=job.parent_take_id,
                source_asset_id=job.source_asset_id,
                **record.__dict__,
            )
            s.add(take)
            s.flush()
            ids.append(take.id)
        job.state, job.progress, job.stage = SUCCEEDED, 1.0, "done"
        job.finished_at = job.updated_at = now
        job.lease_token = job.lease_expires_at = None
        return ids


def fail(store: Store, token: str, error: str, *, retry: bool) -> str:
    """Record a failure; a retryable one goes back to the queue while attempts remain. Returns the new state."""
    now = utcnow()
    with store.write() as s:
        job = s.scalar(select(Job).where(Job.lease_token == token, Job.state == RUNNING).with_for_update())
        if job is None:
            raise LeaseLost("the job's lease was lost")
        job.error = error
        job.lease_token = job.lease_owner = job.lease_expires_at = None
        job.updated_at = now
        if retry and job.attempts < job.max_attempts and not job.cancel_requested:
            delay = RETRY_DELAYS[min(job.attempts, len(RETRY_DELAYS)) - 1]
            job.state, job.run_after = QUEUED, now + timedelta(seconds=delay)
            job.stage = f"retrying after attempt {job.attempts} failed"
        else:
            job.state, job.finished_at = FAILED, now
        return job.state


def mark_cancelled(store: Store, token: str) -> None:
    now = utcnow()
    with store.write() as s:
        s.execute(
            _held(token).values(
                state=CANCELLED,
                stage="cancelled",
                finished_at=now,
                updated_at=now,
                lease_token=None,
                lease_expires_at=None,
            )
        )


def release(store: Store, token: str) -> None:
    """Hand a job back to the queue untouched (the worker is shutting down); the attempt is not counted."""
    with store.write() as s:
        s.execute(
            _held(token).values(
                state=QUEUED,
                attempts=Job.attempts - 1,
                lease_token=None,
                lease_owner=None,
                lease_expires_at=None,
                stage="waiting for a worker",
                updated_at=utcnow(),
            )
        )


def request_cancel(store: Store, job_id: str) -> Job | None:
    """Cancel a job: a queued one at once, a running one at its next progress report. Final jobs stay as they are."""
    now = utcnow()
    with store.write() as s:
        job = s.get(Job, job_id)
        if job is None or job.state in FINAL_STATES:
            return job
        if job.state == QUEUED:
            job.state, job.stage, job.finished_at = CANCELLED, "cancelled", now
        job.cancel_requested = True
        job.updated_at = now
        return job
