"""How store rows look in the API: plain JSON, ids and times as strings, no server paths."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shotcraft.studio.labels import describe, source_name, take_label
from shotcraft.studio.models import Asset, Job, Project, Take

#: The media types a download can have (OpenAPI), by what an upload or a take can be.
MEDIA_CONTENT = {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in (
        "video/mp4",
        "video/quicktime",
        "video/x-matroska",
        "video/x-msvideo",
        "image/png",
        "image/jpeg",
        "image/webp",
        "application/octet-stream",
    )
}


def _time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands back naive times; they were written as UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


# The columns each view passes through unchanged (times become ISO strings); computed keys are added below.
_PROJECT_COLUMNS = ["id", "name", "created_at"]
_ASSET_COLUMNS = [
    "id",
    "project_id",
    "name",
    "kind",
    "media_type",
    "sha256",
    "size_bytes",
    "info",
    "created_at",
]
_JOB_COLUMNS = [
    "id",
    "project_id",
    "kind",
    "state",
    "stage",
    "attempts",
    "max_attempts",
    "error",
    "cancel_requested",
    "source_asset_id",
    "parent_take_id",
    "spec",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "idempotency_key",
]
_TAKE_COLUMNS = [
    "id",
    "project_id",
    "job_id",
    "name",
    "kind",
    "engine",
    "model",
    "seed",
    "spec",
    "frame_count",
    "fps",
    "size_bytes",
    "picked",
    "title",
    "parent_take_id",
    "source_asset_id",
    "created_at",
]


def _fields(row: Any, names: list[str]) -> dict[str, Any]:
    """The named columns of ``row``; time columns (``*_at``) as ISO 8601 strings."""
    return {name: _time(getattr(row, name)) if name.endswith("_at") else getattr(row, name) for name in names}


def project_view(p: Project) -> dict[str, Any]:
    return _fields(p, _PROJECT_COLUMNS)


def asset_view(a: Asset) -> dict[str, Any]:
    return {
        **_fields(a, _ASSET_COLUMNS),
        "ref": f"asset:{a.id}",
        "content_url": f"/api/assets/{a.id}/content",
    }


def job_view(j: Job, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The job; with the project's ``names`` (:func:`~shotcraft.studio.labels.project_names`) also what it
    started from, by name."""
    view = {**_fields(j, _JOB_COLUMNS), "progress": round(j.progress, 4), "label": describe(j.kind, j.spec)}
    if names is not None:
        view["source_name"] = source_name(names, j.source_asset_id, j.parent_take_id)
    return view


def take_view(t: Take, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The take, named by what was done (``label``: its ``title`` when someone gave it one)."""
    view = {
        **_fields(t, _TAKE_COLUMNS),
        "label": take_label(t),
        "market": t.info.get("market"),
        "notices": t.info.get("notices", []),
        "content_url": f"/api/takes/{t.id}/content",
    }
    if names is not None:
        made_from = source_name(names, t.source_asset_id, t.parent_take_id)
        view["source_name"] = made_from or t.info.get("made_from")
    return view
