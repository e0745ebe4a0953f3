"""What every route module (V2 and /v1) shares: app-state lookups and client-disconnect handling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from service.errors import ClientDisconnected
from service.repository import ModelRepository
from service.settings import Settings

T = TypeVar("T")


def repository_of(request: Request) -> ModelRepository:
    repository: ModelRepository = request.app.state.repository
    return repository


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (and so dropping it from the batch queue) if the client goes away."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        raise ClientDisconnected("client disconnected")
    return task.result()


async def _disconnected(request: Request) -> None:
    # Once the body is read, the next ASGI message is the disconnect, sent when the socket closes.
    while (await request.receive())["type"] != "http.disconnect":
        pass
