"""The /v1 task endpoints, the documentation pages and the demo page, over `service.tasks`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.api import catalog, evaluate, forecast, pages, pose


def install_api(app: FastAPI) -> None:
    """Add every /v1 route and the pages to `app` (built with docs_url=None, redoc_url=None)."""
    for router in (catalog.router, pose.router, forecast.router, evaluate.router, evaluate.models):
        app.include_router(router)
    pages.install_pages(app)
    _document_validation_as_400(app)


def _document_validation_as_400(app: FastAPI) -> None:
    """FastAPI documents request validation as 422; `install_error_handlers` answers it with 400."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in build()["paths"].values():
                for operation in operations.values():
                    failure = operation["responses"].pop("422", None)
                    if failure is not None:
                        operation["responses"].setdefault("400", failure | {"description": "Invalid request."})
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
