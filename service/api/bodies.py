"""Reading /v1 request bodies by Content-Type (JSON, multipart, raw images), and the OpenAPI text for them.

Endpoints that take several content types parse the body themselves, so FastAPI cannot describe it; the
`*_body` helpers below write the `requestBody` entries that Swagger UI and ReDoc show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from service.api.schemas import ErrorBody
from service.errors import InvalidInput, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"
MULTIPART = "multipart/form-data"


@dataclass
class Form:
    """A multipart body: files and text fields by field name, each in arrival order."""

    files: dict[str, list[bytes]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)

    def all_files(self) -> list[bytes]:
        return [data for group in self.files.values() for data in group]

    @property
    def fields(self) -> dict[str, str]:
        """Each text field's last value, for fields that are not repeated."""
        return {name: values[-1] for name, values in self.texts.items()}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def unsupported(got: str, accepted: list[str]) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"Content-Type {got or '(none)'} is not accepted here; send one of {accepted}")


async def read_form(request: Request, max_files: int) -> Form:
    """Every part of a multipart body, bounded in file count by Starlette (400 beyond it)."""
    form = Form()
    async with request.form(max_files=max_files) as parts:
        for name, value in parts.multi_items():
            if isinstance(value, UploadFile):
                form.files.setdefault(name, []).append(await value.read())
            else:
                form.texts.setdefault(name, []).append(value)
    return form


def validated(model: type[M], data: bytes | dict[str, Any]) -> M:
    """Parse JSON bytes or form fields into `model`; 400 naming each bad field."""
    try:
        return model.model_validate_json(data) if isinstance(data, bytes) else model.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid request: {details}") from None


def check_count(count: int, limit: int, what: str) -> None:
    if count == 0:
        raise InvalidInput(f"no {what} in the request")
    if count > limit:
        raise InvalidInput(f"{count} {what} in one request; at most {limit} (POSECAST_MAX_IMAGES_PER_REQUEST)")


def request_body(
    json_model: type[BaseModel] | None,
    json_example: dict[str, Any] | None,
    multipart: dict[str, Any] | None = None,
    raw: list[str] | None = None,
    multipart_required: list[str] | None = None,
) -> dict[str, Any]:
    """An `openapi_extra` with the body's content types; multipart fields are `name -> schema`."""
    content: dict[str, Any] = {}
    if json_model is not None:
        content[JSON] = {"schema": _inline_definitions(json_model.model_json_schema()), "example": json_example}
    if multipart is not None:
        form: dict[str, Any] = {"type": "object", "properties": multipart}
        if multipart_required:
            form["required"] = multipart_required
        content[MULTIPART] = {"schema": form}
    for media in raw or []:
        content[media] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}


def _inline_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's `$defs` references resolve against the OpenAPI document's root, where they do not exist: put
    each definition in place (request models are small and not recursive)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


FILE = {"type": "string", "format": "binary"}
FILES = {"type": "array", "items": FILE, "minItems": 1}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Documented error responses, all `{"error": ...}`."""
    meaning = {
        400: "Malformed input: the message says what was expected.",
        401: "Missing or invalid API key (or admin token).",
        403: "The repository API is disabled, or the admin token is wrong.",
        404: "Unknown model, version or job.",
        408: "The request body stalled.",
        413: "Too large: body, batch, tensor elements, response, image pixels or evaluation set.",
        415: "Content-Type not accepted.",
        422: "The model answered NaN or infinity for this input.",
        503: "Model not ready, overloaded or the server shutting down; retry after Retry-After.",
        504: "The request timed out in the queue or the model.",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}
