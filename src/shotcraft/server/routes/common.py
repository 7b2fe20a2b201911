"""Lookups every router shares: an object that is unknown *or another key's* is the same 404."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

from shotcraft.studio.models import ApiKey
from shotcraft.studio.store import Store

T = TypeVar("T")


def store_of(request: Request) -> Store:
    return request.app.state.store


def owned(session: Session, model: type[T], ident: str, key: ApiKey, what: str) -> T:
    obj: Any = session.get(model, ident)
    if obj is None or obj.owner_key_id != key.id:
        raise HTTPException(404, f"{what} {ident!r} does not exist")
    return obj
