"""Wire schemas of the /v1 task endpoints, with the examples Swagger UI's "Try it out" sends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from evaluation.pck import DEFAULT_THRESHOLDS

# A 32 x 24 PNG of a stick figure: a request example that decodes, so "Try it out" works as shipped.
EXAMPLE_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAACAAAAAYCAIAAAAUMWhjAAAAi0lEQVR42mM8cecDAy0BC0mq5W4sgzAeaUQRqYWJDNPR2NSxANNEIu1gYqAx"
    "GDQWYMYqkfFMgg+QTSQ+FTGSmg8SfCwWbDlBvHp8FiT4WBBvEC5bae6DkZNMh4sFkBgmKXUxkZF+SLJj0AQRWvIn3hNMZGcuIu1goiTrEmPH"
    "QMcBwZKHoCcYad1sAQB3Rkb22TLozAAAAABJRU5ErkJggg=="
)


def _nested(depth: int) -> dict[str, Any]:
    """JSON Schema of a non-empty list nested `depth` deep with numbers (or null: unknown) at the bottom."""
    schema: dict[str, Any] = {"type": ["number", "null"]}
    for _ in range(depth):
        schema = {"type": "array", "items": schema, "minItems": 1}
    return schema


def _any_depth(*depths: int) -> WithJsonSchema:
    """A rectangular nested list of numbers of one of these depths. The endpoint checks the shape: rectangularity
    and sizes are beyond what JSON Schema can say."""
    return WithJsonSchema({"anyOf": [_nested(depth) for depth in depths]} if len(depths) > 1 else _nested(depths[0]))


NestedNumbers = Annotated[list[Any], _any_depth(1, 2, 3, 4, 5)]
Rows = Annotated[list[Any], _any_depth(2)]  # (N, K) or (N, 4)
Points = Annotated[list[Any], _any_depth(3)]  # (N, K, 2)
Steps = Annotated[list[Any], _any_depth(2, 3, 4)]  # (T, D), (T, K, 2) or (T, C, H, W)
Batches = Annotated[list[Any], _any_depth(2, 3, 4, 5)]  # (N, H, ...)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong and what was expected.")


class BaselineComparison(BaseModel):
    baseline: str = Field(description="The best of last value, constant velocity, drift and the seasonal ones.")
    baseline_rmse: float
    model_rmse: float
    ratio: float = Field(description="model_rmse / baseline_rmse: below 1 beats the baseline.")


class ModelInfo(BaseModel):
    name: str
    version: str
    versions: list[str]
    task: str
    description: str
    input_size: tuple[int, int] | None = Field(description="(H, W) images are letterboxed to.")
    step_shape: list[int] | None = Field(description="Shape of one time step a sequence model takes.")
    min_input_length: int | None
    max_input_length: int | None
    max_horizon: int | None
    keypoint_names: list[str] | None
    skeleton: list[tuple[int, int]] | None
    interval_levels: list[float] | None = Field(None, description="Calibrated prediction interval levels.")
    versus_baseline: BaselineComparison | None = Field(
        None, description="Forecasters: the model's test RMSE against the best baseline, from its card."
    )


BoxItem = tuple[float, float, float, float]


class PoseRequest(Strict):
    images: list[str] = Field(
        min_length=1,
        description="Base64 images (PNG, JPEG or WebP), plain or as data: URLs; any sizes, one result each.",
        examples=[[EXAMPLE_PNG]],
    )
    boxes: list[list[BoxItem]] | None = Field(
        None,
        description="Person boxes [x, y, w, h] in image pixels, one list per image (top-down): each box is one "
        "person in `results[i].people`. Without boxes each image is one person.",
    )


class Keypoint(BaseModel):
    name: str
    x: float = Field(description="Pixels of the uploaded image, continuous: pixel column c spans [c, c + 1).")
    y: float = Field(description="Pixels of the uploaded image, continuous: pixel row r spans [r, r + 1).")
    confidence: float


class Person(BaseModel):
    box: BoxItem = Field(description="The person box of the request, [x, y, w, h] in image pixels.")
    score: float = Field(description="Mean keypoint confidence.")
    keypoints: list[Keypoint]


class PoseResult(BaseModel):
    width: int = Field(description="Width of the uploaded image after EXIF orientation.")
    height: int
    keypoints: list[Keypoint] | None = Field(None, description="The image as one person (requests without boxes).")
    people: list[Person] | None = Field(None, description="One per box, in the request's order (with boxes).")


class CocoKeypointResult(BaseModel):
    """One person as a COCO keypoint results file lists it (`format=coco`); pycocotools and /v1/evaluate take it."""

    image_id: int
    category_id: int = 1
    keypoints: list[float] = Field(description="[x, y, score] per keypoint; x, y as COCO pixel indices.")
    score: float


class PoseResponse(BaseModel):
    model_name: str
    model_version: str
    task: str
    time_ms: float = Field(description="Server time from the first byte decoded to the answer.")
    keypoint_names: list[str]
    skeleton: list[tuple[int, int]] = Field(description="Edges as pairs of 0-based indices into keypoints.")
    results: list[PoseResult] = Field(description="One per image, in request order.")


# A person standing in a 128 x 128 frame (COCO-17 order, pixels), walking right by 1.5 px a step: a sequence the
# demo `motion_transformer` accepts as it is, so "Try it out" works against the shipped models.
_STANDING = [
    (64, 30), (66, 28), (62, 28), (69, 29), (59, 29), (72, 40), (56, 40), (75, 54), (53, 54),
    (77, 67), (51, 67), (69, 70), (59, 70), (70, 88), (58, 88), (71, 106), (57, 106),
]  # fmt: skip
EXAMPLE_SEQUENCE = [[[x + 1.5 * t, float(y)] for x, y in _STANDING] for t in range(6)]


class ForecastRequest(Strict):
    sequence: Steps | None = Field(
        None,
        description="(T, *step_shape): keypoints (T, K, 2), a series (T, D) or frames (T, C, H, W) in [0, 1].",
        examples=[EXAMPLE_SEQUENCE],
    )
    frames: list[str] | None = Field(
        None, description="Instead of `sequence`: base64 images, one per time step (frames and sequence_pose models)."
    )
    horizon: int | None = Field(None, description="Steps to forecast, 1..max_horizon; default max_horizon.")
    frames_as: Literal["array", "png"] = Field("array", description="Frame forecasts as arrays or base64 PNGs.")
    intervals: list[Annotated[float, Field(gt=0, lt=1)]] | None = Field(
        None,
        description="Prediction interval levels to return, among those the model was calibrated at (GET "
        "/v1/models: interval_levels), e.g. [0.8, 0.95].",
    )


class IntervalBounds(BaseModel):
    lower: NestedNumbers = Field(description="Shaped like `forecast`.")
    upper: NestedNumbers


class ForecastResponse(BaseModel):
    model_name: str
    model_version: str
    task: str
    time_ms: float
    horizon: int
    shape: list[int] = Field(description="Shape of `forecast`: (horizon, *step_shape).")
    forecast: NestedNumbers | None = Field(description="In the units of the input; null when frames_as is png.")
    frames_png: list[str] | None = Field(None, description="Base64 PNGs, one per forecast frame, when asked for.")
    intervals: dict[str, IntervalBounds] | None = Field(
        None, description="Level -> bounds, when asked for: split-conformal, calibrated on the validation block."
    )
    keypoint_names: list[str] | None = None
    skeleton: list[tuple[int, int]] | None = None


class PCKRequest(Strict):
    predictions: Points = Field(description="(N, K, 2) pixels.", examples=[[[[10, 10], [20, 20]]]])
    ground_truth: Points = Field(
        description="(N, K, 2) pixels; null allowed at unlabelled points.", examples=[[[[10, 11], [30, 20]]]]
    )
    visibility: Rows = Field(description="(N, K) COCO flags: 0 unlabelled, 1 occluded, 2 visible.")
    thresholds: list[float] = Field(list(DEFAULT_THRESHOLDS), description="PCK@a for each a.")
    normalizer: Literal["torso", "bbox", "head"] | list[float | None] = Field(
        "torso", description="torso and head need COCO-17; or one size per sample (null: unknown)."
    )
    boxes: Rows | None = Field(None, description="(N, 4) [x, y, w, h] for bbox; default: keypoint extent.")
    head_sizes: list[float | None] | None = Field(None, description="(N,) for head; default: ear to ear.")
    joint_names: list[str] | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "predictions": [[[10, 10], [20, 20]]],
                    "ground_truth": [[[10, 11], [30, 20]]],
                    "visibility": [[2, 2]],
                    "normalizer": [10.0],
                }
            ]
        },
    )


class CocoMatching(BaseModel):
    ground_truth_people: int
    ignored_ground_truth: int
    detections: int
    matched: int
    unmatched_ground_truth: int
    unmatched_detections: int


class PCKResponse(BaseModel):
    thresholds: list[float]
    normalizer: str
    pck: dict[str, float | None] = Field(description="Threshold -> PCK over all labelled points.")
    mean_over_joints: dict[str, float | None]
    per_joint: dict[str, dict[str, float | None]]
    points_per_joint: dict[str, int]
    points_evaluated: int
    samples_total: int
    samples_used: int
    samples_excluded: int
    samples_without_prediction: int
    excluded: dict[str, int] = Field(description="Why samples were excluded -> how many.")
    excluded_indices: list[int]
    normalizer_fallbacks: int
    matching: CocoMatching | None = Field(None, description="COCO inputs only: how detections met people.")


class KeypointAPResponse(BaseModel):
    """pycocotools' ten keypoint numbers (-1 where an area range holds no person that counts)."""

    model_config = ConfigDict(populate_by_name=True)

    AP: float = Field(description="Mean AP over OKS .50:.05:.95, all areas.")
    AP50: float
    AP75: float
    APm: float = Field(description="Medium people (32² to 96² px²).")
    APl: float = Field(description="Large people (over 96² px²).")
    AR: float
    AR50: float
    AR75: float
    ARm: float
    ARl: float
    images: int
    ground_truth_people: int = Field(description="People that count: not crowd, with a labelled keypoint.")
    detections: int


class MSERequest(Strict):
    predictions: Batches = Field(description="(N, H, ...) forecasts.", examples=[[[[1.0, 2.0], [3.0, 4.0]]]])
    targets: Batches = Field(description="(N, H, ...) like predictions.", examples=[[[[1.5, 2.0], [2.0, 4.0]]]])


class ErrorCurve(BaseModel):
    mse: list[float]
    rmse: list[float]
    mae: list[float]


class MSEResponse(BaseModel):
    mse: float
    rmse: float
    mae: float
    per_step: ErrorCurve
    per_feature: ErrorCurve
    num_samples: int
    horizon: int
    num_features: int


class EvaluationResponse(BaseModel):
    model_name: str
    model_version: str
    task: str
    time_ms: float
    metrics: dict[str, Any] = Field(description="The CLI's layout: the model's metrics and `baselines` beside.")


class JobAccepted(BaseModel):
    job_id: str
    status_url: str
    total: int = Field(description="Samples to evaluate.")


class JobProgress(BaseModel):
    done: int
    total: int


class JobView(BaseModel):
    job_id: str
    description: str
    status: Literal["running", "succeeded", "failed"]
    progress: JobProgress
    created: float
    finished: float | None
    result: EvaluationResponse | None
    error: str | None
