"""API keys: ``Authorization: Bearer <key>``, ``X-API-Key: <key>``, or the studio's session cookie.

The browser studio exchanges a key for a session once (``POST /api/session``): the HttpOnly cookie holds a
random session token, never the key, and the store keeps only the token's SHA-256, with an expiry. Signing
out (``DELETE /api/session``) or deleting the row ends the session. Media elements and download links, which
cannot send headers, are authorised by the cookie. Keys are looked up by their SHA-256.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer

from shotcraft.studio.models import ApiKey

COOKIE = "shotcraft_session"

# Declared for the OpenAPI document (its securitySchemes); the key itself is read by `current_key`.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer <key>`")
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey")
_COOKIE = APIKeyCookie(
    name=COOKIE, auto_error=False, scheme_name="session", description="the studio's session cookie"
)


def presented_secret(request: Request) -> str | None:
    """The key the request carries in a header, or ``None``."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def current_key(
    request: Request,
    _bearer: Any = Security(_BEARER),
    _header: Any = Security(_HEADER),
    _cookie: Any = Security(_COOKIE),
) -> ApiKey:
    """The dependency every protected route uses; 401 with a plain reason otherwise."""
    store = request.app.state.store
    secret = presented_secret(request)
    if secret:
        key = store.key_for_secret(secret)
        if key is None:
            raise HTTPException(401, "this API key is not valid (unknown or revoked)")
        return key
    token = request.cookies.get(COOKIE)
    if not token:
        raise HTTPException(401, "an API key is required: send 'Authorization: Bearer <key>'")
    key = store.key_for_session(token)
    if key is None:
        raise HTTPException(401, "this session has ended (signed out, expired or revoked): sign in again")
    return key
