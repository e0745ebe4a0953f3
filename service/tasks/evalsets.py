"""Labelled sets clients upload to `/v1/models/{name}/evaluate`, read within bounds.

Pose: a zip or tar holding one COCO keypoints JSON and the images it names (matched by base name). Each person
is cropped by `modelcard.letterbox.crop_person`, as the training COCO loader crops (box grown by 25 %, keypoints
+ 0.5 to the continuous convention, points outside the crop unlabelled), so PCK here equals the CLI's.
Sequences: an .npz with `sequences` (N, T, *step) and `targets` (N, H, *step).
"""

from __future__ import annotations

import io
import tarfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.coco import CocoGroundTruth, read_coco_ground_truth
from modelcard.letterbox import COCO_INDEX_TO_CONTINUOUS, Letterbox, crop_person, person_box
from modelcard.pose import PoseSpec
from service.errors import ClientDisconnected, InvalidInput, PayloadTooLarge
from service.tasks.arrays import ARCHIVE_ERRORS, load_json, load_npz, require_finite, require_shape, unzip
from service.tasks.images import PixelBudget, decode_image, pad_fill
from service.tasks.pose_inputs import MIN_BOX_SIDE, Crop, model_input


@dataclass(frozen=True)
class SetLimits:
    max_unpacked_bytes: int
    max_samples: int
    max_pixels: int
    max_annotation_bytes: int


@dataclass(frozen=True, eq=False)
class PoseSet:
    """COCO people to crop; images stay encoded until a batch needs them."""

    truth: CocoGroundTruth
    rows: npt.NDArray[np.int64]  # annotation rows that are scored, in file order
    images: dict[int, bytes]  # image id -> encoded file

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, eq=False)
class SequenceSet:
    sequences: npt.NDArray[np.float64]  # (N, T, *step)
    targets: npt.NDArray[np.float64]  # (N, H, *step)

    @property
    def count(self) -> int:
        return len(self.sequences)


@dataclass(frozen=True, eq=False)
class Crops:
    """One batch of person crops: model inputs and ground truth in crop pixels."""

    inputs: np.ndarray  # the graph input of n crops (and their mirror images when the card flip-tests)
    keypoints: npt.NDArray[np.float64]  # (n, K, 2)
    visibility: npt.NDArray[np.int64]  # (n, K) COCO flags, 0 where the point left the crop
    mappings: list[Letterbox]  # image pixels -> crop pixels, per person


def read_sequence_set(data: bytes, limits: SetLimits) -> SequenceSet:
    arrays = load_npz(data, "dataset", limits.max_unpacked_bytes)
    missing = {"sequences", "targets"} - arrays.keys()
    if missing:
        raise InvalidInput(f"the .npz needs arrays 'sequences' and 'targets'; it lacks {sorted(missing)}")
    sequences, targets = arrays["sequences"], arrays["targets"]
    if sequences.ndim < 3 or len(sequences) == 0:
        raise InvalidInput(f"'sequences' must have shape (N, T, ...) with N >= 1, got {list(sequences.shape)}")
    require_shape(targets, (len(sequences), None, *sequences.shape[2:]), "'targets'", "(N, H, ...) like 'sequences'")
    _check_count(len(sequences), limits)
    require_finite(sequences, "'sequences'")
    require_finite(targets, "'targets'")
    return SequenceSet(sequences, targets)


