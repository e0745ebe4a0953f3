"""Execution providers: what the runtime asks onnxruntime for, and what it reports when CUDA silently falls back."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from service.runtime import OnnxSession, check_gpu_available, resolve_providers
from service.settings import Settings

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def test_auto_asks_for_cuda_with_its_options_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    settings = Settings(device_id=1, gpu_mem_limit_mb=512)
    (cuda, cuda_options), cpu = resolve_providers(settings)
    assert (cuda, cpu) == (CUDA, CPU)
    assert cuda_options["device_id"] == 1
    assert cuda_options["gpu_mem_limit"] == 512 * 1024 * 1024


def test_auto_on_a_cpu_build_is_cpu_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        assert resolve_providers(Settings()) == [CPU]
    assert not caplog.records


def test_an_explicit_provider_the_build_lacks_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        assert resolve_providers(Settings(providers=[CUDA, CPU])) == [CPU]
    assert CUDA in caplog.text


def test_silent_cuda_fallback_is_logged_and_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, onnx_files: dict[str, Path]
) -> None:
    """The runtime believes CUDA is there; onnxruntime (a CPU build) drops it without raising, as it does when
    the CUDA or cuDNN libraries fail to load. The session must say so and report the provider really in use."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    with (
        caplog.at_level(logging.WARNING, logger="service.runtime"),
        pytest.warns(UserWarning, match=f"Specified provider '{CUDA}'"),  # onnxruntime's own, easy to miss
    ):
        session = OnnxSession(onnx_files["scale1"], Settings(intra_op_threads=1))
    assert session.provider == CPU
    assert not session.on_gpu
    assert f"asked for {CUDA} but onnxruntime runs on {CPU}" in caplog.text


def test_require_gpu_refuses_a_cpu_only_runtime() -> None:
    with pytest.raises(RuntimeError, match="POSECAST_REQUIRE_GPU is set but no GPU execution provider"):
        check_gpu_available(Settings(require_gpu=True))
    check_gpu_available(Settings())  # without the requirement a CPU runtime is fine
