"""deploy/triton: the same model repository served by Triton Inference Server."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft7Validator

from tests.deploy._files import COMPOSE_SCHEMA, ROOT, TRITON_DIR, load_yaml

REPOSITORY = ROOT / "model_repository"


@pytest.fixture(scope="module")
def triton() -> dict:
    return load_yaml(TRITON_DIR / "compose.yaml")["services"]["triton"]


def test_compose_snippet_validates() -> None:
    validator = Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8")))
    errors = [e.message for e in validator.iter_errors(load_yaml(TRITON_DIR / "compose.yaml"))]
    assert errors == []


def test_serves_our_repository(triton) -> None:
    image, _, tag = triton["image"].partition(":")
    assert image == "nvcr.io/nvidia/tritonserver"
    assert tag not in {"", "latest"}
    command = triton["command"]
    assert command[0] == "tritonserver"
    flags = [arg.partition("=")[2] for arg in command if arg.startswith("--model-repository=")]
    assert len(flags) == 1, command
    mounts = [v for v in triton["volumes"] if v["target"] == flags[0]]
    assert len(mounts) == 1
    assert mounts[0]["read_only"] is True
    # Compose resolves a relative bind source against the directory of the compose file.
    assert (TRITON_DIR / mounts[0]["source"]).resolve() == REPOSITORY
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert any(str(p).split(":")[-1].startswith("8000") for p in triton["ports"]), "Triton's HTTP port is 8000"


def test_readme_shows_the_command() -> None:
    readme = (TRITON_DIR / "README.md").read_text(encoding="utf-8")
    assert "tritonserver --model-repository=" in readme
    assert "onnxruntime_onnx" in readme


@pytest.mark.skipif(not REPOSITORY.is_dir(), reason="no model_repository/ yet (make models)")
def test_repository_configs_name_the_onnx_runtime_backend() -> None:
    models = [p for p in REPOSITORY.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert models
    for model in models:
        versions = [p for p in model.iterdir() if p.is_dir() and p.name.isdigit()]
        assert versions, f"{model.name}: no integer version directory"
        for version in versions:
            assert (version / "model.onnx").is_file(), f"{version}: Triton's ONNX backend loads model.onnx"
        configs = [model / "config.pbtxt", *(v / "config.pbtxt" for v in versions)]
        configs = [c for c in configs if c.is_file()]
        assert configs, f"{model.name}: no config.pbtxt"
        for config in configs:
            text = config.read_text(encoding="utf-8")
            assert re.search(r'platform:\s*"onnxruntime_onnx"|backend:\s*"onnxruntime"', text), config
