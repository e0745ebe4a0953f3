"""`posecast import`: a pose graph trained elsewhere becomes a model version this server (and Triton) can serve.

The spec file says how the graph wants its image and how to read its outputs (`modelcard.pose`). The import runs
the graph once on a blank input, decodes what it answers as the spec says, and only then writes
`<repository>/<name>/<version>/{model.onnx, model.json}` and `<repository>/<name>/config.pbtxt`; finally it opens
the version exactly as the server will. No torch: it runs from the serving install.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, mirrored_pairs
from modelcard import CARD_FILENAME, MODEL_FILENAME, ModelCard, Preprocessing, TensorSpec, file_sha256
from modelcard.pose import PoseInput, PoseOutput, PoseSpec
from modelcard.triton import write_triton_config
from service import tensors
from service.repository import is_version, open_version
from service.runtime import CPU, graph_spec
from service.settings import Settings
from service.tasks.pose_outputs import DecodingError, decode, output_names

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DATATYPE_OF = {"float32": "FP32", "uint8": "UINT8"}


class ModelImportError(Exception):
    """The graph, the spec or the target cannot make a servable version; the message says which and why."""


class SpecOutput(PoseOutput):
    keypoints: Literal["coco17"] | list[str] = "coco17"
    skeleton: list[tuple[int, int]] | None = Field(None, description="0-based pairs; coco17 brings COCO's.")


class ImportSpec(BaseModel):
    """The spec file (TOML)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["pose"]
    description: str = ""
    input: PoseInput = Field(default_factory=PoseInput)
    output: SpecOutput = Field(default_factory=SpecOutput)
    box_padding: float = Field(PoseSpec.model_fields["box_padding"].default, ge=1)
    flip: bool = False

    def names(self) -> list[str]:
        return list(COCO_KEYPOINT_NAMES) if self.output.keypoints == "coco17" else list(self.output.keypoints)

    def edges(self) -> list[tuple[int, int]]:
        if self.output.skeleton is not None:
            return self.output.skeleton
        return list(COCO_SKELETON) if self.output.keypoints == "coco17" else []


