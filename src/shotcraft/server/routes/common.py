"""Lookups every router shares: an object that is unknown *or another key's* is the same 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from shotcraft.studio.jobs import count_live
from shotcraft.studio.models import ApiKey, Project
from shotcraft.studio.store import Store

T = TypeVar("T")


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    """Every error the API answers: ``{"error": {"status": 404, "message": "..."}}``."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    400: "The request is empty or malformed",
    401: "No API key (or session), or one that is unknown, revoked or expired",
    404: "No such object, or another key's",
    413: "Too large: the upload, the image's pixel count, or this key's storage limit",
    415: "The upload is not a video clip or an image",
    409: "In conflict with the current state: an Idempotency-Key used for another request, or an object "
    "that a queued or running job still uses",
    416: "The requested byte range is outside the file",
    422: "The request or its spec is not valid; the message says what to change",
    429: "This key already has its limit of queued or running jobs",
    501: "This job kind is not available on this server",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer, all with the :class:`ErrorBody` shape."""
    return {code: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}


#: What every route behind a key can answer: a body that is not JSON, no key, an unknown object, a request
#: that is not valid.
PROTECTED = errors(400, 401, 404, 422)


def store_of(request: Request) -> Store:
    return request.app.state.store


def owned(session: Session, model: type[T], ident: str, key: ApiKey, what: str) -> T:
    obj: Any = session.get(model, ident)
    if obj is None or obj.owner_key_id != key.id:
        raise HTTPException(404, f"{what} {ident!r} does not exist")
    return obj


def refuse_while_live(session: Session, condition: Any, refusal: Callable[[int], str]) -> None:
    """Answer 409 with ``refusal(count)`` while queued or running jobs match ``condition`` (on :class:`Job`):
    a delete must not pull a record or file from under a job that still reads it."""
    live = count_live(session, condition)
    if live:
        raise HTTPException(409, refusal(live))


def project_rows(
    session: Session, model: type[T], project_id: str, key: ApiKey, order_by: tuple[Any, ...], **filters: Any
) -> list[T]:
    """The ``model`` rows of a project the key owns, in ``order_by`` order; each filter whose value is set
    keeps the rows whose column of that name equals it (an unset query parameter filters nothing)."""
    owned(session, Project, project_id, key, "project")
    table: Any = model
    query = select(model).where(table.project_id == project_id).order_by(*order_by)
    for column, value in filters.items():
        if value:
            query = query.where(getattr(table, column) == value)
    return list(session.scalars(query).all())
