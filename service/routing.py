"""What every route module (V2 and /v1) shares: app-state lookups, the lease every model run takes, client-disconnect
handling, and the thread that reads evaluation archives."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

import numpy as np
from fastapi import Request

from service.errors import ClientDisconnected
from service.model import Infer, ServedModel
from service.repository import ModelRepository
from service.settings import Settings

T = TypeVar("T")
P = ParamSpec("P")

# JSON parsing and encoding cost roughly 5-20 ms per MiB; past this size that would stall every other request on
# the event loop, so it moves to a worker thread. Below it the thread hop (~0.1 ms) costs more than it saves.
OFFLOAD_BYTES = 256 * 1024


def repository_of(request: Request) -> ModelRepository:
    repository: ModelRepository = request.app.state.repository
    return repository


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@asynccontextmanager
async def lease(
    repository: ModelRepository, name: str, version: str | None, request: Request | None
) -> AsyncIterator[tuple[ServedModel, Infer]]:
    """The one sequence every route that runs a model follows: lease the version (a reload waits for the lease),
    count the request in that version's statistics, and drop its queued work when the client goes away. Without a
    `request` (an evaluation job outlives the request that started it) nothing is watched."""
    async with repository.use(name, version) as served:
        with served.track():

            async def infer(
                inputs: Mapping[str, np.ndarray],
                outputs: Sequence[str] | None = None,
                *,
                timeout_s: float | None = None,
            ) -> dict[str, np.ndarray]:
                work = served.infer(inputs, outputs, timeout_s=timeout_s)
                return await (work if request is None else until_disconnected(request, work))

            yield served, infer


async def in_thread_if_large(size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`, in a worker thread when it processes more than OFFLOAD_BYTES (`size`)."""
    if size > OFFLOAD_BYTES:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


# Evaluation archives are read one at a time on a thread of their own: decompressing them must never take the
# default pool's threads, which decode images for every /v1 request.
_ARCHIVE_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archives")


async def read_archive(request: Request, read: Callable[[threading.Event], T]) -> T:
    """`read(stop)` on the archive thread; when the client goes away, `stop` is set and the waiting ends."""
    stop = threading.Event()
    try:
        return await until_disconnected(
            request, asyncio.get_running_loop().run_in_executor(_ARCHIVE_READER, read, stop)
        )
    finally:
        stop.set()


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
