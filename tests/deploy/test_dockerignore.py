""".dockerignore: keeps the context small, never drops what the Dockerfile copies or the model repository."""

from __future__ import annotations

import pytest

from tests.deploy._files import DOCKERFILE, DOCKERIGNORE, dockerignore_rules, is_ignored, parse_instructions


@pytest.fixture(scope="module")
def rules():
    return dockerignore_rules(DOCKERIGNORE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "service/__pycache__/app.cpython-311.pyc",
        "tests/service/__pycache__/conftest.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/service/app.meta.json",
        ".ruff_cache/0.6.0/123",
        "runs/2024-01-01/events.log",
        "checkpoints/best.pt",
        "training/outputs/last.pt",
        "posecast.egg-info/PKG-INFO",
    ],
)
def test_excluded(rules, path: str) -> None:
    assert is_ignored(path, rules), f"{path} would be sent to the builder"


@pytest.mark.parametrize(
    "path",
    [
        "model_repository/pose/1/model.onnx",
        "model_repository/pose/1/model.json",
        "model_repository/pose/1/config.pbtxt",
        "model_repository/pose/config.pbtxt",
        "pyproject.toml",
        "README.md",
        "service/__init__.py",
        "service/static/index.html",
    ],
)
def test_kept(rules, path: str) -> None:
    assert not is_ignored(path, rules), f"{path} would be missing from the build context"


def test_every_copied_path_is_in_the_context(rules) -> None:
    """A COPY whose source .dockerignore drops fails the build; check every one the Dockerfile has."""
    for instruction in parse_instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        words = [w for w in instruction.args.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert not is_ignored(source.rstrip("/"), rules), f"line {instruction.line}: {source} is ignored"


def test_matcher_semantics() -> None:
    """The matcher follows Docker: last match wins, `!` re-includes, a matched directory drops its content."""
    rules = dockerignore_rules("deploy\n!deploy/docker\n**/*.pt\n")
    assert is_ignored("deploy/nginx/nginx.conf", rules)
    assert not is_ignored("deploy/docker/healthcheck.py", rules)
    assert is_ignored("a/b/c.pt", rules)
    assert is_ignored("c.pt", rules)
    assert not is_ignored("c.pth", rules)
