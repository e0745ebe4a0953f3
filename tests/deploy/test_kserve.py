"""deploy/kserve: KServe's schema of its resources, then the facts the runtime and the InferenceService rely on.

The schema is deploy/kserve/schema/kserve-schema.json, generated from the `kserve` SDK's own models (see the README
there): unknown fields and wrong types are errors, as in the API server's structural schema.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from service.settings import unknown_variables
from tests.deploy._files import (
    COMPOSE_FILE,
    DOCKERFILE,
    KUBERNETES_DIR,
    ROOT,
    load_yaml,
    objects_by_kind,
)

KSERVE_DIR = ROOT / "deploy" / "kserve"
SCHEMA_FILE = KSERVE_DIR / "schema" / "kserve-schema.json"
GUIDE = ROOT / "docs" / "deployment.md"
MODEL_DIR = "/mnt/models"  # where KServe's storage initializer puts the storageUri's content
KSERVE_PORT = 8080  # where KServe (and Knative's queue-proxy) sends a predictor's traffic
API_VERSIONS = {"ServingRuntime": "serving.kserve.io/v1alpha1", "InferenceService": "serving.kserve.io/v1beta1"}

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    return loaded


def _validator(schema: dict[str, Any], kind: str) -> Draft202012Validator:
    return Draft202012Validator({**schema, "$ref": f"#/$defs/{schema['x-roots'][kind]}"})


def _errors(schema: dict[str, Any], manifest: Manifest) -> list[str]:
    validator = _validator(schema, manifest["kind"])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


@pytest.fixture(scope="module")
def objects() -> dict[str, Manifest]:
    found = objects_by_kind(KSERVE_DIR)
    assert {"ServingRuntime", "InferenceService", "Kustomization"} <= set(found)
    return found


@pytest.fixture(scope="module")
def runtime(objects: dict[str, Manifest]) -> Manifest:
    return objects["ServingRuntime"]


@pytest.fixture(scope="module")
def isvc(objects: dict[str, Manifest]) -> Manifest:
    return objects["InferenceService"]


@pytest.fixture(scope="module")
def container(runtime: Manifest) -> Manifest:
    containers = runtime["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: Manifest) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_schema_is_kserves(schema: dict[str, Any]) -> None:
    assert schema["x-roots"] == {
        "ServingRuntime": "V1alpha1ServingRuntime",
        "InferenceService": "V1beta1InferenceService",
    }
    assert [source["wheel"].split("-")[0] for source in schema["x-source"]] == ["kserve", "kubernetes"]
    definitions = schema["$defs"]
    assert "canaryTrafficPercent" in definitions["V1beta1PredictorSpec"]["properties"]
    assert "supportedModelFormats" in definitions["V1alpha1ServingRuntimeSpec"]["properties"]
    assert definitions["V1Container"]["additionalProperties"] is False


def test_kustomization_lists_every_manifest(objects: dict[str, Manifest]) -> None:
    listed = set(objects["Kustomization"]["resources"])
    files = {p.name for p in KSERVE_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


@pytest.mark.parametrize("kind", ["ServingRuntime", "InferenceService"])
def test_manifest_matches_kserve_schema(schema: dict[str, Any], objects: dict[str, Manifest], kind: str) -> None:
    manifest = objects[kind]
    assert manifest["apiVersion"] == API_VERSIONS[kind]
    assert schema["x-roots"][kind].lower().startswith(API_VERSIONS[kind].split("/")[1]), "the model of that version"
    assert _errors(schema, manifest) == []


def _misspell_storage_uri(isvc: Manifest) -> None:
    isvc["spec"]["predictor"]["model"]["storageURI"] = isvc["spec"]["predictor"]["model"].pop("storageUri")


def _canary_as_text(isvc: Manifest) -> None:
    isvc["spec"]["predictor"]["canaryTrafficPercent"] = "10%"


def _model_format_as_text(isvc: Manifest) -> None:
    isvc["spec"]["predictor"]["model"]["modelFormat"] = "posecast"


def _misspell_probe(runtime: Manifest) -> None:
    runtime["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/v2/health/ready"


def _drop_containers(runtime: Manifest) -> None:
    del runtime["spec"]["containers"]


def _gpu_count_as_list(runtime: Manifest) -> None:
    runtime["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = ["1"]


@pytest.mark.parametrize(
    ("kind", "mistake", "expected"),
    [
        ("InferenceService", _misspell_storage_uri, "spec/predictor/model: Additional properties"),
        ("InferenceService", _canary_as_text, "canaryTrafficPercent: '10%' is not of type 'integer'"),
        ("InferenceService", _model_format_as_text, "modelFormat: 'posecast' is not of type 'object'"),
        ("ServingRuntime", _misspell_probe, "('paht' was unexpected)"),
        ("ServingRuntime", _drop_containers, "spec: 'containers' is a required property"),
        ("ServingRuntime", _gpu_count_as_list, "nvidia.com/gpu: ['1'] is not of type 'string'"),
    ],
)
def test_schema_rejects_mistakes(
    schema: dict[str, Any], objects: dict[str, Manifest], kind: str, mistake: Callable[[Manifest], None], expected: str
) -> None:
    """Controls: the same validator catches a misspelt field, a wrong type and a missing required field."""
    broken = copy.deepcopy(objects[kind])
    mistake(broken)
    errors = _errors(schema, broken)
    assert len(errors) == 1, errors
    assert expected in errors[0]


def test_runtime_is_a_v2_runtime(runtime: Manifest, container: Manifest) -> None:
    spec = runtime["spec"]
    assert spec["protocolVersions"] == ["v2"]
    assert container["name"] == "kserve-container", "KServe merges the predictor's model spec into this container"
    assert "command" not in container, "keep the image's exec-form entrypoint"
    assert "args" not in container, "configuration is environment only"
    formats = spec["supportedModelFormats"]
    assert all(fmt.get("name") for fmt in formats)


def test_server_reads_the_mounted_repository_and_listens_where_kserve_sends(container: Manifest) -> None:
    env = _env(container)
    assert not unknown_variables(dict.fromkeys(env, "")), "every variable names a setting"
    assert env["POSECAST_REPOSITORY"] == MODEL_DIR
    assert env["POSECAST_HOST"] == "0.0.0.0"
    assert int(env["POSECAST_PORT"]) == KSERVE_PORT
    assert [(p["containerPort"], p["name"]) for p in container["ports"]] == [(KSERVE_PORT, "http1")]


def test_probes_hit_the_v2_health_endpoints(container: Manifest) -> None:
    expected = {"livenessProbe": "/v2/health/live", "readinessProbe": "/v2/health/ready"}
    for probe, path in expected.items():
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path, probe
        # Knative refuses a probe port other than the container port; a name would not compare equal.
        assert http_get["port"] == KSERVE_PORT, probe


def test_image_and_user_match_the_other_deployments(runtime: Manifest, container: Manifest) -> None:
    compose = load_yaml(COMPOSE_FILE)
    assert container["image"] == compose["services"]["posecast"]["image"]
    deployment = load_yaml(KUBERNETES_DIR / "deployment.yaml")
    assert container["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    dockerfile_users = [
        line.split()[1].split(":")[0] for line in DOCKERFILE.read_text().splitlines() if line.startswith("USER ")
    ]
    assert str(container["securityContext"]["runAsUser"]) in dockerfile_users
    assert container["securityContext"]["runAsNonRoot"] is True
    assert int(container["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1


def test_inference_service_uses_the_runtime(runtime: Manifest, isvc: Manifest) -> None:
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    supported = {(fmt["name"], fmt.get("version")) for fmt in runtime["spec"]["supportedModelFormats"]}
    assert (model["modelFormat"]["name"], model["modelFormat"].get("version")) in supported
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert re.match(r"^[a-z0-9]+://", model["storageUri"]), "storageUri names a storage scheme (s3://, gs://, ...)"
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    assert int(model["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, what `kubectl patch --type merge` applies."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def test_guide_canary_rollout_is_valid(schema: dict[str, Any], isvc: Manifest) -> None:
    """Every `kubectl patch` of the guide's KServe section, applied in order, still matches KServe's schema."""
    guide = GUIDE.read_text(encoding="utf-8")
    assert "kubectl apply -k deploy/kserve" in guide
    patches = re.findall(r"kubectl patch inferenceservice posecast --type merge -p '(\{.*?\})'", guide)
    assert len(patches) >= 2, "the guide shows a canary step and its promotion"
    current = isvc
    percents = []
    for patch in patches:
        current = _merge_patch(current, json.loads(patch))
        assert _errors(schema, current) == [], patch
        percents.append(current["spec"]["predictor"].get("canaryTrafficPercent", 100))
    assert any(0 < percent < 100 for percent in percents), "one step splits traffic"
    assert percents[-1] == 100, "the last step promotes the canary"
    assert current["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
