"""Lookups every router shares: an object that is unknown *or another key's* is the same 404."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from shotcraft.studio.models import ApiKey, Project
from shotcraft.studio.store import Store

T = TypeVar("T")


def store_of(request: Request) -> Store:
    return request.app.state.store


def owned(session: Session, model: type[T], ident: str, key: ApiKey, what: str) -> T:
    obj: Any = session.get(model, ident)
    if obj is None or obj.owner_key_id != key.id:
        raise HTTPException(404, f"{what} {ident!r} does not exist")
    return obj


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
