"""The pages and the OpenAPI document: offline assets only, and every /v1 operation fully described."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.service.conftest import Server

EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=(:]\s*["']?(https?://[^"')\s>]+)""", re.IGNORECASE)


@pytest.fixture(scope="module")
def http(task_server: Server) -> httpx.Client:
    with task_server.client() as client:
        yield client


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/"])
def test_pages_reference_no_outside_asset(http: httpx.Client, path: str) -> None:
    page = http.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert EXTERNAL.findall(page.text) == []
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", page.text)
    assert assets, "the page loads its scripts and styles from the server"
    for asset in assets:
        assert http.get(asset).status_code == 200, asset


def test_favicon_is_served_locally(http: httpx.Client) -> None:
    icon = http.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG")


def test_every_v1_operation_has_summary_body_examples_and_errors(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    operations = [(path, op) for path, ops in spec["paths"].items() if path.startswith("/v1") for op in ops.values()]
    assert len(operations) == 11
    for path, operation in operations:
        assert operation.get("summary"), path
        responses = operation["responses"]
        assert "200" in responses, path
        assert any(code.startswith("4") for code in responses), path
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]
            if "application/json" in content:
                media = content["application/json"]
                assert "example" in media or "examples" in str(media["schema"]) or "$ref" in media["schema"], path
    pose = spec["paths"]["/v1/models/{name}/pose"]["post"]
    assert {"multipart/form-data", "image/png", "image/jpeg", "image/webp", "application/json"} <= set(
        pose["requestBody"]["content"]
    )
    assert "image/png" in pose["responses"]["200"]["content"]


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("/v1/models/{name}/pose", "/v1/models/pose/pose"),
        ("/v1/models/{name}/forecast", "/v1/models/keypoints/forecast"),
        ("/v1/evaluate/pck", "/v1/evaluate/pck"),
        ("/v1/evaluate/mse", "/v1/evaluate/mse"),
    ],
)
def test_documented_json_examples_succeed(http: httpx.Client, path: str, url: str) -> None:
    """What "Try it out" sends by default (with the model name filled in) gets a 200."""
    operation = http.get("/openapi.json").json()["paths"][path]["post"]
    media = operation["requestBody"]["content"]["application/json"]
    example = media.get("example")
    if example is None:  # FastAPI's own body: the example sits on the schema
        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
        schema = http.get("/openapi.json").json()["components"]["schemas"][name]
        example = {key: value["examples"][0] for key, value in schema["properties"].items() if "examples" in value}
    response = http.post(url, json=example)
    assert response.status_code == 200, response.text
