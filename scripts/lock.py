"""Regenerate the lock files in requirements/ (`make lock`): one per install path, every transitive version pinned.

pyproject.toml keeps compatible ranges for people who install posecast as a library; the locks are what our own
installs use (make serve, make test, CI, every Dockerfile stage), so a release elsewhere changes nothing here until
someone runs `make lock` and commits the diff. pip-tools' `pip-compile` resolves them, with pip's own resolver and
configuration, for Linux x86_64 and CPython 3.11 (the CI machines and the images). Each file starts with a digest of
the pyproject inputs it was resolved from; tests/test_locks.py fails when pyproject.toml moves without a new lock.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_DIR = ROOT / "requirements"
DIGEST_PREFIX = "# inputs-sha256: "


@dataclass(frozen=True)
class Lock:
    """One install path: which extras of pyproject.toml it installs and how its versions are resolved."""

    name: str  # requirements/<name>.txt
    extras: tuple[str, ...]
    purpose: str  # one line, written at the top of the file
    pins: tuple[str, ...] = ()  # requirements beyond pyproject.toml, e.g. the CUDA major of onnxruntime-gpu
    constrained_by: str | None = None  # an earlier lock whose versions this one keeps for the packages they share
    # Resolve with this machine's pip configuration (its local CPU torch wheel, or TORCH_INDEX) instead of PyPI alone.
    local_torch: bool = False

    @property
    def path(self) -> Path:
        return LOCK_DIR / f"{self.name}.txt"


# In dependency order: each lock may be constrained by one listed before it.
LOCKS = (
    Lock(
        "dev",
        ("cpu", "train", "dev"),
        "make test, make models and CI: the CPU torch build (torch==X+cpu), onnxruntime, the test tools",
        local_torch=True,
    ),
    Lock("serve-cpu", ("cpu",), "make serve and the runtime-cpu image: no torch", constrained_by="dev"),
    Lock(
        "serve-gpu",
        ("gpu",),
        "make serve RUNTIME=gpu and the runtime-gpu image: onnxruntime-gpu for CUDA 12 (NVIDIA driver >= 525)",
        pins=("onnxruntime-gpu<1.27",),
        constrained_by="serve-cpu",
    ),
    Lock(
        "serve-gpu-cuda13",
        ("gpu",),
        "the runtime-gpu image with --build-arg GPU_LOCK=serve-gpu-cuda13: CUDA 13 (NVIDIA driver >= 580)",
        pins=("onnxruntime-gpu>=1.27",),
        constrained_by="serve-cpu",
    ),
    Lock(
        "train-gpu",
        ("gpu", "train"),
        "the train image: PyPI's CUDA build of torch with onnxruntime-gpu on the same CUDA major",
        constrained_by="serve-cpu",
    ),
)


def read_pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def direct_requirements(lock: Lock, pyproject: dict) -> list[str]:
    """Everything a lock must satisfy: the build backend, pip, the base dependencies, its extras and its pins."""
    project = pyproject["project"]
    extras = [requirement for extra in lock.extras for requirement in project["optional-dependencies"][extra]]
    return ["pip", *pyproject["build-system"]["requires"], *project["dependencies"], *extras, *lock.pins]


def inputs_digest(lock: Lock, pyproject: dict) -> str:
    """Changes exactly when what the lock was resolved from changes (Poetry's and uv's content-hash idea)."""
    inputs = {
        "requires-python": pyproject["project"]["requires-python"],
        "requirements": direct_requirements(lock, pyproject),
        "constrained_by": lock.constrained_by,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def stored_digest(lock: Lock) -> str | None:
    for line in lock.path.read_text(encoding="utf-8").splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


def _pip_environment(lock: Lock, torch_index: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if lock.local_torch:
        if torch_index:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(filter(None, (env.get("PIP_EXTRA_INDEX_URL"), torch_index)))
        return env
    # PyPI only: a local wheel cache must not leak a CPU build of torch into a lock meant for CUDA images.
    env["PIP_CONFIG_FILE"] = os.devnull
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_CONSTRAINT"):
        env.pop(name, None)
    return env


def compile_lock(lock: Lock, pyproject: dict, *, upgrade: bool, torch_index: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / f"{lock.name}.in"
        constraint = [f"-c {LOCK_DIR / lock.constrained_by}.txt"] if lock.constrained_by else []
        build = ["pip", *pyproject["build-system"]["requires"]]
        inputs.write_text("\n".join([*constraint, *build, *lock.pins]) + "\n", encoding="utf-8")
        output = Path(scratch) / f"{lock.name}.txt"
        if lock.path.exists() and not upgrade:
            output.write_text(lock.path.read_text(encoding="utf-8"), encoding="utf-8")  # pip-compile keeps its pins
        command = [
            sys.executable, "-m", "piptools", "compile", "--quiet", "--no-header", "--strip-extras", "--allow-unsafe",
            "--no-emit-index-url", "--no-emit-find-links", "--resolver=backtracking", "--annotation-style=line",
            *(f"--extra={extra}" for extra in lock.extras),
            *(["--upgrade"] if upgrade else []),
            f"--output-file={output}", "pyproject.toml", str(inputs),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, env=_pip_environment(lock, torch_index), check=True)
        body = output.read_text(encoding="utf-8").replace(str(inputs), "scripts/lock.py").replace(f"{ROOT}/", "")
    header = [
        f"# {lock.path.relative_to(ROOT)}: {lock.purpose}.",
        f"# Extras: {', '.join(lock.extras)}. Linux x86_64, CPython 3.11. Written by `make lock`; do not edit.",
        f"{DIGEST_PREFIX}{inputs_digest(lock, pyproject)}",
    ]
    lock.path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep existing pins where still allowed (no upgrade)")
    parser.add_argument("--torch-index", help="an extra index with the CPU torch wheel, for the dev lock")
    parser.add_argument("names", nargs="*", help="locks to write (default: all)")
    args = parser.parse_args()
    pyproject = read_pyproject()
    LOCK_DIR.mkdir(exist_ok=True)
    for lock in LOCKS:
        if not args.names or lock.name in args.names:
            print(f"locking {lock.path.relative_to(ROOT)} ({', '.join(lock.extras)})", flush=True)
            compile_lock(lock, pyproject, upgrade=not args.keep, torch_index=args.torch_index)


if __name__ == "__main__":
    main()
