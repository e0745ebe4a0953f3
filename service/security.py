"""API keys on model routes and the admin token on the repository API, as FastAPI dependencies."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

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


async def require_api_key(request: Request) -> None:
    """The guard of every model route. Dependencies here are `async def`: FastAPI runs a plain `def` dependency in
    its thread pool, a thread hop per request that costs more than the check."""
    check_api_key(request)


def check_api_key(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if not settings.api_keys:
        return
    presented = _presented(request, "x-api-key")
    if presented is None:
        raise Unauthorized("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`")
    if not _matches(presented, settings.api_keys):
        raise Unauthorized("invalid API key")


def key_owner(request: Request) -> str | None:
    """Who owns what this request creates (an evaluation job): a digest of its API key, None without keys.

    Call after `require_api_key`; the digest, not the key, is what the server keeps.
    """
    settings: Settings = request.app.state.settings
    presented = _presented(request, "x-api-key")
    if not settings.api_keys or presented is None:
        return None
    return hashlib.sha256(presented.encode()).hexdigest()


def require_key_when(flag: Callable[[Settings], bool]) -> Callable[[Request], Awaitable[None]]:
    """A dependency that asks for an API key only when the settings say this route is guarded."""

    async def dependency(request: Request) -> None:
        if flag(request.app.state.settings):
            check_api_key(request)

    return dependency


require_docs_key = require_key_when(lambda settings: settings.docs_require_key)
require_metrics_key = require_key_when(lambda settings: settings.metrics_require_key)


async def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.admin_token is None:
        raise Forbidden("the repository API is disabled: set POSECAST_ADMIN_TOKEN to enable it")
    presented = _presented(request, "x-admin-token")
    if presented is None:
        raise Unauthorized("the admin token is required: send `Authorization: Bearer <token>`")
    if not _matches(presented, [settings.admin_token]):
        raise Forbidden("invalid admin token")
