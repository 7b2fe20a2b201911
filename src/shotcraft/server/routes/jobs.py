"""Jobs: create from the same specs the CLI uses, follow progress (JSON or server-sent events), cancel.

File inputs inside a spec (keyframe images, masks, references) are written as asset references,
``"asset:<id>"``, to assets of the same project; a path of the server's disk is refused. Only fields that
take a file are references (``asset:`` in a prompt is text), and the job keeps them as references: no
server path is ever shown to a client (see :mod:`shotcraft.studio.refs`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shotcraft.server.auth import current_key
from shotcraft.server.routes.common import PROTECTED, errors, owned, project_rows, store_of
from shotcraft.server.views import job_view
from shotcraft.spec import GenerateSpec, SpecError, validate_spec
from shotcraft.studio import jobs
from shotcraft.studio.kinds import JOB_KINDS, JobKind, TransformSpec, output_name
from shotcraft.studio.labels import file_names, project_names, take_label
from shotcraft.studio.models import FINAL_STATES, ApiKey, Asset, Job, Project, Take
from shotcraft.studio.refs import redact, resolve_refs
from shotcraft.studio.store import Store

router = APIRouter(prefix="/api", tags=["jobs"], responses=PROTECTED)

#: How often the event stream looks at the job (seconds).
EVENT_INTERVAL = 0.25


#: The job kinds, an enum in the OpenAPI document.
JobKindName = Literal[tuple(JOB_KINDS)]  # type: ignore[valid-type]


class NewJob(BaseModel):
    project_id: str
    kind: JobKindName = Field(description="a job kind from GET /api/kinds, e.g. 'transform'")
    spec: dict[str, Any] = Field(default_factory=dict, description="the same spec the CLI reads from --spec")
    source_asset_id: str | None = Field(default=None, description="the clip (or image) to start from")
    source_take_id: str | None = Field(
        default=None, description="or a take to start from (its lineage parent)"
    )


@router.get("/kinds", tags=["jobs"], summary="The job kinds this server runs")
def list_kinds() -> list[dict[str, Any]]:
    return [kind_view(k) for k in JOB_KINDS.values()]


def kind_view(kind: JobKind) -> dict[str, Any]:
    availability = kind.availability()
    return {
        "name": kind.name,
        "title": kind.title,
        "source": kind.source,
        "available": availability.available,
        "reason": availability.reason,
        "operator_note": availability.operator_note,
    }


def _check_spec(
    kind: JobKind,
    body: NewJob,
    assets: dict[str, Path],
    known: dict[str, str],
    store: Store,
    source: Path | None,
) -> Any:
    """The spec validated as sent (its file fields still ``asset:<id>``), after checking that every file
    field names an asset of the project and running the kind's own checks (for a transform, the plan against
    its source): what can be refused up front is refused here, not after the job was queued. Messages name
    the project's files by their names (``known``), never by a path or hash."""
    from shotcraft.errors import MediaError

    try:
        spec = validate_spec(body.spec, kind.spec_type)
        if isinstance(spec, (TransformSpec, GenerateSpec)):
            output_name(spec.output)
        resolved = resolve_refs(spec, assets.get)
        if kind.check is not None:
            kind.check(resolved, source)
    except SpecError as exc:
        raise HTTPException(422, "; ".join(redact(p, known, store.home) for p in exc.problems)) from None
    except MediaError as exc:
        raise HTTPException(422, redact(str(exc), known, store.home)) from None
    return spec


