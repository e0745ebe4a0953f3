"""Pure ASGI middleware (they keep `receive` intact, which disconnect detection relies on)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response
from service.logs import request_id_var

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestContextMiddleware:
    """Accept or generate `X-Request-ID`, echo it, and answer unexpected errors with a logged, generic 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
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
    streams), 408 when the next part takes longer than `timeout_s` to arrive."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            status, message = (413, self._too_large()) if declared.isdigit() else (400, "bad Content-Length")
            await error_response(status, message)(scope, receive, send)
            return
        received = 0
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is the disconnect, which may take as long as it takes
                return await receive()
            try:
                async with asyncio.timeout(self.timeout_s):
                    message = await receive()
            except TimeoutError:
                # HTTPExceptions, not ServiceErrors: FastAPI re-raises them from its own body parsing (where any
                # other exception becomes a 400), and install_error_handlers maps them.
                detail = f"the request body stalled for {self.timeout_s:g} s (POSECAST_BODY_TIMEOUT_S)"
                raise HTTPException(408, detail, headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, bounded_receive, send)

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.max_body_bytes} bytes (POSECAST_MAX_BODY_BYTES)"
