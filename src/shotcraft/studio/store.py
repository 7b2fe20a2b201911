"""The studio store: one database (SQLite file by default, PostgreSQL by URL) plus a folder of files.

Layout of a studio home folder::

    studio.db                 the database, unless a PostgreSQL URL is given
    blobs/ab/abcdef…          uploaded bytes, named by their SHA-256 (so no client-chosen name reaches the disk)
    takes/<job id>/…          finished outputs, registered as takes only once complete
    work/<job id>/…           a running job's resumable state (finished chunks), removed on success

Every process (API, workers) opens the same store; the schema is brought to the newest migration on open.

>>> import tempfile
>>> store = Store.open(tempfile.mkdtemp())
>>> key, secret = store.create_key("docs")
>>> store.key_for_secret(secret).id == key.id
True
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shotcraft.studio.models import ApiKey, Asset, BrowserSession, Job, Take, utcnow

#: PostgreSQL advisory lock held while migrating (any fixed number; "shotcraft" in ASCII, truncated).
_MIGRATION_LOCK = 0x73686F7463726166
#: How long a browser session lasts.
SESSION_DAYS = 7

#: Secrets look like ``sc_<40 hex>``; the first 11 characters are kept in clear as the key's prefix.
SECRET_PREFIX = "sc_"


def hash_secret(secret: str) -> str:
    """Keys are 160 random bits, so one SHA-256 is enough (no slow hash needed against guessing)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Store:
    """Database sessions and the file layout of one studio home."""

    def __init__(self, home: Path, engine: Engine):
        self.home = home
        self.engine = engine
        self.blobs = home / "blobs"
        self.takes = home / "takes"
        self.work = home / "work"
        for folder in (self.blobs, self.takes, self.work, self.blobs / "incoming"):
            folder.mkdir(parents=True, exist_ok=True)
        self._read = sessionmaker(engine, expire_on_commit=False)
        # SQLite: writers take the write lock when their transaction begins (BEGIN IMMEDIATE), so two
        # processes never deadlock upgrading read locks; busy_timeout makes the loser wait, not fail.
        self._write = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    @classmethod
    def open(cls, home: str | os.PathLike[str], url: str | None = None, *, migrate: bool = True) -> Store:
        """Open (creating if needed) the studio in ``home``; ``url`` selects another database."""
        home = Path(home).resolve()
        home.mkdir(parents=True, exist_ok=True)
        url = url or os.environ.get("SHOTCRAFT_DATABASE_URL") or f"sqlite:///{home / 'studio.db'}"
        engine = _make_engine(url)
        if migrate:
            upgrade(engine, home)
        return cls(home, engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- sessions ------------------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose changes are committed on success and rolled back on error."""
        with self._write() as session, session.begin():
            yield session

    # -- API keys ------------------------------------------------------------------------------------------

    def create_key(
        self, name: str, *, max_concurrent_jobs: int = 4, max_storage_bytes: int = 20 * 1024**3
    ) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is shown once and only its hash is stored."""
        secret = SECRET_PREFIX + secrets.token_hex(20)
        key = ApiKey(
            name=name,
            prefix=secret[:11],
            secret_hash=hash_secret(secret),
            max_concurrent_jobs=max_concurrent_jobs,
            max_storage_bytes=max_storage_bytes,
        )
        with self.write() as s:
            s.add(key)
        return key, secret

    def key_for_secret(self, secret: str) -> ApiKey | None:
        with self.read() as s:
            key = s.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
        return key if key is not None and not key.revoked else None

    # -- browser sessions ------------------------------------------------------------------------------------

    def create_session(self, key: ApiKey, *, days: float = SESSION_DAYS) -> str:
        """A new session token for ``key`` (256 random bits); only its SHA-256 is stored."""
        token = secrets.token_urlsafe(32)
        row = BrowserSession(
            token_hash=hash_secret(token), key_id=key.id, expires_at=utcnow() + timedelta(days=days)
        )
        with self.write() as s:
            s.add(row)
        return token

    def key_for_session(self, token: str) -> ApiKey | None:
        """The key behind a live session token, or ``None`` (unknown, ended, expired, or its key revoked)."""
        with self.read() as s:
            key = s.scalar(
                select(ApiKey)
                .join(BrowserSession, BrowserSession.key_id == ApiKey.id)
                .where(BrowserSession.token_hash == hash_secret(token), BrowserSession.expires_at > utcnow())
            )
        return key if key is not None and not key.revoked else None

    def end_session(self, token: str) -> None:
        """Forget a session (and any that have expired)."""
        with self.write() as s:
            s.execute(
                delete(BrowserSession).where(
                    (BrowserSession.token_hash == hash_secret(token))
                    | (BrowserSession.expires_at <= utcnow())
                )
            )

    def storage_used(self, session: Session, key_id: str) -> int:
        """Bytes a key holds: its assets plus its takes."""
        assets = session.scalar(
            select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(Asset.owner_key_id == key_id)
        )
        takes = session.scalar(
            select(func.coalesce(func.sum(Take.size_bytes), 0)).where(Take.owner_key_id == key_id)
        )
        return int(assets or 0) + int(takes or 0)

    # -- files ---------------------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blobs / sha256[:2] / sha256

    def asset_path(self, asset: Asset) -> Path:
        return self.blob_path(asset.sha256)

    def take_path(self, take: Take) -> Path:
        return self.home / take.path

    def job_work_dir(self, job_id: str) -> Path:
        return self.work / job_id

    def job_output_dir(self, job_id: str) -> Path:
        return self.takes / job_id

    def get(self, model: type[Any], ident: str) -> Any:
        with self.read() as s:
            return s.get(model, ident)

    def job(self, job_id: str) -> Job | None:
        return self.get(Job, job_id)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(database_url(url), pool_pre_ping=True)


def database_url(url: str) -> str:
    """``url`` with its driver named: ``postgresql://`` means psycopg 3 (the studio extra installs it),
    not SQLAlchemy's default psycopg2.

    >>> database_url("postgresql://studio@db/shotcraft")
    'postgresql+psycopg://studio@db/shotcraft'
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def upgrade(engine: Engine, home: Path) -> None:
    """Bring the schema to the newest migration. A lock file serialises processes starting together."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    with open(home / ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # The file lock serialises one machine's processes; this, every machine's.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