def read_spec(path: Path) -> ImportSpec:
    try:
        return ImportSpec.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise ModelImportError(f"{path} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise ModelImportError(f"{path}: {problems}") from None


def import_model(model: Path, repository: Path, name: str, spec_path: Path, version: int | None = None) -> ModelCard:
    """Check, write and load one version; returns its card. Nothing is left behind when a check fails."""
    if NAME.fullmatch(name) is None:
        raise ModelImportError(
            f"model name {name!r}: letters, digits, '_', '.', '-', at most 64, not starting with a symbol"
        )
    spec = read_spec(spec_path)
    session = _open(model)
    image, size = _check_input(graph_spec(session.get_inputs()[0]), len(session.get_inputs()), spec.input)
    outputs = [graph_spec(arg) for arg in session.get_outputs()]
    names = _check_outputs(session, image, size, outputs, spec)
    version = _next_version(repository / name) if version is None else version
    target = repository / name / str(version)
    if not is_version(str(version)) or version < 1:
        raise ModelImportError(f"version must be a positive integer, got {version}")
    if target.exists():
        raise ModelImportError(f"{target} exists; pass another --version (versions are never overwritten)")
    pose = PoseSpec(
        input=spec.input.model_copy(update={"size": size}),
        output=PoseOutput(**spec.output.model_dump(exclude={"keypoints", "skeleton", "names"}), names=names),
        box_padding=spec.box_padding,
        flip=spec.flip,
    )
    new_model = not target.parent.exists()
    target.mkdir(parents=True)
    try:
        shutil.copyfile(model, target / MODEL_FILENAME)
        card = ModelCard(
            name=name,
            version=version,
            task="pose",
            architecture="imported",
            origin="imported",
            description=spec.description,
            inputs=[image],
            outputs=outputs,
            preprocessing=Preprocessing(
                input_size=size,
                resize=spec.input.resize,
                pad_value=spec.input.pad_value,
                mean=list(spec.input.mean),
                std=list(spec.input.std),
            ),
            pose=pose,
            keypoint_names=spec.names(),
            skeleton=spec.edges(),
            sha256=file_sha256(target / MODEL_FILENAME),
            training={"imported_from": model.name},
            environment={"onnxruntime": ort.__version__},
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        card.write(target / CARD_FILENAME)
        open_version(target, name, version, Settings(providers=[CPU], require_gpu=False))
    except Exception as exc:  # whatever failed, nothing of the version stays behind
        shutil.rmtree(target.parent if new_model else target, ignore_errors=True)
        raise ModelImportError(f"the written version does not load: {exc}") from None
    write_triton_config(card, repository / name / "config.pbtxt")
    return card


def _open(model: Path) -> ort.InferenceSession:
    if not model.is_file():
        raise ModelImportError(f"{model} is not a file")
    try:
        return ort.InferenceSession(str(model), providers=[CPU])
    except Exception as exc:
        raise ModelImportError(f"{model} is not an ONNX graph onnxruntime can load: {exc}") from None


def _check_input(graph: TensorSpec, count: int, spec: PoseInput) -> tuple[TensorSpec, tuple[int, int]]:
    """The one image input: rank 4, three channels where the layout puts them, the dtype and size of the spec.
    Returns it with its size pinned (as the card declares it) and the (H, W) size."""
    if count != 1:
        raise ModelImportError(f"a pose graph takes one image input; this one has {count}")
    if len(graph.shape) != 4:
        raise ModelImportError(f"input '{graph.name}' has shape {graph.shape}; a pose graph takes (N, C, H, W) or NHWC")
    if graph.datatype != DATATYPE_OF[spec.dtype]:
        raise ModelImportError(f"input '{graph.name}' is {graph.datatype}; the spec's input.dtype says {spec.dtype}")
    batch, *rest = graph.shape
    height, width, channels = rest if spec.layout == "NHWC" else (rest[1], rest[2], rest[0])
    if batch not in (-1, 1):
        raise ModelImportError(f"input '{graph.name}' has a fixed batch of {batch}; only a dynamic one or 1 can serve")
    if channels not in (-1, 3):
        raise ModelImportError(
            f"input '{graph.name}' has shape {graph.shape}: with layout {spec.layout} that is {channels} channels, "
            "not 3 (is the layout right?)"
        )
    fixed = (height, width) if height > 0 and width > 0 else None
    if spec.size is not None and fixed is not None and tuple(spec.size) != fixed:
        raise ModelImportError(f"input.size is {list(spec.size)} but the graph fixes (H, W) = {list(fixed)}")
    size = spec.size or fixed
    if size is None:
        raise ModelImportError(f"input '{graph.name}' has no fixed (H, W); give input.size = [H, W] in the spec")
    pinned = [batch, *size, 3] if spec.layout == "NHWC" else [batch, 3, *size]
    return graph.model_copy(update={"shape": pinned}), (int(size[0]), int(size[1]))


def _check_outputs(
    session: ort.InferenceSession, image: TensorSpec, size: tuple[int, int], outputs: list[TensorSpec], spec: ImportSpec
) -> list[str]:
    """Run once on a blank image and decode as the spec says: the keypoint count must match the names."""
    try:
        names = output_names(spec.output, outputs)
    except DecodingError as exc:
        raise ModelImportError(str(exc)) from None
    blank = tensors.zeros(image.datatype, [1, *image.shape[1:]])
    try:
        values = dict(zip([o.name for o in outputs], session.run(None, {image.name: blank}), strict=True))
    except Exception as exc:
        raise ModelImportError(f"the graph fails on a blank {image.shape} input: {exc}") from None
    try:
        points, scores = decode(values, spec.output, names, size)
    except (DecodingError, ValueError) as exc:
        raise ModelImportError(f"outputs {names} do not decode as format '{spec.output.format}': {exc}") from None
    if spec.output.format == "simcc":
        _check_bins(values, names, size, spec.output.split_ratio)
    count = points.shape[1]
    if count != len(spec.names()):
        raise ModelImportError(
            f"the graph answers {count} keypoints, the spec names {len(spec.names())} ({spec.output.keypoints!r})"
        )
    if not (np.isfinite(points).all() and np.isfinite(scores).all()):
        raise ModelImportError("the graph answers NaN or infinity on a blank input")
    bad_edges = [edge for edge in spec.edges() if not all(0 <= k < count for k in edge)]
    if bad_edges:
        raise ModelImportError(f"skeleton edges {bad_edges} point past the {count} keypoints")
    if spec.flip and not mirrored_pairs(spec.names()):
        raise ModelImportError("flip = true needs left/right keypoint pairs (names left_*/right_* or l_*/r_*)")
    return names


def _check_bins(values: dict[str, np.ndarray], names: list[str], size: tuple[int, int], ratio: float) -> None:
    """SimCC's bins must cover the input at `split_ratio` bins per pixel, or every point lands off by a factor."""
    for name, pixels in zip(names, (size[1], size[0]), strict=True):
        bins = values[name].shape[-1]
        if bins != round(pixels * ratio):
            raise ModelImportError(
                f"simcc output '{name}' has {bins} bins; {pixels} input pixels at split_ratio {ratio} need "
                f"{round(pixels * ratio)}"
            )


def _next_version(model_dir: Path) -> int:
    existing = [int(p.name) for p in model_dir.iterdir() if is_version(p.name)] if model_dir.is_dir() else []
    return max(existing, default=0) + 1
