"""KServe V2 REST routes: thin handlers that parse, call the repository or a served model, and encode."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.routing import Route

from service import protocol
from service.api.bodies import errors, request_body
from service.errors import InvalidInput, ModelNotReady
from service.repository import READY
from service.routing import in_thread_if_large, lease, repository_of, settings_of
from service.security import require_admin, require_api_key

EXTENSIONS = ["binary_tensor_data", "statistics", "model_repository"]

server = APIRouter(prefix="/v2", tags=["v2"])
models = APIRouter(
    prefix="/v2/models", tags=["v2"], dependencies=[Depends(require_api_key)], responses=errors(400, 401, 404, 503)
)
repository_api = APIRouter(
    prefix="/v2/repository",
    tags=["v2 repository"],
    dependencies=[Depends(require_admin)],
    responses=errors(400, 401, 403, 404),
)
# The infer body is parsed by hand (JSON header, then binary tensors), so its OpenAPI entry is written here.
INFER_DOC: dict[str, Any] = {
    "responses": errors(408, 413, 415, 422, 504),
    "openapi_extra": request_body(
        protocol.InferenceRequest,
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 0.5, 1.0, 1.5]}]},
        raw=["application/octet-stream"],
    ),
}


def _server_version() -> str:
    try:
        return package_version("posecast")
    except PackageNotFoundError:
        return "0+unknown"


@server.get("")
async def server_metadata() -> dict[str, Any]:
    return {"name": "posecast", "version": _server_version(), "extensions": EXTENSIONS}


# HEAD (uptime monitors' default probe) registered after GET, so a 405 on these paths still says `Allow: GET`.
@server.head("/health/live", include_in_schema=False)
@server.get("/health/live")
async def live() -> dict[str, bool]:
    return {"live": True}


@server.head("/health/ready", include_in_schema=False)
@server.get("/health/ready")
async def ready(request: Request) -> Response:
    reason = "shutting down" if request.app.state.draining else repository_of(request).not_ready_reason()
    if reason is None:
        providers = sorted({model.provider for model in repository_of(request).served()})
        return JSONResponse({"ready": True, "providers": providers})
    return JSONResponse({"ready": False, "error": f"server is not ready: {reason}"}, status_code=503)


@models.post("/{name}/infer", **INFER_DOC)
@models.post("/{name}/versions/{version}/infer", **INFER_DOC)
async def infer(request: Request, name: str, version: str | None = None) -> Response:
    body = await request.body()
    header_length = protocol.parse_header_length(request.headers.get("inference-header-content-length"))
    settings = settings_of(request)
    async with lease(repository_of(request), name, version, request) as (served, run):
        # Binary tensors are views on the body, so only the JSON part costs time to decode.
        json_bytes = len(body) if header_length is None else header_length
        decoded = await in_thread_if_large(
            json_bytes, protocol.decode_request, body, header_length, served.card.inputs, settings.max_request_elements
        )
        names = [choice.name for choice in decoded.outputs] if decoded.outputs is not None else None
        results = await run(decoded.inputs, names, timeout_s=decoded.timeout_s)
        output_bytes = sum(array.nbytes for array in results.values())
        content, json_length = await in_thread_if_large(
            output_bytes,
            protocol.encode_response,
            served.name,
            served.version,
            decoded,
            results,
            settings.max_response_bytes,
        )
    if json_length is None:
        return Response(content, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(json_length)}
    return Response(content, media_type="application/octet-stream", headers=headers)


async def serve_infer(request: Request) -> Response:
    """V2 infer as a plain Starlette route, which `create_app` puts ahead of FastAPI's: the same key check and
    handler, without FastAPI's dependency solving and parameter validation, which cost a fifth of the CPU of an
    infer request (in-process profile, trivial model: 1.10 -> 0.87 ms). The FastAPI routes above stay for the
    OpenAPI schema, and answer alike."""
    await require_api_key(request)
    return await infer(request, request.path_params["name"], request.path_params.get("version"))


FAST_ROUTES = [
    Route(f"/v2/models/{{name}}{versions}/infer", serve_infer, methods=["POST"])
    for versions in ("", "/versions/{version}")
]


@models.get("/stats")
async def all_stats(request: Request) -> dict[str, Any]:
    served = repository_of(request).served()
    return {"model_stats": [model.stats.as_triton(model.name, model.version) for model in served]}


@models.get("/{name}")
@models.get("/{name}/versions/{version}")
async def model_metadata(request: Request, name: str, version: str | None = None) -> dict[str, Any]:
    return repository_of(request).metadata(name, version)


@models.get("/{name}/ready")
@models.get("/{name}/versions/{version}/ready")
async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    """200 when ready; 400 (the spec's 4xx for false) with the reason otherwise; 404 for an unknown model."""
    try:
        record = repository_of(request).record(name, version)
    except ModelNotReady as exc:  # on disk but unloaded: not ready, like a loading or failed version
        return JSONResponse({"name": name, "version": version, "ready": False, "error": exc.message}, 400)
    body: dict[str, Any] = {"name": name, "version": str(record.version), "ready": record.state == READY}
    if record.state == READY:
        return JSONResponse(body)
    return JSONResponse({**body, "error": f"model is {record.state.lower()}: {record.reason}"}, status_code=400)


@models.get("/{name}/stats")
@models.get("/{name}/versions/{version}/stats")
async def model_stats(request: Request, name: str, version: str | None = None) -> dict[str, Any]:
    served = repository_of(request).get(name, version)
    return {"model_stats": [served.stats.as_triton(served.name, served.version)]}


class IndexRequest(BaseModel):
    ready: bool = False


@repository_api.post("/index")
async def repository_index(request: Request) -> list[dict[str, str]]:
    body = await request.body()
    try:
        options = IndexRequest.model_validate_json(body) if body.strip() else IndexRequest()
    except ValidationError as exc:
        raise InvalidInput(f"malformed index request: {exc.errors()[0]['msg']}") from None
    return repository_of(request).index(ready_only=options.ready)


@repository_api.post("/models/{name}/load")
async def repository_load(request: Request, name: str) -> Response:
    """200 when every version loaded; 400 (Triton's answer to a failed load) naming each version that did not,
    with the state each version serves in now (a failed reload keeps serving the previous copy)."""
    _one_process(request)
    records, failures = await repository_of(request).load(name)
    failed = {str(version): reason for version, reason in failures.items()}
    body: dict[str, Any] = {"name": name, "versions": {str(v): r.state for v, r in records.items()}, "failed": failed}
    if not records or failed:
        return JSONResponse({"error": f"failed to load '{name}': {failed or 'no versions'}", **body}, 400)
    return JSONResponse(body)


@repository_api.post("/models/{name}/unload")
async def repository_unload(request: Request, name: str) -> dict[str, str]:
    _one_process(request)
    await repository_of(request).unload(name)
    return {"name": name, "state": "UNAVAILABLE"}


def _one_process(request: Request) -> None:
    """Load and unload change the process that answers; with several workers the others would go on serving the
    old state, so the API refuses rather than leave them disagreeing."""
    workers = settings_of(request).workers
    if workers > 1:
        raise InvalidInput(
            f"the server runs {workers} worker processes (POSECAST_WORKERS) and this request would change only one; "
            "restart the server (a rolling restart behind a load balancer) to serve new versions"
        )
