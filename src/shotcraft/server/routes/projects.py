"""Projects (create, rename, delete) and their assets (uploads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from shotcraft.server.auth import current_key
from shotcraft.server.routes.common import PROTECTED, errors, owned, project_rows, refuse_while_live, store_of
from shotcraft.server.uploads import display_name, receive
from shotcraft.server.views import MEDIA_CONTENT, asset_view, project_view
from shotcraft.studio.labels import take_label
from shotcraft.studio.models import ApiKey, Asset, Job, Project, Take
from shotcraft.studio.removal import forget_project, remove_files

router = APIRouter(prefix="/api", tags=["projects"], responses=PROTECTED)


class NewProject(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.post("/projects", status_code=201, summary="Create a project")
def create_project(body: NewProject, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    project = Project(owner_key_id=key.id, name=body.name.strip())
    with store_of(request).write() as s:
        s.add(project)
    return project_view(project)


@router.get("/projects", summary="List your projects")
def list_projects(request: Request, key: ApiKey = Depends(current_key)) -> list[dict[str, Any]]:
    with store_of(request).read() as s:
        rows = s.scalars(
            select(Project).where(Project.owner_key_id == key.id).order_by(Project.created_at)
        ).all()
    return [project_view(p) for p in rows]


@router.get("/projects/{project_id}", summary="One project")
def get_project(project_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    with store_of(request).read() as s:
        return project_view(owned(s, Project, project_id, key, "project"))


@router.patch("/projects/{project_id}", summary="Rename a project")
def rename_project(
    project_id: str, body: NewProject, request: Request, key: ApiKey = Depends(current_key)
) -> dict[str, Any]:
    name = body.name.strip()
    if not name:
        raise HTTPException(422, "a project needs a name")
    with store_of(request).write() as s:
        project = owned(s, Project, project_id, key, "project")
        project.name = name
        return project_view(project)


@router.delete(
    "/projects/{project_id}",
    summary="Delete a project with its uploads, jobs and takes",
    description="Refused (409) while one of its jobs is queued or running. An upload's file is removed "
    "only when no other project holds the same bytes.",
    responses=errors(409),
)
def delete_project(project_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    store = store_of(request)
    with store.write() as s:
        project = owned(s, Project, project_id, key, "project")
        refuse_while_live(
            s,
            Job.project_id == project.id,
            lambda live: (
                f"“{project.name}” has {live} job{'s' if live > 1 else ''} still queued or running: "
                "cancel them or wait, then delete it"
            ),
        )
        name = project.name
        files = forget_project(s, store, project)
    remove_files(store, files)
    return {"deleted": project_id, "name": name}


@router.post(
    "/projects/{project_id}/assets",
    status_code=201,
    summary="Upload a clip or image",
    description=(
        "Send the file's bytes as the request body (any content type). The type is recognised from the "
        "bytes, never from `filename`, which is kept for display only. Uploading the same bytes twice into "
        "one project returns the existing asset (200)."
    ),
    responses=errors(400, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_asset(
    project_id: str,
    request: Request,
    filename: str = Query("upload", max_length=1000),
    keyframe_for: str | None = Query(
        None,
        max_length=100,
        description="`asset:<id>` or `take:<id>` of the clip this image is a keyframe of: an image whose "
        "shape does not fit that clip is refused (422) with the clip's size, before it is stored",
    ),
    key: ApiKey = Depends(current_key),
) -> Any:
    store = store_of(request)
    limit = request.app.state.max_upload_bytes

    def check() -> tuple[int, tuple[str, tuple[int, int]] | None]:
        with store.read() as s:
            owned(s, Project, project_id, key, "project")
            clip = _keyframe_clip(s, store, project_id, keyframe_for, key) if keyframe_for else None
            return key.max_storage_bytes - store.storage_used(s, key.id), clip

    room, clip = await run_in_threadpool(check)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"the upload ({declared} bytes) is larger than this server's limit of {limit} bytes"
        )
    upload = await receive(store, request.stream(), limit, max_pixels=request.app.state.max_image_pixels)
    if clip is not None:
        try:
            _check_keyframe_shape(upload, display_name(filename), *clip)
        except HTTPException:
            upload.discard()
            raise

    def register() -> tuple[Asset, bool]:
        # The blob is moved into the store inside the transaction that registers its asset: a refused upload
        # (the storage limit) leaves no file behind, and a failed commit removes the file it placed.
        placed = None
        try:
            with store.write() as s:
                existing = s.scalar(
                    select(Asset).where(Asset.project_id == project_id, Asset.sha256 == upload.sha256)
                )
                if existing is not None:
                    return existing, False
                if upload.size > room:
                    raise HTTPException(
                        413, f"this key's storage limit ({key.max_storage_bytes} bytes) would be exceeded"
                    )
                asset = Asset(
                    project_id=project_id,
                    owner_key_id=key.id,
                    sha256=upload.sha256,
                    kind=upload.kind,
                    media_type=upload.media_type,
                    name=display_name(filename),
                    size_bytes=upload.size,
                    info=upload.info,
                )
                s.add(asset)
                if not store.blob_path(upload.sha256).exists():
                    placed = upload.keep()
            return asset, True
        except BaseException:
            if placed is not None:
                placed.unlink(missing_ok=True)
            raise

    try:
        asset, created = await run_in_threadpool(register)
    finally:
        upload.discard()
    return JSONResponse(asset_view(asset), status_code=201 if created else 200)


def _keyframe_clip(
    session: Any, store: Any, project_id: str, ref: str, key: ApiKey
) -> tuple[str, tuple[int, int]]:
    """The name and displayed size of the clip ``ref`` (``asset:<id>`` or ``take:<id>``) names."""
    from shotcraft.media.probe import probe

    kind, _, ident = ref.partition(":")
    if kind == "asset":
        asset = owned(session, Asset, ident, key, "clip")
        if asset.project_id != project_id or asset.kind != "video":
            raise HTTPException(422, f"{asset.name} is not a clip of this project")
        name, path = asset.name, store.asset_path(asset)
    elif kind == "take":
        take = owned(session, Take, ident, key, "take")
        if take.project_id != project_id:
            raise HTTPException(422, "that take belongs to another project")
        name, path = f"take “{take_label(take)}”", store.take_path(take)
    else:
        raise HTTPException(422, "keyframe_for names a clip as 'asset:<id>' or 'take:<id>'")
    return name, probe(path).require_video().display_size


def _check_keyframe_shape(upload: Any, name: str, clip: str, size: tuple[int, int]) -> None:
    """A keyframe is used at the clip's size: another size of the same shape is resized when the job runs,
    another shape can never fit, so it is refused now, saying what size to export."""
    from shotcraft.media.stills import ASPECT_TOLERANCE

    if upload.kind != "image":
        raise HTTPException(422, f"{name} is a video; a keyframe is a still image (PNG, JPEG or WebP)")
    width, height = upload.info["width"], upload.info["height"]
    if abs((width / height) / (size[0] / size[1]) - 1) > ASPECT_TOLERANCE:
        raise HTTPException(
            422,
            f"{name} is {width}x{height} but {clip} is {size[0]}x{size[1]}: a keyframe must be a frame of "
            f"the clip, so export it at {size[0]}x{size[1]} (or the same shape) and add it again",
        )


@router.get("/projects/{project_id}/assets", summary="List a project's assets")
def list_assets(
    project_id: str, request: Request, key: ApiKey = Depends(current_key)
) -> list[dict[str, Any]]:
    with store_of(request).read() as s:
        rows = project_rows(s, Asset, project_id, key, (Asset.created_at,))
    return [asset_view(a) for a in rows]


@router.get("/assets/{asset_id}", summary="One asset")
def get_asset(asset_id: str, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    with store_of(request).read() as s:
        return asset_view(owned(s, Asset, asset_id, key, "asset"))


@router.get(
    "/assets/{asset_id}/content",
    summary="Download an asset (HTTP range requests supported)",
    response_class=FileResponse,
    responses={200: {"description": "the file", "content": MEDIA_CONTENT}, **errors(416)},
)
def asset_content(asset_id: str, request: Request, key: ApiKey = Depends(current_key)) -> FileResponse:
    store = store_of(request)
    with store.read() as s:
        asset = owned(s, Asset, asset_id, key, "asset")
    return FileResponse(store.asset_path(asset), media_type=asset.media_type, filename=asset.name)
