"""The /v1 task endpoints, the documentation pages and the demo page, over `service.tasks`."""

from __future__ import annotations

from fastapi import FastAPI

from service.api import catalog, evaluate, forecast, pages, pose


def install_api(app: FastAPI) -> None:
    """Add every /v1 route and the pages to `app` (built with docs_url=None, redoc_url=None)."""
    for router in (catalog.router, pose.router, forecast.router, evaluate.router, evaluate.models):
        app.include_router(router)
    pages.install_pages(app)
