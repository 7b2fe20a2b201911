"""The advisor over uploaded assets: which workflow fits (invent, transform, or both), why, and settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from shotcraft.server.auth import current_key
from shotcraft.server.routes.common import PROTECTED, owned, store_of
from shotcraft.spec import SpecError
from shotcraft.studio.kinds import JOB_KINDS
from shotcraft.studio.models import ApiKey, Asset, Project
from shotcraft.studio.refs import redact

router = APIRouter(prefix="/api", tags=["advise"], responses=PROTECTED)


class AdviseRequest(BaseModel):
    project_id: str
    goal: str = Field(min_length=1, max_length=2000, description="what you want, in plain words")
    prompt: str = ""
    clip_asset_id: str | None = None
    image_asset_ids: list[str] = Field(default_factory=list)
    reference_asset_ids: list[str] = Field(default_factory=list)
    product_asset_ids: list[str] = Field(default_factory=list)
    keyframe_asset_ids: list[str] = Field(default_factory=list)


@router.post("/advise", summary="Recommend a workflow and settings for your assets and goal")
def advise(body: AdviseRequest, request: Request, key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    from shotcraft.advisor import Assets
    from shotcraft.advisor import advise as run_advisor

    store = store_of(request)
    # Stored file -> "asset:<id>" in the settings (a spec the studio can send back) and -> the file's name in
    # the text a person reads: the advice never shows a server path or a blob's hash.
    refs: dict[str, str] = {}
    names: dict[str, str] = {}
    with store.read() as s:
        owned(s, Project, body.project_id, key, "project")

        def path_of(asset_id: str) -> Any:
            asset = owned(s, Asset, asset_id, key, "asset")
            if asset.project_id != body.project_id:
                raise HTTPException(422, f"asset {asset_id!r} belongs to another project")
            path = store.asset_path(asset)
            refs[str(path)] = f"asset:{asset.id}"
            names[str(path)] = asset.name
            return path

        assets = Assets(
            clip=path_of(body.clip_asset_id) if body.clip_asset_id else None,
            images=[path_of(a) for a in body.image_asset_ids],
            references=[path_of(a) for a in body.reference_asset_ids],
            products=[path_of(a) for a in body.product_asset_ids],
            keyframes=[path_of(a) for a in body.keyframe_asset_ids],
            prompt=body.prompt,
        )
    can_invent = JOB_KINDS["invent"].unavailable() is None
    try:
        advice = run_advisor(assets, body.goal, can_invent=can_invent)
    except SpecError as exc:
        raise HTTPException(422, redact("; ".join(exc.problems), names, store.home)) from None
    answer = advice.model_dump(mode="json")
    settings = _redacted(answer.pop("settings"), refs, store.home)
    return {**_redacted(answer, names, store.home), "settings": settings, "can_invent": can_invent}


def _redacted(value: Any, known: dict[str, str], home: Any) -> Any:
    if isinstance(value, str):
        return redact(value, known, home)
    if isinstance(value, list):
        return [_redacted(v, known, home) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, known, home) for k, v in value.items()}
    return value
