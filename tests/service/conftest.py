"""Fixtures: tiny ONNX models exported once per session, model repositories, and real uvicorn servers.

torch is imported here only, to build the fixture files; the server processes never import it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.server import ServerProcess
from modelcard import ModelCard, SequenceLimits, TensorSpec, file_sha256

API_KEY = "test-key"
ADMIN_TOKEN = "admin-secret"


def _export(module: Any, example: Any, path: Path, names: tuple[list[str], list[str]], dynamic: Any) -> Path:
    import torch

    with warnings.catch_warnings():
        # torch's own deepcopy of LeafSpec warns from `copyreg`, which the torch.* filters do not cover.
        warnings.filterwarnings("ignore", r".*isinstance\(treespec, LeafSpec\)", FutureWarning)
        _run_export(torch, module, example, path, names, dynamic)
    return path


def _run_export(torch: Any, module: Any, example: Any, path: Path, names: Any, dynamic: Any) -> None:
    torch.onnx.export(
        module.eval(),
        (example,),
        str(path),
        input_names=names[0],
        output_names=names[1],
        dynamic_shapes=dynamic,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """pose: (B,3,32,32) -> keypoints (B,17,2), confidence (B,17); sequence: (B,T,4) -> (B,5,4); scale1/2."""
    import torch

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("onnx")

    class Pose(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=4)
            self.head = torch.nn.Linear(4 * 8 * 8, 17 * 3)

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.head(torch.relu(self.conv(image)).flatten(1)).view(-1, 17, 3)  # (B, 17, 3)
            return h[..., :2], torch.sigmoid(h[..., 2])

    class Forecast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(4, 5 * 4)

        def forward(self, sequence: torch.Tensor) -> torch.Tensor:
            return self.head(sequence.mean(dim=1)).view(-1, 5, 4) + sequence[:, -1:, :]  # (B, 5, 4)

    class Scale(torch.nn.Module):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.factor

    batch, time_ = torch.export.Dim("batch"), torch.export.Dim("time")
    return {
        "pose": _export(
            Pose(),
            torch.rand(2, 3, 32, 32),
            out / "pose.onnx",
            (["image"], ["keypoints", "confidence"]),
            {"image": {0: batch}},
        ),
        "sequence": _export(
            Forecast(),
            torch.rand(2, 6, 4),
            out / "sequence.onnx",
            (["sequence"], ["forecast"]),
            {"sequence": {0: batch, 1: time_}},
        ),
        "scale1": _export(Scale(1.0), torch.rand(2, 4), out / "s1.onnx", (["x"], ["y"]), {"x": {0: batch}}),
        "scale2": _export(Scale(2.0), torch.rand(2, 4), out / "s2.onnx", (["x"], ["y"]), {"x": {0: batch}}),
    }


def spec(name: str, shape: list[int]) -> TensorSpec:
    return TensorSpec(name=name, datatype="FP32", shape=shape)


POSE_IO = ([spec("image", [-1, 3, 32, 32])], [spec("keypoints", [-1, 17, 2]), spec("confidence", [-1, 17])])
SEQUENCE_IO = ([spec("sequence", [-1, -1, 4])], [spec("forecast", [-1, 5, 4])])
SCALE_IO = ([spec("x", [-1, 4])], [spec("y", [-1, 4])])


def add_version(
    root: Path,
    name: str,
    version: int,
    onnx: Path | bytes,
    io: tuple[list[TensorSpec], list[TensorSpec]],
    *,
    task: str = "pose",
    sha256: str | None = None,
    sequence: SequenceLimits | None = None,
    **card_fields: Any,
) -> Path:
    """Write `<root>/<name>/<version>/` with model.onnx and a card (sha256 computed unless given)."""
    folder = root / name / str(version)
    folder.mkdir(parents=True)
    model = folder / "model.onnx"
    if isinstance(onnx, bytes):
        model.write_bytes(onnx)
    else:
        shutil.copyfile(onnx, model)
    card = ModelCard(
        name=name,
        version=version,
        task=task,  # type: ignore[arg-type]
        architecture=f"test-{name}",
        inputs=io[0],
        outputs=io[1],
        sequence=sequence,
        sha256=sha256 or file_sha256(model),
        **card_fields,
    )
    card.write(folder / "model.json")
    return folder


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory, onnx_files: dict[str, Path]) -> Path:
    """Three good models (one with two versions) and three broken ones."""
    root = tmp_path_factory.mktemp("repository")
    add_version(root, "pose", 1, onnx_files["pose"], POSE_IO)
    limits = SequenceLimits(min_input_length=2, max_input_length=64, max_horizon=5, feature_shape=[4])
    add_version(root, "sequence", 1, onnx_files["sequence"], SEQUENCE_IO, task="forecast", sequence=limits)
    add_version(root, "scale", 1, onnx_files["scale1"], SCALE_IO, task="forecast")
    add_version(root, "scale", 2, onnx_files["scale2"], SCALE_IO, task="forecast")
    add_version(root, "garbage", 1, b"this is not an onnx file", SCALE_IO)
    add_version(root, "tampered", 1, onnx_files["scale1"], SCALE_IO, sha256="0" * 64)
    wrong_io = ([spec("image", [-1, 4])], SCALE_IO[1])
    add_version(root, "mismatch", 1, onnx_files["scale1"], wrong_io)
    return root


class Server(ServerProcess):
    """The benchmarks' server process, plus httpx clients for the tests."""

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20, headers=headers)

    def async_client(self, **headers: str) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        return httpx.AsyncClient(base_url=self.url, timeout=20, headers=headers, limits=limits)


