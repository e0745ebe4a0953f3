"""The app factory: settings in, FastAPI app out; models load in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request, Response
from starlette.middleware.cors import CORSMiddleware

from service import v2
from service.api import install_api, pose
from service.errors import install_error_handlers
from service.jobs import JobManager
from service.logs import configure_logging
from service.metrics import Metrics
from service.middleware import RequestBodyMiddleware, RequestContextMiddleware
from service.repository import ModelRepository
from service.runtime import GPU_PROVIDERS, check_gpu_available
from service.security import require_metrics_key
from service.settings import Settings

logger = logging.getLogger(__name__)
V2_HEADERS = ["Inference-Header-Content-Length", "X-Request-ID"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` defaults to the environment (`POSECAST_*`)."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    metrics = Metrics(shared=settings.workers > 1)
    repository = ModelRepository(settings, metrics)
    jobs = JobManager(settings.max_jobs, settings.job_ttl_s, settings.jobs_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_gpu_available(settings)
        if settings.require_gpu or settings.workers > 1:
            # Load before accepting. A GPU deployment must not come up on a silent CPU fallback; a worker shares
            # its port with the others, so it takes connections only once it can answer them.
            await repository.load_all()
            if settings.require_gpu and not any(served.provider in GPU_PROVIDERS for served in repository.served()):
                raise RuntimeError("POSECAST_REQUIRE_GPU is set but no model version runs on a GPU provider")
            loader = None
        else:
            # Live at once, ready when loading is done.
            loader = asyncio.create_task(repository.load_all(), name="load-models")
        try:
            yield
        finally:
            app.state.draining = True
            if loader is not None and not loader.done():
                loader.cancel()
            await jobs.close()
            try:
                await asyncio.wait_for(repository.close(), settings.grace_period_s)
            except TimeoutError:
                logger.error("queued requests did not finish within %.0f s of shutdown", settings.grace_period_s)

    app = FastAPI(
        title="posecast",
        summary="Pose keypoints and sequence forecasts over ONNX Runtime.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by service.api.pages, not from a CDN
        redoc_url=None,
        openapi_url=None,  # service.api.pages serves it, behind the key when POSECAST_DOCS_REQUIRE_KEY says so
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.repository = repository
    app.state.jobs = jobs
    app.state.draining = False
    install_error_handlers(app)
    # First: routes match in order, and these are the hot paths (each also has a FastAPI twin for the docs).
    app.router.routes.extend([*v2.FAST_ROUTES, *pose.FAST_ROUTES])
    app.include_router(v2.models)
    app.include_router(v2.server)
    app.include_router(v2.repository_api)
    install_api(app)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_key)])
    async def prometheus(request: Request) -> Response:
        content, media_type = metrics.render()
        return Response(content, media_type=media_type)

    # Added last = outermost: the request id covers every response, including 413s.
    app.add_middleware(
        RequestBodyMiddleware,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.body_timeout_s,
        deadline_s=settings.body_deadline_s,
        max_pending_bytes=settings.max_pending_body_bytes,
        pending_gauge=metrics.pending_body_bytes,
    )
    if settings.cors_origins:
        # Inside the request-id layer, so preflight answers carry an id too; no cookies, so no credentials.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "X-Admin-Token", "Content-Type", *V2_HEADERS],
            expose_headers=["Retry-After", *V2_HEADERS],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
    return app
