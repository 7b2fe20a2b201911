"""Takes: every output, with its spec, engine, model, seed and lineage; pick, rename, play, download, delete."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from shotcraft.server.auth import current_key
from shotcraft.server.routes.common import PROTECTED, errors, owned, project_rows, refuse_while_live, store_of
from shotcraft.server.views import MEDIA_CONTENT, asset_view, take_view
from shotcraft.studio.labels import project_names, take_label
from shotcraft.studio.models import ApiKey, Asset, Job, Project, Take
from shotcraft.studio.removal import forget_takes, remove_files

router = APIRouter(prefix="/api", tags=["takes"], responses=PROTECTED)

_MEDIA_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime"}


@router.get("/projects/{project_id}/takes", summary="A project's takes with their lineage links")
def list_takes(
    project_id: str, request: Request, job_id: str | None = Query(None), key: ApiKey = Depends(current_key)
) -> list[dict[str, Any]]:
    with store_of(request).read() as s:
        rows = project_rows(s, Take, project_id, key, (Take.created_at, Take.name), job_id=job_id)
        names = project_names(s, project_id)
        return [take_view(t, names) for t in rows]


@router.get("/takes/{take_id}", summary="One take and its full lineage (parents back to the source asset)")
def get_take(take_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    with store_of(request).read() as s:
        take = owned(s, Take, take_id, key, "take")
        names = project_names(s, take.project_id)
        view = take_view(take, names)
        lineage: list[dict[str, Any]] = []
        current: Take | None = take
        seen = {take.id}
        while current is not None:
            if current.source_asset_id:
                asset = s.get(Asset, current.source_asset_id)
                if asset is not None:
                    lineage.append({"type": "asset", **asset_view(asset)})
            parent = s.get(Take, current.parent_take_id) if current.parent_take_id else None
            if parent is None or parent.id in seen:
                break
            seen.add(parent.id)
            lineage.append({"type": "take", **take_view(parent, names)})
            current = parent
        view["lineage"] = lineage
        return view


class TakeUpdate(BaseModel):
    """What may change about a take: whether it is picked, and its name (``null`` or empty: named by what was
    done again). Fields left out stay as they are."""

    picked: bool | None = None
    title: str | None = Field(default=None, max_length=200)


@router.patch("/takes/{take_id}", summary="Pick (or un-pick) or rename a take")
def update_take(
    take_id: str, body: TakeUpdate, request: Request, key: ApiKey = Depends(current_key)
) -> dict[str, Any]:
    with store_of(request).write() as s:
        take = owned(s, Take, take_id, key, "take")
        if body.picked is not None:
            take.picked = body.picked
        if "title" in body.model_fields_set:
            take.title = (body.title or "").strip() or None
        s.flush()
        return take_view(take, project_names(s, take.project_id))


@router.delete(
    "/takes/{take_id}",
    summary="Delete a take and its file",
    description="Takes made from it keep their own files and say which take they came from. The file is "
    "removed only when no other record uses it. A take that a queued or running job starts from is kept "
    "(409) until that job is over.",
    responses=errors(409),
)
def delete_take(take_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    store = store_of(request)
    with store.write() as s:
        take = owned(s, Take, take_id, key, "take")
        label = take_label(take)
        refuse_while_live(
            s,
            Job.parent_take_id == take.id,
            lambda _: (
                f"take “{label}” is the source of a job that is still running: wait for it or cancel it"
            ),
        )
        unlinked = forget_takes(s, store, [take])
    remove_files(store, unlinked)
    return {"deleted": take_id, "label": label}


@router.get(
    "/takes/{take_id}/content",
    summary="Download or stream a take (HTTP range requests supported)",
    response_class=FileResponse,
    responses={200: {"description": "the file", "content": MEDIA_CONTENT}, **errors(416)},
)
def take_content(take_id: str, request: Request, key: ApiKey = Depends(current_key)) -> FileResponse:
    store = store_of(request)
    with store.read() as s:
        take = owned(s, Take, take_id, key, "take")
    path = store.take_path(take)
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        filename=f"{take.id}{path.suffix}",
    )


_TIMELINE_TYPES = {
    "otio": "application/vnd.opentimelineio+json", "fcpxml": "application/xml", "xml": "application/xml",
    "edl": "text/plain",
}  # fmt: skip


@router.get(
    "/projects/{project_id}/timeline",
    summary="The project's takes as an editor's timeline (OpenTimelineIO, FCP X/7 XML or CMX 3600 EDL)",
    description=(
        "One video track per take, in the order the takes were made, named as the studio names the take; each "
        "clip references the take's file on this server at its exact frame rate, with the take's spec, seed, "
        "engine, model and lineage (parent take, source asset) as metadata. An EDL holds one track: the takes "
        "follow each other on it."
    ),
    response_class=Response,
    responses={200: {"description": "the timeline", "content": {t: {} for t in _TIMELINE_TYPES.values()}},
               **errors(501)},
)  # fmt: skip
def project_timeline(
    project_id: str,
    request: Request,
    format: Literal["otio", "fcpxml", "xml", "edl"] = Query("otio", description="the timeline format"),
    key: ApiKey = Depends(current_key),
) -> Response:
    from shotcraft.errors import EngineUnavailable
    from shotcraft.timeline import take_clip, timeline_of, timeline_text

    store = store_of(request)
    with store.read() as s:
        rows = project_rows(s, Take, project_id, key, (Take.created_at, Take.name))
        project = s.get(Project, project_id)
        assert project is not None
        name = project.name
    if not rows:
        raise HTTPException(
            422, f"project {project_id!r} has no takes yet: make some, then export the timeline"
        )
    try:
        tracks = []
        for take in rows:
            view = take_view(take)
            lineage = {"job_id": take.job_id, "parent_take_id": take.parent_take_id,
                       "source_asset_id": take.source_asset_id}  # fmt: skip
            extra = {"take_id": take.id, "spec": take.spec, "engine": take.engine, "model": take.model,
                     "seed": take.seed, "picked": take.picked, "market": view["market"],
                     "content_url": view["content_url"], "studio_lineage": lineage}  # fmt: skip
            # Named as the studio names it (what was done, or the user's title), so the editor shows the same words.
            label = take_label(take)
            track = f"{label} (picked)" if take.picked else label
            tracks.append((track, [take_clip(store.take_path(take), label, extra)]))
        text = timeline_text(timeline_of(name, tracks), f".{format}")
    except EngineUnavailable as exc:
        raise HTTPException(501, str(exc)) from None
    filename = f"{project_id}.{format}"
    return Response(text, media_type=_TIMELINE_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip
