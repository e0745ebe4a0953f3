from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from evaluation.keypoints import COCO_KEYPOINT_NAMES
from training.data.coco import COCO_INDEX_TO_CONTINUOUS, load_coco_keypoints

INPUT_SIZE = (64, 48)  # (H, W)


def _person(rng: np.random.Generator, box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """17 integer keypoints (COCO stores pixel indices) in distinct 8-px cells of `box`, at least 5 px apart."""
    x, y, w, h = box
    cells = np.stack(np.meshgrid(np.arange(x + 4, x + w - 8, 8), np.arange(y + 4, y + h - 8, 8)), -1).reshape(-1, 2)
    points = np.floor(cells[rng.choice(len(cells), 17, replace=False)]) + rng.integers(0, 4, (17, 2))
    return points, np.full(17, 2)


def _annotation(
    ann_id: int, image_id: int, box: tuple[float, ...], points: np.ndarray, flags: np.ndarray, crowd: int = 0
) -> dict:
    triplets = np.column_stack([points, flags]).ravel().tolist()
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "bbox": list(box),
        "keypoints": triplets,
        "iscrowd": crowd,
        "num_keypoints": int((flags > 0).sum()),
    }


@pytest.fixture
def coco_files(tmp_path: Path) -> tuple[Path, Path, dict[int, np.ndarray]]:
    """Two images with a white dot centred on every keypoint pixel, and annotations incl. crowd and empty ones."""
    rng = np.random.default_rng(0)
    boxes = {1: (30.0, 20.0, 80.0, 120.0), 2: (50.5, 10.25, 60.0, 50.0)}
    sizes = {1: (160, 180), 2: (200, 90)}
    people, annotations = {}, []
    for image_id, box in boxes.items():
        points, flags = _person(rng, box)
        if image_id == 2:
            flags[[0, 3]] = 0
            points[[0, 3]] = 0
            points[16] = (box[0] + box[2] + 25, box[1] + 5)  # labelled, but beyond the crop's margin
        people[image_id] = points
        image = Image.new("RGB", sizes[image_id])
        draw = ImageDraw.Draw(image)
        for (x, y), flag in zip(points, flags, strict=True):
            if flag:
                draw.rectangle((x - 1, y - 1, x + 1, y + 1), fill=(255, 255, 255))  # 3x3 around pixel (x, y)
        image.save(tmp_path / f"{image_id}.png")
        annotations.append(_annotation(10 + image_id, image_id, box, points, flags))
    annotations.append(_annotation(20, 1, (0.0, 0.0, 50.0, 50.0), *_person(rng, (0.0, 0.0, 50.0, 50.0)), crowd=1))
    annotations.append(_annotation(21, 2, (5.0, 5.0, 20.0, 20.0), np.zeros((17, 2)), np.zeros(17, int)))
    document = {
        "images": [{"id": i, "file_name": f"{i}.png", "width": sizes[i][0], "height": sizes[i][1]} for i in boxes],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": [[16, 14]]}],
    }
    path = tmp_path / "keypoints.json"
    path.write_text(json.dumps(document))
    return path, tmp_path, people


def test_crowd_and_empty_annotations_are_skipped(coco_files: tuple[Path, Path, dict[int, np.ndarray]]) -> None:
    annotation_file, image_dir, _ = coco_files
    crops = load_coco_keypoints(annotation_file, image_dir, INPUT_SIZE)
    np.testing.assert_array_equal(crops.annotation_ids, [11, 12])
    np.testing.assert_array_equal(crops.image_ids, [1, 2])
    assert crops.images.shape == (2, 64, 48, 3)
    assert crops.images.dtype == np.uint8
    assert crops.keypoints.shape == (2, 17, 2)
    assert crops.visibility.shape == (2, 17)


def test_keypoints_follow_the_crop_and_map_back(coco_files: tuple[Path, Path, dict[int, np.ndarray]]) -> None:
    annotation_file, image_dir, people = coco_files
    crops = load_coco_keypoints(annotation_file, image_dir, INPUT_SIZE, margin=0.25)
    for row, image_id in enumerate(crops.image_ids):
        source = people[int(image_id)]
        labelled = crops.visibility[row] > 0
        back = crops.letterboxes[row].to_source(crops.keypoints[row]) - COCO_INDEX_TO_CONTINUOUS
        np.testing.assert_allclose(back[labelled], source[labelled], atol=1e-3)
        brightness = crops.images[row, ..., 0].astype(float)
        for x, y in crops.keypoints[row][labelled]:  # each dot's pixels sit on its transformed keypoint
            assert brightness[int(y), int(x)] > 40


def test_unlabelled_and_out_of_crop_points_get_flag_zero(coco_files: tuple[Path, Path, dict[int, np.ndarray]]) -> None:
    annotation_file, image_dir, _ = coco_files
    crops = load_coco_keypoints(annotation_file, image_dir, INPUT_SIZE)
    assert crops.visibility[0].tolist() == [2] * 17
    assert crops.visibility[1, [0, 3, 16]].tolist() == [0, 0, 0]
    assert (crops.visibility[1, [1, 2, 4, 15]] == 2).all()


def test_missing_file_name_is_reported(coco_files: tuple[Path, Path, dict[int, np.ndarray]]) -> None:
    annotation_file, image_dir, _ = coco_files
    document = json.loads(annotation_file.read_text())
    del document["images"][0]["file_name"]
    annotation_file.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="file_name"):
        load_coco_keypoints(annotation_file, image_dir, INPUT_SIZE)


def test_dots_centre_on_their_keypoints_in_an_upscaled_crop(
    coco_files: tuple[Path, Path, dict[int, np.ndarray]],
) -> None:
    annotation_file, image_dir, _ = coco_files
    crops = load_coco_keypoints(annotation_file, image_dir, (256, 192), margin=0.25)  # about 2x upscaling
    rows, cols = np.mgrid[0:256, 0:192] + 0.5  # pixel centres
    brightness = crops.images[0, ..., 0].astype(float)
    for x, y in crops.keypoints[0]:
        weight = brightness * ((cols - x) ** 2 + (rows - y) ** 2 < 4.0**2)
        found = np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()
        np.testing.assert_allclose(found, (x, y), atol=0.3)