def read_pose_set(data: bytes, limits: SetLimits, stop: threading.Event | None = None) -> PoseSet:
    """Blocking; `stop` set (the client went away) ends the reading between archive members."""
    files = _unpack(data, limits, stop)
    documents = [name for name in files if name.lower().endswith(".json")]
    if len(documents) != 1:
        raise InvalidInput(f"the archive must hold exactly one COCO keypoints .json file, found {documents}")
    document = files[documents[0]]
    if len(document) > limits.max_annotation_bytes:
        raise PayloadTooLarge(
            f"{documents[0]} is {len(document)} bytes; the limit is {limits.max_annotation_bytes} "
            "(POSECAST_MAX_EVAL_ANNOTATION_BYTES)"
        )
    annotations = load_json(document, documents[0])
    try:
        truth = read_coco_ground_truth(annotations)
    except ValueError as exc:
        raise InvalidInput(f"{documents[0]}: {exc}") from None
    keep = ~truth.iscrowd & (truth.visibility > 0).any(axis=1) & (truth.boxes[:, 2:] >= MIN_BOX_SIDE).all(axis=1)
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise InvalidInput(f"{documents[0]} has no person with a labelled keypoint and a box to score")
    _check_count(rows.size, limits)
    by_name = {PurePosixPath(name).name: content for name, content in files.items()}
    needed = set(truth.annotation_image_ids[rows].tolist())
    images: dict[int, bytes] = {}
    for record in annotations["images"]:
        if record["id"] in needed:
            file_name = record.get("file_name")
            if not isinstance(file_name, str) or PurePosixPath(file_name).name not in by_name:
                raise InvalidInput(f"image {record['id']} ({file_name!r}) is not in the archive")
            images[record["id"]] = by_name[PurePosixPath(file_name).name]
    return PoseSet(truth, rows, images)


def crop_people(dataset: PoseSet, rows: Sequence[int], size: tuple[int, int], spec: PoseSpec, max_pixels: int) -> Crops:
    """Blocking: decode the images of `rows` (positions in `dataset.rows`), crop each person from its box as the
    pose endpoint crops a box, and encode the crops as the model's input."""
    truth = dataset.truth
    pixels, points, flags, mappings = [], [], [], []
    decoded: dict[int, Image.Image] = {}  # the last image only: a person's rows usually follow each other
    for position in rows:
        row = int(dataset.rows[position])
        image_id = int(truth.annotation_image_ids[row])
        if image_id not in decoded:
            image = decode_image(dataset.images[image_id], PixelBudget(max_pixels), f"image {image_id}", upright=False)
            decoded = {image_id: image}
        crop, mapped, visible, mapping = crop_person(
            decoded[image_id],
            person_box(truth.boxes[row], size, spec.box_padding),
            truth.keypoints[row] + COCO_INDEX_TO_CONTINUOUS,
            truth.visibility[row],
            size,
            fill=pad_fill(spec.input.pad_value),
        )
        pixels.append(crop)
        points.append(mapped)
        flags.append(visible)
        mappings.append(mapping)
    inputs = model_input(
        [Crop(crop, mapping) for crop, mapping in zip(pixels, mappings, strict=True)], spec.input, spec.flip
    )
    return Crops(inputs, np.stack(points), np.stack(flags).astype(np.int64), mappings)


def _check_count(count: int, limits: SetLimits) -> None:
    if count > limits.max_samples:
        raise PayloadTooLarge(
            f"the set has {count} samples; the limit is {limits.max_samples} (POSECAST_MAX_EVAL_SAMPLES)"
        )


def _unpack(data: bytes, limits: SetLimits, stop: threading.Event | None) -> dict[str, bytes]:
    """Regular files of a zip or (optionally compressed) tar, refusing archives that unpack too large."""
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            return unzip(data, limits.max_unpacked_bytes, "the archive")
        return _unpack_tar(data, limits.max_unpacked_bytes, stop)
    except (tarfile.TarError, *ARCHIVE_ERRORS) as exc:
        raise InvalidInput(f"the dataset archive is damaged or truncated: {exc}") from None


def _unpack_tar(data: bytes, limit: int, stop: threading.Event | None) -> dict[str, bytes]:
    """Stream order, one header at a time: a member declaring gigabytes is refused from its header, before the
    compressed stream is decompressed to reach the next one (skipping a member costs as much as reading it)."""
    files: dict[str, bytes] = {}
    declared = 0
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r|*")  # noqa: SIM115 (closed by the with below)
    except tarfile.TarError:
        raise InvalidInput("the dataset must be a zip or tar archive (COCO JSON + images) or an .npz") from None
    with archive:
        for entry in archive:
            declared += entry.size
            if declared > limit:
                raise PayloadTooLarge(
                    f"the archive unpacks to more than {limit} bytes (POSECAST_MAX_EVAL_UNPACKED_BYTES)"
                )
            if stop is not None and stop.is_set():
                raise ClientDisconnected("client disconnected while its archive was being read")
            if entry.isfile():
                handle = archive.extractfile(entry)
                assert handle is not None  # regular files always have data
                files[entry.name] = handle.read()
    return files