# CPU only and one thread per session, so test servers behave the same on any machine and share its cores.
SERVER_SETTINGS = {
    "providers": "CPUExecutionProvider",
    "intra_op_threads": "1",
    "inter_op_threads": "1",
    "admin_token": ADMIN_TOKEN,
}


def start_server(repository: Path, log: Path, **settings: str) -> Server:
    """Start without waiting for readiness; pass settings as lower-case names (`max_batch_size="8"`)."""
    return Server.start(repository, log, SERVER_SETTINGS | settings)


@contextlib.contextmanager
def ready_server(repository: Path, log: Path, **settings: str) -> Iterator[Server]:
    """A started server, once ready; stopped afterwards (for fixtures that share one)."""
    running = start_server(repository, log, **settings)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Any]:
    """Factory for servers that a test owns (and may kill); all are stopped afterwards."""
    servers: list[Server] = []

    def run(repository: Path, ready: bool = True, **settings: str) -> Server:
        server = start_server(repository, tmp_path / f"server{len(servers)}.log", **settings)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield run
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server: API keys on, a 20 ms batching window, batches of at most 8."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    settings = {"api_keys": f"other-key,{API_KEY}", "max_batch_size": "8", "max_queue_delay_ms": "20"}
    with ready_server(repository, log, **settings) as running:
        yield running


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`create_app` installs a root log handler; take it away again so later tests keep pytest's capture."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small real ONNX model per task (see tests/service/taskmodels.py)."""
    from tests.service.taskmodels import export_models

    return export_models(tmp_path_factory.mktemp("task-onnx"))


@pytest.fixture(scope="session")
def task_repository(tmp_path_factory: pytest.TempPathFactory, task_files: dict[str, Path]) -> Path:
    from tests.service.taskmodels import write_repository

    return write_repository(tmp_path_factory.mktemp("task-repository"), task_files)


TASK_SETTINGS = {
    "max_image_pixels": "250000",
    "max_images_per_request": "4",
    "eval_sync_max_samples": "4",
    "max_eval_samples": "40",
    "max_jobs": "1",
    "max_batch_size": "8",
    "max_queue_delay_ms": "5",
}


@pytest.fixture(scope="session")
def task_server(task_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the task models, without API keys, with small /v1 limits (TASK_SETTINGS)."""
    with ready_server(task_repository, tmp_path_factory.mktemp("logs") / "tasks.log", **TASK_SETTINGS) as running:
        yield running
