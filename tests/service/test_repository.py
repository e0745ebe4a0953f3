"""The repository in-process with real ONNX files: validation at load, version choice, reload and unload."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.errors import InvalidInput, ModelNotFound, ModelNotReady
from service.metrics import Metrics
from service.repository import READY, UNAVAILABLE, ModelRepository
from service.settings import Settings
from tests.service.conftest import SCALE_IO, add_version


def make_repository(root: Path) -> ModelRepository:
    settings = Settings(repository=root, providers=["CPUExecutionProvider"], intra_op_threads=1)
    return ModelRepository(settings, Metrics())


def test_broken_models_are_not_ready_with_a_reason_and_the_others_serve(repository: Path) -> None:
    async def main() -> None:
        repo = make_repository(repository)
        assert repo.not_ready_reason() == "loading models"
        await repo.load_all()
        states = {(e["name"], e.get("version")): (e["state"], e["reason"]) for e in repo.index()}
        assert states[("pose", "1")] == (READY, "")
        assert states[("scale", "2")] == (READY, "")
        assert states[("garbage", "1")][0] == UNAVAILABLE
        assert "INVALID_PROTOBUF" in states[("garbage", "1")][1]
        assert "sha256 of model.onnx" in states[("tampered", "1")][1]
        assert "inputs are ['x'] in the graph but ['image'] in the card" in states[("mismatch", "1")][1]
        assert repo.not_ready_reason() is None
        assert repo.get("scale").version == "2"  # latest by default
        assert repo.get("scale", "1").version == "1"
        assert repo.metadata("garbage", None)["state"] == UNAVAILABLE
        with pytest.raises(ModelNotReady, match="sha256"):
            repo.get("tampered")
        with pytest.raises(ModelNotFound):
            repo.get("scale", "3")
        with pytest.raises(ModelNotFound):
            repo.get("nope")
        await repo.close()

    asyncio.run(main())


def test_served_model_validates_inputs_against_the_card(repository: Path) -> None:
    async def main() -> None:
        repo = make_repository(repository)
        await repo.load("sequence")
        model = repo.get("sequence")
        good = np.zeros((2, 3, 4), np.float32)
        assert (await model.infer({"sequence": good}))["forecast"].shape == (2, 5, 4)
        for bad, message in [
            ({"sequence": good.astype(np.float64)}, "must be FP32, got FP64"),
            ({"sequence": good[..., :3]}, "must have shape"),
            ({"sequence": np.zeros((1, 1, 4), np.float32)}, "1 time steps"),
            ({"other": good}, "takes inputs"),
            ({"sequence": np.zeros((0, 3, 4), np.float32)}, "at least 1"),
        ]:
            with pytest.raises(InvalidInput, match=message):
                await model.infer(bad)
        with pytest.raises(InvalidInput, match="no output"):
            await model.infer({"sequence": good}, ["nope"])
        await repo.close()

    asyncio.run(main())


def test_reload_swaps_versions_and_a_failed_reload_keeps_the_old_copy(
    tmp_path: Path, onnx_files: dict[str, Path]
) -> None:
    async def main() -> None:
        add_version(tmp_path, "scale", 1, onnx_files["scale1"], SCALE_IO)
        repo = make_repository(tmp_path)
        await repo.load_all()
        first = repo.get("scale")
        x = {"x": np.ones((1, 4), np.float32)}
        add_version(tmp_path, "scale", 2, onnx_files["scale2"], SCALE_IO)
        await repo.load("scale")
        assert repo.get("scale").version == "2"
        assert repo.get("scale", "1") is not first  # reloaded, and the old copy was retired
        assert (await repo.get("scale").infer(x))["y"].tolist() == [[2.0] * 4]

        shutil.copyfile(onnx_files["scale1"], tmp_path / "scale" / "2" / "model.onnx")  # sha256 now wrong
        kept = repo.get("scale", "2")
        await repo.load("scale")
        assert repo.get("scale", "2") is kept
        assert "reload failed, serving the previous copy" in repo.record("scale", "2").reason

        await repo.unload("scale")
        assert repo.index() == [{"name": "scale", "state": UNAVAILABLE, "reason": "unloaded"}]
        with pytest.raises(ModelNotReady, match="not loaded"):
            repo.get("scale")
        await repo.close()

    asyncio.run(main())


def test_leased_version_keeps_serving_through_a_reload(repository: Path) -> None:
    async def main() -> None:
        repo = make_repository(repository)
        await repo.load("pose")
        image = {"image": np.zeros((1, 3, 32, 32), np.float32)}
        before = repo.get("pose")
        async with repo.use("pose") as old:
            reload = asyncio.ensure_future(repo.load("pose"))
            while repo.get("pose") is before:  # wait for the swap; retiring `old` waits for our lease
                await asyncio.sleep(0.01)
            assert not reload.done()
            assert (await old.infer(image))["keypoints"].shape == (1, 17, 2)
        await reload
        with pytest.raises(ModelNotReady, match="unloading"):
            await old.infer(image)
        await repo.close()

    asyncio.run(main())


def test_requests_for_unknown_models_reuse_a_recent_directory_scan(
    tmp_path: Path, onnx_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repository(tmp_path)
    scans = 0
    scan = repo.names_on_disk

    def counting_scan() -> list[str]:
        nonlocal scans
        scans += 1
        return scan()

    monkeypatch.setattr(repo, "names_on_disk", counting_scan)
    for _ in range(50):
        with pytest.raises(ModelNotFound):
            repo.record("scale", None)
    assert scans == 1
    add_version(tmp_path, "scale", 1, onnx_files["scale1"], SCALE_IO)
    monkeypatch.setattr("service.repository.DISK_SCAN_TTL_S", -1.0)  # every scan is now too old
    with pytest.raises(ModelNotReady, match="not loaded"):
        repo.record("scale", None)
    assert scans == 2
