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
    _finish_openapi(app)


def _finish_openapi(app: FastAPI) -> None:
    """Two touches FastAPI cannot make from the routes themselves, applied once to the generated document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _document_validation_as_400(schema)
            _link_model_names(schema)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _document_validation_as_400(schema: dict[str, Any]) -> None:
    """FastAPI documents request validation as 422; `install_error_handlers` answers it with 400."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            failure = operation["responses"].pop("422", None)
            if failure is not None and "400" not in operation["responses"]:
                operation["responses"]["400"] = failure | {"description": "Invalid request."}


def _link_model_names(schema: dict[str, Any]) -> None:
    """OpenAPI links from `GET /v1/models` to every operation on one model, so that clients and generated tests
    (schemathesis' stateful phase) take real model names and versions from the listing."""
    links = {}
    for path, operations in schema["paths"].items():
        if not path.startswith(("/v1/models/{name}", "/v2/models/{name}")):
            continue
        for operation in operations.values():
            parameters = {"name": "$response.body#/0/name"}
            if "{version}" in path:
                parameters["version"] = "$response.body#/0/version"
            links[operation["operationId"]] = {"operationId": operation["operationId"], "parameters": parameters}
    schema["paths"]["/v1/models"]["get"]["responses"]["200"]["links"] = links
