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

Every response carries ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``; the studio page
and its files a Content-Security-Policy that allows only this origin's scripts, styles and media.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shotcraft import __version__
from shotcraft.server.auth import COOKIE, current_key
from shotcraft.server.routes import advise, jobs, projects, takes
from shotcraft.server.routes.common import errors
from shotcraft.server.uploads import MAX_IMAGE_PIXELS
from shotcraft.studio.models import ApiKey
from shotcraft.studio.store import SESSION_DAYS, Store

log = logging.getLogger("shotcraft.server")

WEB = Path(__file__).parent / "web"
#: Default largest upload: 2 GiB.
DEFAULT_MAX_UPLOAD = 2 * 1024**3

#: Headers on every response: no MIME sniffing, never inside a frame.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
#: The studio page runs only its own script and styles, and plays only this origin's media.
STUDIO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: API answers are data, never a document: nothing may load from them, and no one may frame them.
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message}}, status_code=status, headers=headers
    )


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg"))
        if err.get("type") == "literal_error":
            msg = f"{err.get('input')!r} is unknown: {msg}"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "the request is not valid"


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """Every method some route at this address accepts (for the ``Allow`` header of a 405)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


class SessionRequest(BaseModel):
    key: str = Field(max_length=200)


def create_app(
    store: Store,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
    secure_cookies: bool | None = None,
) -> FastAPI:
    """The ASGI app over ``store``. Workers are separate processes (see :mod:`shotcraft.studio.worker`).

    ``secure_cookies``: mark the session cookie ``Secure`` (sent over https only); ``None`` decides per request
    from its scheme (behind a TLS proxy, pass ``True`` or let the server trust ``X-Forwarded-Proto``).
    """
    app = FastAPI(
        title="shotcraft studio",
        version=__version__,
        description="Invent and transform video shots: projects, uploads, jobs, takes with lineage.",
    )
    app.state.store = store
    app.state.max_upload_bytes = max_upload_bytes
    app.state.max_image_pixels = max_image_pixels

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        path = request.url.path
        if path == "/" or path.startswith("/static/"):
            response.headers.setdefault("Content-Security-Policy", STUDIO_CSP)
        elif path.startswith("/api/"):
            response.headers.setdefault("Content-Security-Policy", API_CSP)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and message == "Not Found":
            message = "there is nothing at this address"
        elif exc.status_code == 405:
            message = "this address does not accept that method"
            headers["Allow"] = _allowed_methods(app, request) or headers.get("Allow", "")
        elif exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return _error(exc.status_code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _describe_validation(exc))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "the server failed to handle this request; the error was logged")

    @app.get("/api/health", tags=["studio"], summary="Liveness", responses=errors())
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get(
        "/api/me", tags=["studio"], summary="Your key, its limits and what it uses", responses=errors(401)
    )
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

    @app.get(
        "/api/capabilities",
        tags=["studio"],
        summary="What this server can do: each job kind, and why one is not available",
        description="For a kind that cannot run here, `reason` says why in a user's words and "
        "`operator_note` what the person running the server can set up (no server paths).",
        responses=errors(401),
    )
    def capabilities(_: ApiKey = Depends(current_key)) -> dict[str, Any]:
        from shotcraft.server.routes.jobs import kind_view
        from shotcraft.studio.kinds import JOB_KINDS

        return {
            "kinds": {name: kind_view(kind) for name, kind in JOB_KINDS.items()},
            "max_upload_bytes": max_upload_bytes,
        }

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" if secure_cookies is None else secure_cookies

    @app.post(
        "/api/session",
        tags=["studio"],
        summary="Sign the browser studio in: a key for a session cookie",
        description="The HttpOnly cookie holds a random session token (only its hash is stored), never the "
        f"key; it lasts {SESSION_DAYS} days or until `DELETE /api/session`.",
        responses=errors(400, 401, 422),
    )
    def start_session(body: SessionRequest, request: Request) -> JSONResponse:
        key = store.key_for_secret(body.key)
        if key is None:
            raise HTTPException(401, "this API key is not valid (unknown or revoked)")
        token = store.create_session(key)
        response = JSONResponse({"key": {"id": key.id, "name": key.name}})
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            max_age=SESSION_DAYS * 86400,
        )
        return response

    @app.delete("/api/session", tags=["studio"], summary="Sign out: end the browser's session")
    def end_session(request: Request) -> JSONResponse:
        token = request.cookies.get(COOKIE)
        if token:
            store.end_session(token)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure(request))
        return response

    for router in (projects.router, advise.router, jobs.router, takes.router):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app
