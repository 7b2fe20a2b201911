"""The studio app: REST API under ``/api`` (OpenAPI at ``/docs``), the web studio at ``/``.

Every error is a JSON body ``{"error": {"status": 404, "message": "..."}}`` with one clear sentence.

>>> import tempfile
>>> from fastapi.testclient import TestClient
>>> from shotcraft.studio.store import Store
>>> client = TestClient(create_app(Store.open(tempfile.mkdtemp())))
>>> client.get("/api/health").json()["status"]
'ok'
>>> client.get("/api/projects").json()["error"]["status"]
401
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shotcraft import __version__
from shotcraft.server.auth import COOKIE, current_key
from shotcraft.server.routes import advise, jobs, projects, takes
from shotcraft.studio.models import ApiKey
from shotcraft.studio.store import Store

log = logging.getLogger("shotcraft.server")

WEB = Path(__file__).parent / "web"
#: Default largest upload: 2 GiB.
DEFAULT_MAX_UPLOAD = 2 * 1024**3


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "the request is not valid"


class SessionRequest(BaseModel):
    key: str


def create_app(store: Store, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> FastAPI:
    """The ASGI app over ``store``. Workers are separate processes (see :mod:`shotcraft.studio.worker`)."""
    app = FastAPI(
        title="shotcraft studio",
        version=__version__,
        description="Invent and transform video shots: projects, uploads, jobs, takes with lineage.",
    )
    app.state.store = store
    app.state.max_upload_bytes = max_upload_bytes

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "there is nothing at this address"
        elif exc.status_code == 405:
            message = "this address does not accept that method"
        return _error(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _describe_validation(exc))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "the server failed to handle this request; the error was logged")

    @app.get("/api/health", tags=["studio"], summary="Liveness")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/me", tags=["studio"], summary="Your key, its limits and what it uses")
    def me(key: ApiKey = Depends(current_key)) -> dict[str, Any]:
        from shotcraft.studio.jobs import live_jobs

        with store.read() as s:
            used, live = store.storage_used(s, key.id), live_jobs(s, key.id)
        return {
            "key": {"id": key.id, "name": key.name, "prefix": key.prefix},
            "limits": {
                "max_concurrent_jobs": key.max_concurrent_jobs,
                "max_storage_bytes": key.max_storage_bytes,
            },
            "usage": {"live_jobs": live, "storage_bytes": used},
            "max_upload_bytes": max_upload_bytes,
        }

    @app.post("/api/session", tags=["studio"], summary="Exchange a key for the browser studio's cookie")
    def start_session(body: SessionRequest) -> JSONResponse:
        key = store.key_for_secret(body.key)
        if key is None:
            raise HTTPException(401, "this API key is not valid (unknown or revoked)")
        response = JSONResponse({"key": {"id": key.id, "name": key.name}})
        response.set_cookie(COOKIE, body.key, httponly=True, samesite="strict", max_age=30 * 86400)
        return response

    @app.delete("/api/session", tags=["studio"], summary="Forget the browser's cookie")
    def end_session() -> JSONResponse:
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE)
        return response

    for router in (projects.router, advise.router, jobs.router, takes.router):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app
