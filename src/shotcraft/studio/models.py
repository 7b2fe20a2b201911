"""The studio's tables: projects, assets, takes (with lineage), jobs and API keys.

Ids are short random strings (not counters) so they can be handed out by any process and never
reveal how many rows exist. Times are UTC.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Job states. ``queued`` and ``running`` are live; the other three are final.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})


def new_id(prefix: str) -> str:
    """``prefix`` + 16 random hex digits, e.g. ``job_3f9c0a1b2d4e5f60``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class ApiKey(Base):
    """An API key. Only the SHA-256 of the secret is stored; ``prefix`` lets people tell keys apart."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("key"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    max_concurrent_jobs: Mapped[int] = mapped_column(Integer, default=4)
    max_storage_bytes: Mapped[int] = mapped_column(BigInteger, default=20 * 1024**3)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("prj"))
    owner_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Asset(Base):
    """An uploaded clip, image, keyframe or mask. The bytes live once per content hash (see ``blobs``);
    two uploads of the same bytes into one project are one asset."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("project_id", "sha256", name="uq_asset_project_sha"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("ast"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    owner_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # video | image
    media_type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner_key_id", "idempotency_key", name="uq_job_idempotency_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("job"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    owner_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id"), default=None)
    parent_take_id: Mapped[str | None] = mapped_column(String(32), default=None)  # lineage lives on takes
    state: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    stage: Mapped[str] = mapped_column(String(64), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The worker attempt holding the job; every write a worker makes is conditional on still holding it.
    lease_token: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    run_after: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The client's ``Idempotency-Key`` (unique per API key) and the SHA-256 of the request it came with:
    #: the same key and request return this job instead of queueing another.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class Take(Base):
    """One output: the file, the full spec, engine, model and seed, and where it came from (lineage)."""

    __tablename__ = "takes"
    __table_args__ = (UniqueConstraint("job_id", "name", name="uq_take_job_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("take"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    owner_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)  # relative to the studio home
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    engine: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    parent_take_id: Mapped[str | None] = mapped_column(ForeignKey("takes.id"), default=None)
    source_asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id"), default=None)
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[str] = mapped_column(String(32), default="")
    picked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A name the user gave the take (``None``: it is named by what was done, see ``server.views``).
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrowserSession(Base):
    """A browser studio's sign-in: the cookie holds a random token, the table only its SHA-256. Deleting the
    row (sign-out, or by hand) ends the session; so do its expiry and revoking its key."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("ses"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
