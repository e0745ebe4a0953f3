"""The onnxruntime session wrapper: providers, graph validation against the card, warm-up, run.

Knows nothing of HTTP or batching, and every method blocks: callers run them in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from modelcard import ModelCard, TensorSpec
from service import tensors
from service.errors import InferenceError, InvalidInput
from service.settings import MIB, Settings

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
GPU_PROVIDERS = frozenset({CUDA, "TensorrtExecutionProvider", "ROCMExecutionProvider"})
_ORT_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}

ProviderSpec = str | tuple[str, dict[str, Any]]


def resolve_providers(settings: Settings) -> list[ProviderSpec]:
    """Requested providers this onnxruntime build has, with CUDA options; CPU always last as the fallback."""
    available = ort.get_available_providers()
    auto = settings.providers == ["auto"]
    requested = [CUDA, CPU] if auto else [*settings.providers, CPU]
    chosen: list[ProviderSpec] = []
    for name in dict.fromkeys(requested):
        if name not in available:
            if not auto:
                logger.warning("execution provider %s is not in this onnxruntime build (%s)", name, available)
            continue
        chosen.append((name, _cuda_options(settings)) if name == CUDA else name)
    return chosen


def check_gpu_available(settings: Settings) -> None:
    """With POSECAST_REQUIRE_GPU, refuse to start before loading anything when no GPU provider can be used."""
    names = {spec if isinstance(spec, str) else spec[0] for spec in resolve_providers(settings)}
    if settings.require_gpu and not names & GPU_PROVIDERS:
        raise RuntimeError(
            f"POSECAST_REQUIRE_GPU is set but no GPU execution provider is usable: onnxruntime offers "
            f"{ort.get_available_providers()}, POSECAST_PROVIDERS={','.join(settings.providers)}. "
            "Install onnxruntime-gpu (the `gpu` extra) with CUDA 12 and cuDNN 9, "
            "or unset POSECAST_REQUIRE_GPU."
        )


def _cuda_options(settings: Settings) -> dict[str, Any]:
    # kSameAsRequested keeps the arena near the largest batch actually seen instead of doubling past it.
    options: dict[str, Any] = {"device_id": settings.device_id, "arena_extend_strategy": "kSameAsRequested"}
    if settings.gpu_mem_limit_mb is not None:
        options["gpu_mem_limit"] = settings.gpu_mem_limit_mb * MIB
    return options


def graph_spec(arg: Any) -> TensorSpec:
    """A graph input/output as a card TensorSpec: symbolic or unknown dims become -1."""
    datatype = _ORT_TYPES.get(arg.type)
    if datatype is None:
        raise ValueError(f"graph tensor '{arg.name}' has unsupported type {arg.type}")
    return TensorSpec(
        name=arg.name, datatype=datatype, shape=[dim if isinstance(dim, int) else -1 for dim in arg.shape]
    )


class OnnxSession:
    """One onnxruntime InferenceSession for one model version."""

    def __init__(self, path: Path, settings: Settings) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        options.inter_op_num_threads = settings.inter_op_threads
        providers = resolve_providers(settings)
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.providers: list[str] = self._session.get_providers()
        self.provider = self.providers[0]
        wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
        if self.provider != wanted:
            # onnxruntime drops a provider it cannot initialise (e.g. missing CUDA/cuDNN) without raising.
            logger.warning(
                "%s: asked for %s but onnxruntime runs on %s; check the CUDA and cuDNN libraries",
                path,
                wanted,
                self.provider,
            )
        self.inputs = [graph_spec(arg) for arg in self._session.get_inputs()]
        self.outputs = [graph_spec(arg) for arg in self._session.get_outputs()]
        self.single_sample = any(spec.shape[:1] == [1] for spec in self.inputs)

    @property
    def on_gpu(self) -> bool:
        return self.provider in GPU_PROVIDERS

    def validate(self, card: ModelCard) -> None:
        """The card must describe the graph's real inputs and outputs; ValueError lists every mismatch."""
        problems = _compare("input", card.inputs, self.inputs) + _compare("output", card.outputs, self.outputs)
        if problems:
            raise ValueError("card does not match the graph: " + "; ".join(problems))

    def warm_up(self, card: ModelCard) -> None:
        """One batch-1 run at the smallest legal shape: the first request must not pay for initialisation."""
        length = card.sequence.min_input_length if card.sequence else 1
        feeds = {
            spec.name: tensors.zeros(spec.datatype, [1, *(length if dim == -1 else dim for dim in spec.shape[1:])])
            for spec in card.inputs
        }
        results = self.run(feeds)
        for spec in card.outputs:
            shape = results[spec.name].shape
            if len(shape) != len(spec.shape) or any(d not in (-1, s) for d, s in zip(spec.shape, shape, strict=True)):
                raise ValueError(f"warm-up output '{spec.name}' has shape {list(shape)}, card says {spec.shape}")

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """All outputs, by name; onnxruntime's argument errors are the client's fault, others are ours.

        A graph exported with a batch of 1 runs once per sample and its outputs are stacked, so it serves batched
        requests (and the batcher) like any other."""
        batch = next(iter(feeds.values())).shape[0] if feeds else 0
        if self.single_sample and batch > 1:
            runs = [self._run({name: array[i : i + 1] for name, array in feeds.items()}) for i in range(batch)]
            return {name: np.concatenate([outputs[name] for outputs in runs]) for name in runs[0]}
        return self._run(feeds)

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [spec.name for spec in self.outputs]
        try:
            values = self._session.run(names, dict(feeds))
        except InvalidArgument as exc:
            raise InvalidInput(f"onnxruntime rejected the inputs: {exc}") from None
        except Exception as exc:
            raise InferenceError(f"inference failed: {exc}") from exc
        return dict(zip(names, values, strict=True))


def _compare(kind: str, declared: list[TensorSpec], actual: list[TensorSpec]) -> list[str]:
    problems: list[str] = []
    graph = {spec.name: spec for spec in actual}
    if {spec.name for spec in declared} != set(graph):
        return [f"{kind}s are {sorted(graph)} in the graph but {sorted(s.name for s in declared)} in the card"]
    for spec in declared:
        real = graph[spec.name]
        if spec.datatype != real.datatype:
            problems.append(f"{kind} '{spec.name}' is {real.datatype} in the graph, {spec.datatype} in the card")
        elif len(spec.shape) != len(real.shape):
            problems.append(f"{kind} '{spec.name}' has shape {real.shape} in the graph, {spec.shape} in the card")
        elif spec.shape[0] != real.shape[0] or spec.shape[0] not in (-1, 1):
            problems.append(f"{kind} '{spec.name}': axis 0 is the batch axis and must be dynamic (-1) or 1 in both")
        elif any(real_dim not in (-1, dim) for dim, real_dim in zip(spec.shape, real.shape, strict=True)):
            # The card may pin a dynamic graph axis, never loosen or change a fixed one.
            problems.append(f"{kind} '{spec.name}' has shape {real.shape} in the graph, {spec.shape} in the card")
    return problems