def _request_hash(body: NewJob) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@router.post(
    "/jobs",
    status_code=202,
    summary="Queue a job (invent, transform, localize, ...)",
    description="The spec is checked against its source before the job is queued (a keyframe past the "
    "clip's end, a mask of the wrong size, a transform that changes nothing, a market without text, more "
    "pixels than the server renders): such a job is refused with 422 or 413, never queued to fail later.\n\n"
    "With an `Idempotency-Key` header, sending the same request again (a retry, a double click, a second "
    "tab) returns the job the first one queued, with `Idempotent-Replayed: true`; the same key with a "
    "different request is refused with 409.",
    responses=errors(409, 413, 429, 501),
)
def create_job(
    body: NewJob,
    request: Request,
    response: Response,
    key: ApiKey = Depends(current_key),
    idempotency_key: str | None = Header(
        None, max_length=200, description="any string unique to this request; resending it returns its job"
    ),
) -> dict[str, Any]:
    store = store_of(request)
    kind = JOB_KINDS[body.kind]
    request_hash = _request_hash(body)
    if idempotency_key:
        try:
            earlier = jobs.find_idempotent(store, key.id, idempotency_key, request_hash)
        except jobs.IdempotencyConflict as exc:
            raise HTTPException(409, str(exc)) from None
        if earlier is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return _job_with_names(store, earlier)
    with store.read() as s:
        project = owned(s, Project, body.project_id, key, "project")
        if body.source_asset_id and body.source_take_id:
            raise HTTPException(422, "give source_asset_id or source_take_id, not both")
        if body.source_asset_id:
            asset = owned(s, Asset, body.source_asset_id, key, "asset")
            if asset.project_id != body.project_id:
                raise HTTPException(422, f"{asset.name} belongs to another project, not “{project.name}”")
            if kind.source == "video" and asset.kind != "video":
                raise HTTPException(
                    422,
                    f"{kind.title.lower()} needs a video clip, and {asset.name} is an {asset.kind}: choose a clip",
                )
        elif body.source_take_id:
            take = owned(s, Take, body.source_take_id, key, "take")
            if take.project_id != body.project_id:
                raise HTTPException(
                    422, f"take “{take_label(take)}” belongs to another project, not “{project.name}”"
                )
        elif kind.source == "video":
            raise HTTPException(
                422,
                f"{kind.title.lower()} needs a source: upload a clip and choose it (in the API, "
                "source_asset_id or source_take_id)",
            )
        if body.source_asset_id:
            source: Path | None = store.asset_path(asset)
        elif body.source_take_id:
            source = store.take_path(take)
        else:
            source = None
        assets = {
            a.id: store.asset_path(a) for a in s.scalars(select(Asset).where(Asset.project_id == project.id))
        }
        spec = _check_spec(kind, body, assets, file_names(s, store, project.id), store, source)
    availability = kind.availability()
    if not availability.available:
        raise HTTPException(501, " ".join(filter(None, (availability.reason, availability.operator_note))))
    try:
        job = jobs.enqueue(
            store,
            key,
            body.project_id,
            body.kind,
            spec.model_dump(mode="json"),
            source_asset_id=body.source_asset_id,
            parent_take_id=body.source_take_id,
            idempotency_key=idempotency_key or None,
            request_hash=request_hash if idempotency_key else None,
        )
    except jobs.LimitExceeded as exc:
        raise HTTPException(429, str(exc)) from None
    except jobs.IdempotencyConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return _job_with_names(store, job)


def _job_with_names(store: Store, job: Job) -> dict[str, Any]:
    with store.read() as s:
        return job_view(job, project_names(s, job.project_id))


@router.get("/jobs/{job_id}", summary="A job's state and progress")
def get_job(job_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    with store_of(request).read() as s:
        job = owned(s, Job, job_id, key, "job")
        return _job_with_takes(s, job, project_names(s, job.project_id))


def _job_with_takes(session: Session, job: Job, names: dict[str, str] | None = None) -> dict[str, Any]:
    view = job_view(job, names)
    view["take_ids"] = list(session.scalars(select(Take.id).where(Take.job_id == job.id).order_by(Take.name)))
    return view


@router.get("/projects/{project_id}/jobs", summary="A project's jobs, newest first")
def list_jobs(
    project_id: str, request: Request, state: str | None = Query(None), key: ApiKey = Depends(current_key)
) -> list[dict[str, Any]]:
    with store_of(request).read() as s:
        rows = project_rows(s, Job, project_id, key, (Job.created_at.desc(),), state=state)
        names = project_names(s, project_id)
        takes: dict[str, list[str]] = {}
        for job_id, take_id in s.execute(
            select(Take.job_id, Take.id).where(Take.project_id == project_id).order_by(Take.name)
        ):
            takes.setdefault(job_id, []).append(take_id)
        return [{**job_view(j, names), "take_ids": takes.get(j.id, [])} for j in rows]


@router.post("/jobs/{job_id}/cancel", summary="Cancel a job (queued: at once; running: at its next step)")
def cancel_job(job_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    store = store_of(request)
    with store.read() as s:
        owned(s, Job, job_id, key, "job")
    job = jobs.request_cancel(store, job_id)
    assert job is not None
    return _job_with_names(store, job)


@router.get(
    "/jobs/{job_id}/events",
    summary="Progress as server-sent events",
    description="Emits `progress` events while the job changes and one `end` event when it is final.",
    response_class=StreamingResponse,
    responses={200: {"description": "the event stream", "content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, request: Request, key: ApiKey = Depends(current_key)) -> StreamingResponse:
    store = store_of(request)

    def load() -> dict[str, Any]:
        with store.read() as s:
            return _job_with_takes(s, owned(s, Job, job_id, key, "job"))

    first = await run_in_threadpool(load)

    async def stream() -> AsyncIterator[str]:
        view, last, quiet = first, None, 0.0
        while True:
            snapshot = (view["state"], view["stage"], view["progress"], view["attempts"])
            if snapshot != last:
                last, quiet = snapshot, 0.0
                yield f"event: progress\ndata: {json.dumps(_brief(view))}\n\n"
            elif quiet >= 10:
                quiet = 0.0
                yield ": still working\n\n"  # a comment keeps proxies from closing an idle stream
            if view["state"] in FINAL_STATES:
                yield f"event: end\ndata: {json.dumps(_brief(view))}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_INTERVAL)
            quiet += EVENT_INTERVAL
            view = await run_in_threadpool(load)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _brief(view: dict[str, Any]) -> dict[str, Any]:
    return {k: view[k] for k in ("id", "state", "stage", "progress", "attempts", "error", "take_ids")}
