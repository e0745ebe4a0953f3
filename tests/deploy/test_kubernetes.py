"""deploy/kubernetes: parses, and the Deployment, Service, probes, HPA and image agree with each other."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy._files import (
    COMPOSE_FILE,
    DOCKERFILE,
    KUBERNETES_DIR,
    load_yaml,
    objects_by_kind,
)

GRACE_PERIOD_S = 30  # the server's default POSECAST_GRACE_PERIOD_S


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    found = objects_by_kind(KUBERNETES_DIR)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= set(found)
    return found


@pytest.fixture(scope="module")
def container(objects) -> dict[str, Any]:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _port(container: dict[str, Any], ref: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    for port in container["ports"]:
        if ref in (port["containerPort"], port.get("name")):
            return port["containerPort"]
    raise AssertionError(f"port {ref!r} is not a port of container {container['name']}")


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_kustomization_lists_every_manifest(objects) -> None:
    listed = set(objects["Kustomization"]["resources"])
    files = {p.name for p in KUBERNETES_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_metadata(objects) -> None:
    for kind, obj in objects.items():
        if kind != "Kustomization":
            assert obj["metadata"]["name"] == "posecast", kind


def test_selectors_match_pod_labels(objects) -> None:
    deployment = objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()


def test_container_listens_where_the_service_sends(objects, container) -> None:
    env = _env(container)
    assert env["POSECAST_HOST"] == "0.0.0.0"
    port = int(env.get("POSECAST_PORT", 8000))
    assert [p["containerPort"] for p in container["ports"]] == [port]
    for service_port in objects["Service"]["spec"]["ports"]:
        assert _port(container, service_port.get("targetPort", service_port["port"])) == port
    assert all(name.startswith("POSECAST_") for name in env), "configuration is POSECAST_* only"
    assert "command" not in container, "keep the image's exec-form entrypoint"
    assert "args" not in container, "configuration is environment only"


def test_probes_hit_the_v2_health_endpoints(container) -> None:
    port = int(_env(container).get("POSECAST_PORT", 8000))
    expected = {"livenessProbe": "/v2/health/live", "readinessProbe": "/v2/health/ready"}
    for probe, path in expected.items():
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path, probe
        assert _port(container, http_get["port"]) == port, probe


def test_hpa_targets_the_deployment(objects, container) -> None:
    hpa = objects["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == objects["Deployment"]["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for metric in hpa["spec"]["metrics"]:
        if metric["type"] == "Resource" and metric["resource"]["target"]["type"] == "Utilization":
            name = metric["resource"]["name"]
            assert name in container["resources"]["requests"], f"utilization of {name} needs a request"


def test_image_is_the_gpu_serving_image(container) -> None:
    compose = load_yaml(COMPOSE_FILE)
    gpu_server = compose["services"]["posecast"]
    assert gpu_server["build"]["target"] == "runtime-gpu"
    assert container["image"] == gpu_server["image"]
    assert container["resources"]["limits"].get("nvidia.com/gpu", 0) >= 1


def test_pod_security_and_shutdown(objects, container) -> None:
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    dockerfile_users = [
        line.split()[1].split(":")[0] for line in DOCKERFILE.read_text().splitlines() if line.startswith("USER ")
    ]
    assert str(pod["securityContext"]["runAsUser"]) in dockerfile_users
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_s = int(pre_stop[-1]) if pre_stop[:1] == ["sleep"] else 0
    assert pod["terminationGracePeriodSeconds"] > GRACE_PERIOD_S + pre_stop_s
    rollout = objects["Deployment"]["spec"]["strategy"]["rollingUpdate"]
    assert rollout["maxUnavailable"] == 0, "rollouts must not drop below the desired ready replicas"
