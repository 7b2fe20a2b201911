"""API keys: ``Authorization: Bearer <key>``, ``X-API-Key: <key>``, or the studio's HttpOnly cookie.

The browser studio exchanges a key for the cookie once (``POST /api/session``), so media elements and
download links, which cannot send headers, are authorised too. Keys are looked up by their SHA-256.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from shotcraft.studio.models import ApiKey

COOKIE = "shotcraft_key"


def presented_secret(request: Request) -> str | None:
    """The key the request carries (header first, then the cookie), or ``None``."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


def current_key(request: Request) -> ApiKey:
    """The dependency every protected route uses; 401 with a plain reason otherwise."""
    secret = presented_secret(request)
    if not secret:
        raise HTTPException(401, "an API key is required: send 'Authorization: Bearer <key>'")
    key = request.app.state.store.key_for_secret(secret)
    if key is None:
        raise HTTPException(401, "this API key is not valid (unknown or revoked)")
    return key
