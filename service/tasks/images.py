"""Image bytes in and out: bounded decoding with EXIF orientation, letterboxing to a model input, PNG encoding.

Blocking (Pillow) work: callers run these functions off the event loop.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from modelcard.letterbox import Letterbox, fit_letterbox, fit_stretch, letterbox_image
from service.errors import InvalidInput, PayloadTooLarge
from service.tasks.image_structure import check_structure

FORMATS = ("PNG", "JPEG", "WEBP")
MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")
_EXPECTED = "a PNG, JPEG or WebP image"
_WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_EXIF_ORIENTATION = 0x0112
_DECODE_ERRORS = (OSError, ValueError, SyntaxError)  # what Pillow raises for a file it recognises but cannot read
_UPRIGHT = {  # EXIF orientation -> the transpose that undoes it (orientation 1, and unknown values: none)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2 luma, as Pillow's "L" conversion


class PixelBudget:
    """The pixels one request may decode, over all its images: 32 small uploads of huge single-colour PNGs must
    not cost 32 times the per-image limit. Checked from each image's header, before its pixels are decoded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, width: int, height: int, label: str) -> None:
        if width * height > self.left:
            spent = self.limit - self.left
            already = f" after {spent} pixels in earlier images of this request" if spent else ""
            raise PayloadTooLarge(
                f"{label} is {width}x{height} = {width * height} pixels{already}; the limit is {self.limit} per "
                "request (POSECAST_MAX_IMAGE_PIXELS)"
            )
        self.left -= width * height


def decode_image(upload: bytes | str, budget: PixelBudget, label: str = "image", upright: bool = True) -> Image.Image:
    """Bytes (or base64 text) -> an RGB image, turned by its EXIF orientation when `upright`.

    400 unless PNG/JPEG/WebP, 413 when it has more pixels than the request's budget has left. Evaluation decodes
    with `upright=False`, as the training COCO loader does, so its numbers match the CLI's.
    """
    return decode_reduced(upload, budget, label, upright=upright).image


@dataclass(frozen=True)
class Decoded:
    """An upload decoded, perhaps at a reduced scale: `factor` upload pixels per decoded pixel on each axis."""

    image: Image.Image
    factor: int
    size: tuple[int, int]  # (W, H) of the upload itself, upright


@dataclass(frozen=True)
class Fit:
    """Where a whole image will be resampled to: the model input (H, W), letterboxed or stretched."""

    size: tuple[int, int]
    stretch: bool = False

    def resampled_size(self, width: int, height: int) -> tuple[int, int]:
        """(W, H) the image covers in the input: a JPEG need not decode larger than this on either axis."""
        geometry = (fit_stretch if self.stretch else fit_letterbox)((0.0, 0.0, float(width), float(height)), self.size)
        scale_x, scale_y = geometry.scales
        return math.ceil(width * scale_x), math.ceil(height * scale_y)


def decode_reduced(
    upload: bytes | str, budget: PixelBudget, label: str = "image", upright: bool = True, fit: Fit | None = None
) -> Decoded:
    """`decode_image`, letting a JPEG that will be resampled to `fit` decode at 1/2, 1/4 or 1/8 of its size
    (libjpeg's DCT scaling: a fraction of the cost of a full decode, and a box filter of its own) as long as each
    axis keeps at least the pixels it will cover in the model input. The pose tests hold the keypoints of such a
    decode to the full decode's within one input pixel."""
    data = decode_base64(upload, label) if isinstance(upload, str) else upload
    if not data:
        raise InvalidInput(f"{label} is empty; expected {_EXPECTED}")
    check_structure(data, label)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"{label}: {exc}") from None
    except UnidentifiedImageError:
        raise InvalidInput(f"{label} is not {_EXPECTED}: its bytes start with {data[:8]!r}") from None
    except _DECODE_ERRORS as exc:  # a known format with a broken header or an oversized chunk
        raise _undecodable(label, exc) from None
    budget.take(*image.size, label)
    width, height = image.size
    factor = 1
    try:
        # Only upright JPEGs: libjpeg pads a reduced image to whole blocks, and an EXIF flip or turn would carry
        # that padding to the other side of the picture.
        if fit is not None and image.format == "JPEG" and _orientation(image) == 1:
            image.draft("RGB", fit.resampled_size(width, height))  # the smallest scale with both sides >= these
            factor = round(width / image.size[0])
        image.load()
        turned = _turned_upright(image) if upright else image
    except _DECODE_ERRORS as exc:
        raise _undecodable(label, exc) from None
    return Decoded(_to_rgb(turned), factor, turned.size if factor == 1 else (width, height))


def _undecodable(label: str, exc: Exception) -> InvalidInput:
    return InvalidInput(f"{label} could not be decoded ({exc}); expected {_EXPECTED}")


def _turned_upright(image: Image.Image) -> Image.Image:
    """As its EXIF orientation says it is viewed (Pillow's `exif_transpose` also rewrites the EXIF block, and fails
    on one it cannot write back)."""
    method = _UPRIGHT.get(_orientation(image))
    return image if method is None else image.transpose(method)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, 1 (as stored) when there is none or the EXIF block is malformed: Pillow's parser then
    raises struct.error, TypeError, ValueError or OSError, and an upload is not refused for its metadata."""
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        return 1
    return orientation if isinstance(orientation, int) else 1  # a text or rational value is as malformed


def _to_rgb(image: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG's "I;16" and "I" modes) scaled to 8 bits; Pillow's own conversion clips at 255."""
    if image.mode in _WIDE_GREY_MODES:
        levels = np.asarray(image, dtype=np.float64) / 257.0  # 65535 -> 255
        image = Image.fromarray(np.clip(levels + 0.5, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def decode_base64(text: str, label: str) -> bytes:
    """Plain base64 or a `data:image/...;base64,` URL -> bytes."""
    payload = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{label} is not valid base64 (or a data: URL) of {_EXPECTED}") from None


def to_model_input(
    image: Image.Image, size: tuple[int, int], pad_value: float, channels: int = 3
) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """Letterbox to `size` (H, W) as training did -> (C, H, W) float32 in [0, 1], and the mapping back."""
    pixels, geometry = letterbox_image(image, size, fill=pad_fill(pad_value))
    array = pixels.astype(np.float32) / 255.0  # (H, W, 3)
    if channels == 1:
        array = (array @ _GREY_WEIGHTS)[..., None]  # (H, W, 1)
    elif channels != 3:
        raise InvalidInput(f"images can feed models with 1 or 3 channels; this one takes {channels}")
    return np.ascontiguousarray(array.transpose(2, 0, 1)), geometry


def pad_fill(pad_value: float) -> tuple[int, int, int]:
    """The card's pad value in [0, 1] as the RGB fill Pillow letterboxes with."""
    grey = round(pad_value * 255)
    return grey, grey, grey


def encode_png(array: npt.NDArray[np.floating] | Image.Image) -> bytes:
    """A (C, H, W) array in [0, 1] (C = 1 or 3) or an image -> PNG bytes."""
    if isinstance(array, Image.Image):
        image = array
    else:
        pixels = np.clip(np.nan_to_num(array) * 255.0 + 0.5, 0, 255).astype(np.uint8)  # (C, H, W)
        image = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
