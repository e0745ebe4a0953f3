"""docker-compose.yml: the Compose Specification schema, then the facts the deployment relies on.

The schema is compose-spec.json beside this file (see README.md here for where it comes from). Where the
`docker compose` plugin exists, its own `config` check runs too.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.deploy._files import COMPOSE_FILE, COMPOSE_SCHEMA, ROOT, TRITON_DIR, load_yaml, parse_dockerfile
from tests.deploy._files import DOCKERFILE as DOCKERFILE_PATH

SERVER_PORT = "8000"
REQUIRED_PROFILES = {"cpu", "train", "monitoring", "scale-out"}
MAX_BODY_BYTES = 32 << 20  # the server's default POSECAST_MAX_BODY_BYTES
GRACE_PERIOD_S = 30  # the server's default POSECAST_GRACE_PERIOD_S


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _errors(validator: Draft7Validator, document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _servers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The posecast server services: those built from a runtime-* target of our Dockerfile."""
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("build", {}).get("target", "")).startswith("runtime-")
    }


def _gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    reservations = service.get("deploy", {}).get("resources", {}).get("reservations", {})
    return [d for d in reservations.get("devices", []) if "gpu" in d.get("capabilities", [])]


def _bind_source(source: str, base: Path = ROOT) -> Path:
    return (base / source).resolve()


def _duration_s(value: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value))


def test_schema_is_the_compose_specification(validator: Draft7Validator) -> None:
    assert validator.schema["title"] == "Compose Specification"
    assert "deploy" in validator.schema["definitions"]["service"]["properties"]


def test_compose_file_validates(compose, validator: Draft7Validator) -> None:
    assert _errors(validator, compose) == []


def test_schema_rejects_mistakes(compose, validator: Draft7Validator) -> None:
    """Controls: the validator is strict enough to catch a typo and a wrong type."""
    typo = copy.deepcopy(compose)
    typo["services"]["posecast"]["healthchek"] = {"test": ["CMD", "true"]}
    assert _errors(validator, typo)
    wrong_type = copy.deepcopy(compose)
    wrong_type["services"]["posecast"]["deploy"]["resources"]["reservations"]["devices"] = {"driver": "nvidia"}
    assert _errors(validator, wrong_type)


