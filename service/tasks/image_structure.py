"""The structure of an upload, counted before Pillow parses it.

Pillow walks JPEG marker segments (up to the first scan) and PNG chunks in Python, about a microsecond each: a few
megabytes of empty segments, fill bytes or chunks cost seconds of a decoding thread. Real files have tens of
segments and, at most, thousands of chunks (a large PNG cut into 8 KB IDATs); the limits below sit far above that.
"""

from __future__ import annotations

import re
import struct

from service.errors import InvalidInput

MAX_JPEG_SEGMENTS = 1024  # before the first scan: tables, frame, APPn (EXIF, XMP, ICC pieces), comments
MAX_JPEG_FILL_BYTES = 4096  # 0xFF padding between segments, which Pillow also reads one byte at a time
MAX_PNG_CHUNKS = 100_000  # IDAT included: 32 MiB in chunks of 330 bytes on average
MAX_PNG_METADATA_CHUNKS = 1024  # everything but image data (IDAT, and an animation's fdAT)

_JPEG_START = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MARKER = re.compile(rb"\xff+")  # a marker's 0xFF and any fill bytes before it, at C speed
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length
_END_OF_HEADER = {0xDA, 0xD9}  # start of scan (libjpeg parses the rest in C), end of image
_CHUNK_HEAD = struct.Struct(">I4s")
_IMAGE_DATA = {b"IDAT", b"fdAT"}


def check_structure(data: bytes, label: str) -> None:
    """400 for a JPEG or PNG with far more segments or chunks than real files have; anything else, malformed ones
    included, is left to Pillow to judge."""
    if data.startswith(_JPEG_START):
        _check_jpeg(data, label)
    elif data.startswith(_PNG_SIGNATURE):
        _check_png(data, label)


def _check_jpeg(data: bytes, label: str) -> None:
    segments = fill = 0
    position = len(_JPEG_START)
    while (found := _MARKER.match(data, position)) is not None and found.end() < len(data):
        fill += found.end() - position - 1
        marker = data[found.end()]
        segments += 1
        if segments > MAX_JPEG_SEGMENTS or fill > MAX_JPEG_FILL_BYTES:
            raise InvalidInput(
                f"{label} is a JPEG with more than {MAX_JPEG_SEGMENTS} segments or {MAX_JPEG_FILL_BYTES} fill bytes "
                "before its image data, far more than real files have; refused unparsed"
            )
        if marker in _END_OF_HEADER:
            return
        position = found.end() + 1
        if marker not in _STANDALONE:
            if position + 2 > len(data):
                return
            position += int.from_bytes(data[position : position + 2], "big")


def _check_png(data: bytes, label: str) -> None:
    chunks = metadata = 0
    position = len(_PNG_SIGNATURE)
    while position + _CHUNK_HEAD.size <= len(data):
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        chunks += 1
        metadata += kind not in _IMAGE_DATA
        if chunks > MAX_PNG_CHUNKS or metadata > MAX_PNG_METADATA_CHUNKS:
            raise InvalidInput(
                f"{label} is a PNG with more than {MAX_PNG_CHUNKS} chunks or {MAX_PNG_METADATA_CHUNKS} besides its "
                "image data, far more than real files have; refused unparsed"
            )
        if kind == b"IEND":
            return
        position += _CHUNK_HEAD.size + length + 4  # data, then the CRC
