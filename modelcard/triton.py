"""Triton Inference Server's `config.pbtxt` for a model card, so the same repository serves on Triton too."""

from __future__ import annotations

from pathlib import Path

from modelcard import ModelCard, TensorSpec

TRITON_TYPES = {
    "BOOL": "TYPE_BOOL",
    "UINT8": "TYPE_UINT8",
    "INT8": "TYPE_INT8",
    "INT16": "TYPE_INT16",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "FP16": "TYPE_FP16",
    "FP32": "TYPE_FP32",
    "FP64": "TYPE_FP64",
    "BYTES": "TYPE_STRING",
}


def _tensor_block(spec: TensorSpec, batched: bool) -> str:
    dims = ", ".join(str(d) for d in (spec.shape[1:] if batched else spec.shape))  # batched: Triton adds axis 0
    return f'  {{\n    name: "{spec.name}"\n    data_type: {TRITON_TYPES[spec.datatype]}\n    dims: [ {dims} ]\n  }}'


def triton_config(card: ModelCard, max_batch_size: int = 16, max_queue_delay_us: int = 2000) -> str:
    """The model configuration in protobuf text format, for the `onnxruntime_onnx` platform. A graph with a fixed
    batch of 1 (imported ones may have it) gets max_batch_size 0: Triton then passes shapes as they are."""
    batched = all(spec.shape[:1] == [-1] for spec in card.inputs)
    inputs = ",\n".join(_tensor_block(spec, batched) for spec in card.inputs)
    outputs = ",\n".join(_tensor_block(spec, batched) for spec in card.outputs)
    batching = f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_queue_delay_us}\n}}\n" if batched else ""
    return (
        f'name: "{card.name}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {max_batch_size if batched else 0}\n"
        f"input [\n{inputs}\n]\n"
        f"output [\n{outputs}\n]\n"
        f"{batching}"
        "version_policy: { latest { num_versions: 1 } }\n"
    )


def write_triton_config(card: ModelCard, path: Path) -> Path:
    path.write_text(triton_config(card), encoding="utf-8")
    return path