def _compose_command() -> list[str] | None:
    """`docker compose` (the CLI plugin) or Compose v2's standalone `docker-compose`, whichever exists."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False, timeout=60)
        if probe.returncode == 0 and re.search(r"v?2\.\d+", probe.stdout):
            return command
    return None


COMPOSE_COMMAND = _compose_command()


@pytest.mark.skipif(COMPOSE_COMMAND is None, reason="neither docker compose nor Compose v2's docker-compose here")
@pytest.mark.parametrize("path", [COMPOSE_FILE, TRITON_DIR / "compose.yaml"], ids=["main", "triton"])
def test_docker_compose_config(path: Path) -> None:
    assert COMPOSE_COMMAND is not None
    result = subprocess.run(
        [*COMPOSE_COMMAND, "-f", str(path), "--profile", "*", "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_profiles(compose) -> None:
    profiles = {p for service in compose["services"].values() for p in service.get("profiles", [])}
    assert profiles >= REQUIRED_PROFILES
    by_profile = {p: {n for n, s in compose["services"].items() if p in s.get("profiles", [])} for p in profiles}
    assert {compose["services"][n]["build"]["target"] for n in by_profile["cpu"]} == {"runtime-cpu"}
    assert all(not _gpu_devices(compose["services"][n]) for n in by_profile["cpu"])
    assert {compose["services"][n].get("build", {}).get("target") for n in by_profile["train"]} == {"train"}
    assert any(compose["services"][n]["image"].startswith("prom/prometheus:") for n in by_profile["monitoring"])
    scale_out = {n: compose["services"][n] for n in by_profile["scale-out"]}
    assert any(s.get("deploy", {}).get("replicas", 1) >= 2 for n, s in scale_out.items() if n in _servers(compose))
    assert any(s["image"].split(":")[0] in {"nginx", "traefik"} for s in scale_out.values())


def test_build_targets_exist(compose) -> None:
    _, stages = parse_dockerfile(DOCKERFILE_PATH.read_text(encoding="utf-8"))
    names = {stage.name for stage in stages}
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["build"]["target"] in names, f"{name}: no Dockerfile stage {service['build']['target']}"


def test_images_are_pinned(compose) -> None:
    for name, service in compose["services"].items():
        tag = service["image"].rpartition("/")[2].partition(":")[2]
        assert tag not in {"", "latest"}, f"{name}: image {service['image']} is not pinned by tag"


def test_gpu_reservation(compose) -> None:
    for name in ("posecast", "train"):
        devices = _gpu_devices(compose["services"][name])
        assert devices, f"{name}: no GPU reservation"
        assert all(d["driver"] == "nvidia" for d in devices), f"{name}: the driver must be nvidia"
    for name, service in _servers(compose).items():
        if service["build"]["target"] == "runtime-gpu":
            assert _gpu_devices(service), f"{name} runs the GPU image without a GPU reservation"


def test_servers(compose) -> None:
    servers = _servers(compose)
    assert {"posecast", "posecast-cpu"} <= set(servers)
    for name, service in servers.items():
        env = service["environment"]
        assert all(key.startswith("POSECAST_") for key in env), f"{name}: configuration is POSECAST_* only"
        assert env["POSECAST_HOST"] == "0.0.0.0"
        assert str(env.get("POSECAST_PORT", SERVER_PORT)) == SERVER_PORT
        container_ports = [str(p).split(":")[-1] for p in service.get("ports", [])] + service.get("expose", [])
        assert set(container_ports) == {SERVER_PORT}, f"{name}: ports {container_ports}"
        models = [v for v in service["volumes"] if v["target"] == env["POSECAST_REPOSITORY"]]
        assert len(models) == 1, f"{name}: POSECAST_REPOSITORY is not a mounted volume"
        assert models[0]["read_only"] is True, f"{name}: the model repository must be mounted read-only"
        assert _bind_source(models[0]["source"]) == ROOT / "model_repository"
        assert "posecast-healthcheck" in service["healthcheck"]["test"] or any(
            "/v2/health/ready" in part for part in service["healthcheck"]["test"]
        )
        assert service["restart"] in {"always", "unless-stopped", "on-failure"}
        assert _duration_s(service["stop_grace_period"]) > GRACE_PERIOD_S
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), f"{name}: set CPU and memory limits"
    assert any(str(p).split(":")[0] == SERVER_PORT for p in servers["posecast"]["ports"]), "publish port 8000"
    assert servers["posecast"]["environment"].get("POSECAST_REQUIRE_GPU") == "true"


def test_train_writes_into_the_repository(compose) -> None:
    train = compose["services"]["train"]
    mounts = {v["target"]: v for v in train["volumes"]}
    repository = train["command"][train["command"].index("--export") + 1]
    assert repository in mounts
    assert not mounts[repository].get("read_only", False)
    assert _bind_source(mounts[repository]["source"]) == ROOT / "model_repository"


def _config_file(service: dict[str, Any], target: str) -> Path:
    mounts = [v for v in service["volumes"] if v["target"] == target]
    assert mounts, f"nothing is mounted at {target}"
    path = _bind_source(mounts[0]["source"])
    assert path.is_file(), f"{path} does not exist"
    return path


def _nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]


def test_load_balancer_config(compose) -> None:
    lb = compose["services"]["lb"]
    conf = _config_file(lb, "/etc/nginx/nginx.conf").read_text(encoding="utf-8")
    conf = re.sub(r"#[^\n]*", "", conf)
    upstreams = dict(re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", conf))
    assert upstreams, "no upstream block"
    passes = re.findall(r"proxy_pass\s+http://([^/;\s]+)", conf)
    assert passes, "no proxy_pass"
    assert set(passes) <= set(upstreams), f"proxy_pass {passes} names no upstream"
    servers = _servers(compose)
    for body in upstreams.values():
        for host, port in re.findall(r"^\s*server\s+([\w.-]+):(\d+)", body, flags=re.MULTILINE):
            assert host in servers, f"upstream server {host} is no posecast server"
            assert "scale-out" in servers[host]["profiles"], f"upstream server {host}"
            assert port == SERVER_PORT
    listen = re.findall(r"listen\s+(\d+)", conf)
    published = {str(p).split(":")[-1] for p in lb["ports"]}
    assert set(listen) == published, f"nginx listens on {listen}, compose publishes {published}"
    bodies = re.findall(r"client_max_body_size\s+(\w+);", conf)
    assert bodies, "set client_max_body_size (nginx's default is 1 MiB)"
    assert all(_nginx_bytes(b) >= MAX_BODY_BYTES for b in bodies)


def test_prometheus_config(compose) -> None:
    prometheus = next(s for s in compose["services"].values() if s["image"].startswith("prom/prometheus:"))
    config = load_yaml(_config_file(prometheus, "/etc/prometheus/prometheus.yml"))
    servers = _servers(compose)
    scraped: set[str] = set()
    for job in config["scrape_configs"]:
        hosts = [(name, str(sd["port"])) for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        hosts += [
            tuple(target.rsplit(":", 1)) for static in job.get("static_configs", []) for target in static["targets"]
        ]
        ours = [(host, port) for host, port in hosts if host in servers]
        if ours:
            assert job.get("metrics_path", "/metrics") == "/metrics"
            assert all(port == SERVER_PORT for _, port in ours)
            scraped |= {host for host, _ in ours}
    assert scraped == set(servers), f"Prometheus scrapes {scraped}, servers are {set(servers)}"
