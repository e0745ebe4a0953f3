"""Pure ASGI middleware (they keep `receive` intact, which disconnect detection relies on)."""

from __future__ import annotations

import asyncio
import logging
import random
import re

from prometheus_client import Gauge
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response
from service.logs import request_id_var

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _new_request_id() -> str:
    """128 random bits in 32 hex digits, as `uuid4().hex` writes them, without its `os.urandom`: that call lets go of
    the GIL, and the event loop then waits to take it back from the threads decoding images (1.5 us alone, 230 us
    beside a busy Python thread). A name for log lines needs no cryptographic randomness."""
    return f"{random.getrandbits(128):032x}"


class RequestContextMiddleware:
    """Accept or generate `X-Request-ID`, echo it, and answer unexpected errors with a logged, generic 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else _new_request_id()
        token = request_id_var.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client left while its body was being read: nothing to answer, and nothing went wrong here.
            logger.info(
                "client disconnected before its request was read: %s %s", scope.get("method"), scope.get("path")
            )
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when the shutdown grace period ends, and would answer 500.
            # The server is going away, not failing: answer 503 so that clients retry on another replica.
            if started:
                raise
            headers = {"Retry-After": "1", "Connection": "close"}
            await error_response(503, "the server is shutting down; retry", headers)(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await error_response(500, "internal server error")(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class RequestBodyMiddleware:
    """Bounds on the request body: 413 past its size limit (at once from Content-Length, or while a chunked body
    streams); 408 when the next part takes longer than `timeout_s` to arrive or the whole body longer than
    `deadline_s`; 503 when the bodies still arriving, over every connection of the process, would hold more than
    `max_pending_bytes`. The last two bound what uploads trickled to stay open can hold: each part in time, every
    part kept in memory."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        timeout_s: float,
        deadline_s: float,
        max_pending_bytes: int,
        pending_gauge: Gauge,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.max_pending_bytes = max_pending_bytes
        self.pending_gauge = pending_gauge
        self.pending_bytes = 0  # held by bodies whose last part has not arrived, over all connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            count = declared.strip().lstrip("0") or "0"  # whitespace around a value is allowed, and leading zeros
            valid = count.isascii() and count.isdigit()
            if not valid or len(count) > 20 or int(count) > self.max_body_bytes:  # 20 digits: past any limit
                status, message = (413, self._too_large()) if valid else (400, "bad Content-Length")
                await error_response(status, message)(scope, receive, send)
                return
        received = 0
        held = 0  # of this body's bytes, counted in pending_bytes until its last part is in or the request ends
        complete = answering = False
        deadline = asyncio.get_running_loop().time() + self.deadline_s

        async def watched_send(message: Message) -> None:
            nonlocal answering
            answering = True
            await send(message)

        def let_go() -> None:
            nonlocal held
            self._add_pending(-held)
            held = 0

        async def bounded_receive() -> Message:
            nonlocal received, held, complete
            if complete or answering:
                # The body is in, or the answer has begun without it (a file response reads on only to see the
                # client leave): an error could no longer be sent, and what arrives now is dropped, not held.
                let_go()
                return await receive()
            left = deadline - asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(min(self.timeout_s, left)):
                    message = await receive()
            except TimeoutError:
                if not answering:
                    # HTTPExceptions, not ServiceErrors: FastAPI re-raises them from its own body parsing (where
                    # any other exception becomes a 400), and install_error_handlers maps them.
                    detail = (
                        f"the request body stalled for {self.timeout_s:g} s (POSECAST_BODY_TIMEOUT_S)"
                        if self.timeout_s <= left
                        else f"the request body took longer than {self.deadline_s:g} s in all "
                        "(POSECAST_BODY_DEADLINE_S)"
                    )
                    raise HTTPException(408, detail, headers={"Connection": "close"}) from None
                message = await receive()  # the answer began while this wait ran
            if answering:
                let_go()
                return message
            if message["type"] == "http.request":
                part = len(message.get("body", b""))
                received += part
                complete = not message.get("more_body", False)
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large())
                if complete:
                    let_go()
                elif self.pending_bytes + part > self.max_pending_bytes:
                    detail = "too many request bodies are arriving at once (POSECAST_MAX_PENDING_BODY_BYTES); retry"
                    raise HTTPException(503, detail, headers={"Retry-After": "1", "Connection": "close"})
                else:
                    self._add_pending(part)
                    held += part
            return message

        try:
            await self.app(scope, bounded_receive, watched_send)
        finally:
            let_go()

    def _add_pending(self, delta: int) -> None:
        if delta:
            self.pending_bytes += delta
            self.pending_gauge.set(self.pending_bytes)

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.max_body_bytes} bytes (POSECAST_MAX_BODY_BYTES)"
