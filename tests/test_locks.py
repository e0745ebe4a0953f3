"""The lock files in requirements/: in step with pyproject.toml, complete, and what this environment runs on."""

from __future__ import annotations

import copy
import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from scripts.lock import LOCKS, Lock, direct_requirements, inputs_digest, read_pyproject, stored_digest

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
LOCK_BY_NAME = {lock.name: lock for lock in LOCKS}
PROJECT = "posecast"


def pins(lock: Lock) -> dict[str, Version]:
    """name -> version of every package the lock installs; any other requirement line is an error."""
    found = {}
    for line in lock.path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        match = PIN.match(requirement)
        assert match, f"{lock.path.name}: not an exact pin: {line!r}"
        found[canonicalize_name(match[1])] = Version(match[2])
    return found


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def installed_closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the roots pull in, following the installed packages' own metadata."""
    seen: set[str] = set()
    todo = [(requirement, set(requirement.extras)) for requirement in roots]
    visited: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(extras)) in visited:
            continue
        visited.add((name, frozenset(extras)))
        seen.add(name)
        for line in metadata.requires(name) or []:
            dependency = Requirement(line)
            if _applies(dependency, extras):
                todo.append((dependency, set(dependency.extras)))
    return seen


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.name)
def test_lock_is_in_step_with_pyproject(lock: Lock) -> None:
    assert lock.path.exists(), f"{lock.path.name} is missing: run make lock"
    assert stored_digest(lock) == inputs_digest(lock, read_pyproject()), (
        f"pyproject.toml changed since {lock.path.name} was written: run `make lock` "
        "(KEEP=1 keeps today's pins where they still fit) and commit requirements/"
    )


def test_a_dependency_change_changes_the_digest() -> None:
    """The control for the check above: editing a range in pyproject.toml makes every lock that uses it stale."""
    pyproject = read_pyproject()
    edited = copy.deepcopy(pyproject)
    edited["project"]["dependencies"][0] += ",<999"
    for lock in LOCKS:
        assert inputs_digest(lock, edited) != inputs_digest(lock, pyproject), lock.name


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.name)
def test_every_direct_requirement_is_pinned_within_its_range(lock: Lock) -> None:
    locked = pins(lock)
    for line in direct_requirements(lock, read_pyproject()):
        requirement = Requirement(line)
        if not _applies(requirement, set(lock.extras)):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock.path.name} lacks {requirement}: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock.path.name} pins {name}=={locked[name]}, outside {requirement}: run make lock"
        )


def test_this_environment_runs_exactly_the_dev_lock() -> None:
    """make test installed the dev lock: every pinned version is the one installed, and nothing the project
    needs comes from outside the lock."""
    locked = pins(LOCK_BY_NAME["dev"])
    installed = {canonicalize_name(dist.metadata["Name"]): Version(dist.version) for dist in metadata.distributions()}
    moved = {name: (str(version), str(installed.get(name))) for name, version in locked.items()}
    moved = {name: pair for name, pair in moved.items() if pair[0] != pair[1]}
    assert not moved, f"installed versions differ from requirements/dev.txt (locked, installed): {moved}"
    needed = installed_closure([Requirement(f"{PROJECT}[cpu,train,dev]")]) - {PROJECT}
    assert needed <= set(locked), f"needed but not locked: {sorted(needed - set(locked))}"


def test_the_serving_lock_is_the_closure_of_the_cpu_extra() -> None:
    """serve-cpu holds exactly what `posecast[cpu]` needs, at the dev lock's versions (one venv serves both)."""
    serving, dev = pins(LOCK_BY_NAME["serve-cpu"]), pins(LOCK_BY_NAME["dev"])
    roots = [
        Requirement(f"{PROJECT}[cpu]"),
        *(Requirement(line) for line in read_pyproject()["build-system"]["requires"]),
    ]
    expected = (installed_closure(roots) | {"pip"}) - {PROJECT}
    assert set(serving) == expected
    assert {name: dev[name] for name in serving} == serving


@pytest.mark.parametrize("name", ["serve-gpu", "serve-gpu-cuda13", "train-gpu"])
def test_gpu_locks_share_the_serving_versions(name: str) -> None:
    """Operators comparing a CPU and a GPU deployment run the same web stack; only the runtime differs."""
    gpu, serving = pins(LOCK_BY_NAME[name]), pins(LOCK_BY_NAME["serve-cpu"])
    differing = {package: (str(serving[package]), str(gpu[package])) for package in set(gpu) & set(serving)}
    assert not {package: pair for package, pair in differing.items() if pair[0] != pair[1]}
    assert "onnxruntime" not in gpu, "onnxruntime and onnxruntime-gpu must never be installed side by side"


def test_the_dev_lock_takes_the_cpu_build_of_torch() -> None:
    """A CPU machine running make test must never pull the multi-GB CUDA build."""
    assert pins(LOCK_BY_NAME["dev"])["torch"].local == "cpu"
    assert pins(LOCK_BY_NAME["train-gpu"])["torch"].local is None
