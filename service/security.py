"""API keys on model routes and the admin token on the repository API, as FastAPI dependencies."""

from __future__ import annotations

import hmac

from fastapi import Request
from pydantic import SecretStr

from service.errors import Forbidden, Unauthorized
from service.settings import Settings


def _presented(request: Request, header: str) -> str | None:
    """`Authorization: Bearer <token>`, else the named header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get(header)


def _matches(presented: str, secrets: list[SecretStr]) -> bool:
    # Compare against every key so the time taken does not reveal which one nearly matched.
    results = [hmac.compare_digest(presented.encode(), s.get_secret_value().encode()) for s in secrets]
    return any(results)


def require_api_key(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if not settings.api_keys:
        return
    presented = _presented(request, "x-api-key")
    if presented is None:
        raise Unauthorized("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`")
    if not _matches(presented, settings.api_keys):
        raise Unauthorized("invalid API key")


def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.admin_token is None:
        raise Forbidden("the repository API is disabled: set POSECAST_ADMIN_TOKEN to enable it")
    presented = _presented(request, "x-admin-token")
    if presented is None:
        raise Unauthorized("the admin token is required: send `Authorization: Bearer <token>`")
    if not _matches(presented, [settings.admin_token]):
        raise Forbidden("invalid admin token")
