"""How store rows look in the API: plain JSON, ids and times as strings, no server paths."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shotcraft.studio.models import Asset, Job, Project, Take


def _time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands back naive times; they were written as UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def project_view(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "created_at": _time(p.created_at)}


def asset_view(a: Asset) -> dict[str, Any]:
    return {
        "id": a.id,
        "project_id": a.project_id,
        "name": a.name,
        "kind": a.kind,
        "media_type": a.media_type,
        "sha256": a.sha256,
        "size_bytes": a.size_bytes,
        "info": a.info,
        "ref": f"asset:{a.id}",
        "content_url": f"/api/assets/{a.id}/content",
        "created_at": _time(a.created_at),
    }


def job_view(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "project_id": j.project_id,
        "kind": j.kind,
        "state": j.state,
        "stage": j.stage,
        "progress": round(j.progress, 4),
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "error": j.error,
        "cancel_requested": j.cancel_requested,
        "source_asset_id": j.source_asset_id,
        "parent_take_id": j.parent_take_id,
        "spec": j.spec,
        "created_at": _time(j.created_at),
        "started_at": _time(j.started_at),
        "finished_at": _time(j.finished_at),
        "updated_at": _time(j.updated_at),
    }


def take_view(t: Take) -> dict[str, Any]:
    return {
        "id": t.id,
        "project_id": t.project_id,
        "job_id": t.job_id,
        "name": t.name,
        "kind": t.kind,
        "engine": t.engine,
        "model": t.model,
        "seed": t.seed,
        "spec": t.spec,
        "frame_count": t.frame_count,
        "fps": t.fps,
        "size_bytes": t.size_bytes,
        "picked": t.picked,
        "parent_take_id": t.parent_take_id,
        "source_asset_id": t.source_asset_id,
        "market": t.info.get("market"),
        "notices": t.info.get("notices", []),
        "content_url": f"/api/takes/{t.id}/content",
        "created_at": _time(t.created_at),
    }
