"""How a pose graph wants its image and how its outputs become keypoints: the decoding every pose route shares.

Models trained here take RGB in [0, 1], NCHW, letterboxed, and answer normalised (x, y) plus a confidence per
keypoint; models trained elsewhere (MMPose, MoveNet, a user's own) differ in each of these, so the card says which.
pydantic only: the importer, the server and the exporter read the same schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelcard.letterbox import CROP_MARGIN

NATIVE_SCALE = 1 / 255


class PoseInput(BaseModel):
    """From an upload's RGB bytes to the graph's first input: crop, resize, channel order, scaling, layout."""

    model_config = ConfigDict(extra="forbid")

    layout: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "uint8"] = "float32"
    channels: Literal["RGB", "BGR"] = "RGB"
    size: tuple[int, int] | None = Field(None, description="(height, width); None takes the graph's fixed size.")
    resize: Literal["letterbox", "stretch"] = "letterbox"
    scale: float = Field(
        NATIVE_SCALE, gt=0, description="float32 input: x * scale, then (x - mean) / std. uint8 input: 1 (the default)."
    )
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad_value: float = Field(0.0, ge=0, le=1, description="Letterbox padding as a fraction of full intensity.")

    @model_validator(mode="before")
    @classmethod
    def _uint8_scale_defaults_to_one(cls, data: Any) -> Any:
        """A spec saying only `dtype = "uint8"` means raw pixels; the float default 1/255 would contradict it."""
        if isinstance(data, dict) and data.get("dtype") == "uint8" and "scale" not in data:
            return {**data, "scale": 1.0}
        return data

    @model_validator(mode="after")
    def _uint8_takes_raw_pixels(self) -> PoseInput:
        raw = self.scale == 1 and self.mean == (0.0, 0.0, 0.0) and self.std == (1.0, 1.0, 1.0)
        if self.dtype == "uint8" and not raw:
            raise ValueError("a uint8 input takes raw pixels: leave scale, mean and std out (the graph normalises)")
        if any(value <= 0 for value in self.std):
            raise ValueError(f"std must be positive, got {list(self.std)}")
        return self


class PoseOutput(BaseModel):
    """Which graph outputs hold the keypoints, in which of the three forms pose networks emit them.

    Pixel coordinates (heatmap and SimCC peaks, `normalized = false`) follow the pixel-index convention of OpenCV
    and MMPose (the first pixel's centre is 0); normalised coordinates are fractions of the input's width and height.
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["coordinates", "heatmaps", "simcc"] = "coordinates"
    order: Literal["xy", "yx"] = "xy"
    normalized: bool = True
    split_ratio: float = Field(2.0, gt=0, description="simcc: bins per input pixel.")
    names: list[str] | None = Field(
        None,
        description="Graph outputs read, in order: coordinates [points] or [points, scores]; heatmaps [heatmaps]; "
        "simcc [x, y]. None: the graph's outputs in graph order.",
    )


class PoseSpec(BaseModel):
    """The pose decoding of one model version, plus the top-down defaults a request may override."""

    model_config = ConfigDict(extra="forbid")

    input: PoseInput = Field(default_factory=PoseInput)
    output: PoseOutput = Field(default_factory=PoseOutput)
    box_padding: float = Field(
        1 + CROP_MARGIN, ge=1, description="A person box grows by this factor before it is cropped (MMPose: 1.25)."
    )
    flip: bool = Field(False, description="Average each crop's keypoints with those of its mirror image.")
