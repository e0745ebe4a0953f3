"""The model card: the contract between the exporter that writes a model version and the server that loads it.

A version directory holds `model.onnx` and `model.json` (this schema). pydantic only, so both the training side
(torch) and the serving side (no torch) import it.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelcard.pose import NATIVE_SCALE, PoseInput, PoseOutput, PoseSpec

CARD_FILENAME = "model.json"
MODEL_FILENAME = "model.onnx"
SCHEMA_VERSION = 1

Task = Literal["pose", "forecast", "frames", "sequence_pose"]
Datatype = Literal["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]


class TensorSpec(BaseModel):
    """One graph input or output as the KServe V2 metadata endpoint describes it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    datatype: Datatype
    shape: list[int] = Field(description="Dimensions; -1 marks a dynamic axis (the batch axis is always dynamic).")
    description: str = ""
    allow_non_finite: bool = Field(
        False, description="NaN and infinity are meaningful values here; otherwise the server refuses them (4xx)."
    )


class Preprocessing(BaseModel):
    """What a client-side (or server-side) step must do before the graph's first input.

    Normalization by mean/std is baked into the exported graph, so the graph takes raw units: images as RGB in
    [0, 1], NCHW, and sequences in the units of the training data. `mean`/`std` are recorded for reference only.
    """

    model_config = ConfigDict(extra="forbid")

    input_size: tuple[int, int] | None = Field(None, description="(height, width) the image models expect.")
    resize: Literal["letterbox", "stretch"] | None = Field(
        None, description="letterbox keeps the aspect ratio and pads; stretch resizes each axis on its own."
    )
    pad_value: float = Field(0.0, description="Pixel value in [0, 1] used for letterbox padding.")
    mean: list[float] | None = Field(None, description="Per-channel or per-feature mean applied inside the graph.")
    std: list[float] | None = Field(None, description="Per-channel or per-feature std applied inside the graph.")


class SequenceLimits(BaseModel):
    """Lengths a sequence model accepts and produces; the graph's time axes are dynamic within these bounds."""

    model_config = ConfigDict(extra="forbid")

    min_input_length: int = Field(1, ge=1)
    max_input_length: int | None = Field(None, ge=1, description="None: no upper bound beyond memory.")
    max_horizon: int | None = Field(None, ge=1, description="Steps the graph emits; clients may ask for fewer.")
    feature_shape: list[int] = Field(
        default_factory=list,
        description="Shape of one time step as clients send it, e.g. [17, 2] for keypoints or [3, 64, 64] for frames.",
    )


class ForecastIntervals(BaseModel):
    """Split-conformal prediction intervals calibrated on the validation block (see `evaluation.intervals`)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["split_conformal"] = "split_conformal"
    scale: Literal["window_std"] = Field(
        "window_std", description="Half-widths are in units of each input window's standard deviation over time."
    )
    calibration_windows: int = Field(ge=1, description="Validation windows the quantiles come from.")
    half_widths: dict[str, list[list[float]]] = Field(
        description="Level (e.g. '0.8') -> (horizon, features): forecast ± half-width × window std."
    )


class ModelCard(BaseModel):
    """Everything a server, an operator or a reader needs to know about one exported model version."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    name: str
    version: int = Field(ge=1)
    task: Task
    architecture: str = Field(description="Name in the models registry the graph was exported from, or 'imported'.")
    origin: Literal["trained", "imported"] = Field(
        "trained", description="trained: exported by `training`; imported: a graph from elsewhere (`posecast import`)."
    )
    description: str = ""
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    sequence: SequenceLimits | None = None
    intervals: ForecastIntervals | None = None
    max_request_batch_size: int | None = Field(
        None, ge=1, description="Most samples one request may send; the server's default when unset."
    )
    keypoint_names: list[str] | None = None
    skeleton: list[tuple[int, int]] | None = None
    pose: PoseSpec | None = Field(
        None, description="Pose decoding of a graph not trained here (`posecast import`); None: the native one."
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Held-out test metrics, baselines beside.")
    parity_max_abs_error: float | None = Field(None, description="max |torch - onnxruntime| measured at export.")
    sha256: str = Field(description="sha256 of model.onnx, checked at load.")
    training: dict[str, Any] = Field(default_factory=dict, description="Config, seed, data, epochs, best loss.")
    environment: dict[str, str] = Field(default_factory=dict, description="Library versions and git commit.")
    created: str = ""

    @cached_property
    def pose_spec(self) -> PoseSpec:
        """The card's pose decoding, else that of the models trained here: RGB, NCHW, letterboxed to
        `preprocessing.input_size` (uint8 pixels, or floats in [0, 1] for graphs exported before uint8 inputs),
        answering normalised (x, y) `keypoints` and a `confidence` per keypoint.
        Cached: every pose request reads it, and a served card does not change."""
        if self.pose is not None:
            return self.pose
        uint8 = bool(self.inputs) and self.inputs[0].datatype == "UINT8"
        native_input = PoseInput(
            dtype="uint8" if uint8 else "float32",
            scale=1.0 if uint8 else NATIVE_SCALE,
            size=self.preprocessing.input_size,
            resize=self.preprocessing.resize or "letterbox",
            pad_value=self.preprocessing.pad_value,
        )
        return PoseSpec(input=native_input, output=PoseOutput(names=["keypoints", "confidence"]))

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large models do not sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
