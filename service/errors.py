"""Domain errors raised anywhere in the service, and the one place that turns them into V2 error bodies.

The names follow kserve's errors module (and the issue), hence no `Error` suffix.
"""

# ruff: noqa: N818

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every error a client may see; `outcome` labels the request metric."""

    status_code = 500
    outcome = "error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidInput(ServiceError):
    status_code = 400
    outcome = "invalid"


class Unauthorized(ServiceError):
    status_code = 401
    outcome = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status_code = 403
    outcome = "unauthorized"


class ModelNotFound(ServiceError):
    status_code = 404
    outcome = "not_found"


class JobNotFound(ServiceError):
    status_code = 404
    outcome = "not_found"


class PayloadTooLarge(ServiceError):
    status_code = 413
    outcome = "invalid"


class NonFiniteOutput(ServiceError):
    """The model answered NaN or infinity for this input (e.g. values far outside its training range)."""

    status_code = 422
    outcome = "invalid"


class UnsupportedMediaType(ServiceError):
    """A body whose Content-Type the endpoint does not take; the message lists the ones it does."""

    status_code = 415
    outcome = "invalid"


class ClientDisconnected(ServiceError):
    """The client went away before its answer was ready; nginx's 499, never actually delivered."""

    status_code = 499
    outcome = "cancelled"


class ModelNotReady(ServiceError):
    """Inference on a model that is loading, failed to load or was unloaded (503: retry later)."""

    status_code = 503
    outcome = "not_ready"


class Overloaded(ServiceError):
    status_code = 503
    outcome = "overloaded"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message, {"Retry-After": str(retry_after_s)})


class RequestTimeout(ServiceError):
    status_code = 504
    outcome = "timeout"


class InferenceError(ServiceError):
    status_code = 500
    outcome = "error"


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The V2 error body: `{"error": "..."}`."""
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain, validation and routing errors to V2 error bodies. Unexpected errors: see middleware."""

    async def on_service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        if exc.status_code >= 500:
            logger.warning("%s: %s", type(exc).__name__, exc.message)
        return error_response(exc.status_code, exc.message, exc.headers)

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors())
        return error_response(400, f"invalid request: {details}")

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
