"""The structure of an upload, counted before Pillow parses it.

Pillow walks JPEG marker segments (up to the first scan) and PNG chunks in Python, about a microsecond each, and
reads some of them item by item (a frame header's components, quantisation tables, Photoshop resources, EXIF
blocks it joins) or inflates them (PNG profiles and compressed text, up to 1 MB each): a few megabytes of such
structure cost seconds of a decoding thread. Real files have tens of segments, a few kilobytes of tables, one or two
EXIF or Photoshop blocks of at most 64 kB, a profile and a few texts, and at most thousands of chunks (a large PNG
cut into 8 KB IDATs); the limits below sit far above that.

libjpeg itself visits every block of a component in each scan of a progressive JPEG, and a scan of nothing but
end-of-band runs takes a few bytes: 5,000 of them over a 36-megapixel frame (370 kB) cost it 10 s. Real progressive
files have about ten scans; NVIDIA's nvImageCodec caps them at 256 for this reason, and so does this module.
"""

from __future__ import annotations

import re
import struct

from service.errors import InvalidInput

MAX_JPEG_MARKERS = 1024  # before the first scan: tables, frame, APPn (EXIF, XMP, ICC pieces), comments
MAX_JPEG_SKIPPED_BYTES = 65536  # fill bytes and junk between segments, which Pillow steps over one at a time
MAX_JPEG_TABLE_BYTES = 65536  # frame headers and quantisation tables together
MAX_JPEG_EXIF_PHOTOSHOP_BYTES = 1 << 20  # APP1 EXIF and APP13 blocks together
MAX_JPEG_PROGRESSIVE_SCANS = 256  # 0.6 s of libjpeg at most, at the 40-megapixel default pixel limit
MAX_PNG_CHUNKS = 100_000  # image data included: 32 MiB in chunks of 330 bytes on average
MAX_PNG_METADATA_CHUNKS = 1024  # everything but image data (IDAT, and an animation's fcTL and fdAT)
MAX_PNG_INFLATED_CHUNKS = 32  # iCCP, zTXt and iTXt, which Pillow inflates

_JPEG_START = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TO_MARKER = re.compile(rb"[^\xff]*\xff+")  # junk, fill bytes and a marker's own 0xFF, skipped at C speed
_START_OF_SCAN = 0xDA  # where Pillow stops and libjpeg parses the rest in C
_NO_LENGTH = {0x00, 0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)}  # an escaped 0xFF, RSTn, SOI, EOI, JPGn
_PROGRESSIVE_FRAMES = {0xC2, 0xC6, 0xCA, 0xCE}  # SOF2, SOF6, SOF10, SOF14
_SCAN_MARKER = b"\xff\xda"  # never inside entropy-coded data, where a 0xFF byte is followed by 0x00 or RSTn
_TABLES = {0xDB, 0xDE, *range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}  # DQT, DHP, SOFn (not DHT, JPG, DAC)
_APP1, _APP13 = 0xE1, 0xED
_CHUNK_HEAD = struct.Struct(">I4s")
_IMAGE_DATA = {b"IDAT", b"fcTL", b"fdAT"}
_INFLATED = {b"iCCP", b"zTXt", b"iTXt"}


def check_structure(data: bytes, label: str) -> None:
    """400 for a JPEG or PNG with far more segments, chunks or costly contents than real files have; anything else,
    malformed files included, is left to Pillow to judge."""
    if data.startswith(_JPEG_START):
        _check_jpeg(data, label)
    elif data.startswith(_PNG_SIGNATURE):
        _check_png(data, label)


def _check_jpeg(data: bytes, label: str) -> None:
    """Walks the header as Pillow's parser does: junk and fill bytes skipped, every marker counted (EOI included,
    after which Pillow reads on), a length under 2 read as 2."""
    markers = skipped = tables = exif_photoshop = 0
    progressive = False
    position = len(_JPEG_START)
    while (found := _TO_MARKER.match(data, position)) is not None:
        code_at = found.end()
        if code_at >= len(data):
            return
        skipped += code_at - position - 1
        markers += 1
        if markers > MAX_JPEG_MARKERS or skipped > MAX_JPEG_SKIPPED_BYTES:
            raise InvalidInput(
                f"{label} is a JPEG with more than {MAX_JPEG_MARKERS} markers or {MAX_JPEG_SKIPPED_BYTES} fill or "
                "junk bytes before its image data, far more than real files have; refused unparsed"
            )
        code = data[code_at]
        position = code_at + 1
        if code == _START_OF_SCAN:
            if progressive:
                _check_scans(data, code_at - 1, label)
            return
        if code < 0xC0 and code not in _NO_LENGTH:  # Pillow refuses the file
            return
        progressive |= code in _PROGRESSIVE_FRAMES
        if code not in _NO_LENGTH:
            if position + 2 > len(data):
                return
            length = max(int.from_bytes(data[position : position + 2], "big"), 2)
            if code in _TABLES:
                tables += length
            elif code == _APP13 or (code == _APP1 and data.startswith(b"Exif\0", position + 2)):
                exif_photoshop += length
            if tables > MAX_JPEG_TABLE_BYTES or exif_photoshop > MAX_JPEG_EXIF_PHOTOSHOP_BYTES:
                raise InvalidInput(
                    f"{label} is a JPEG with more than {MAX_JPEG_TABLE_BYTES} bytes of frame headers and tables or "
                    f"{MAX_JPEG_EXIF_PHOTOSHOP_BYTES} of EXIF and Photoshop blocks, far more than real files have; "
                    "refused unparsed"
                )
            position += length


def _check_scans(data: bytes, first_scan_at: int, label: str) -> None:
    """Counted only for progressive frames (0.2 ms for a 300 kB photo): a sequential scan needs bits in every
    block, so its cost follows the file's size."""
    if data.count(_SCAN_MARKER, first_scan_at) > MAX_JPEG_PROGRESSIVE_SCANS:
        raise InvalidInput(
            f"{label} is a progressive JPEG with more than {MAX_JPEG_PROGRESSIVE_SCANS} scans, far more than real "
            "files have; refused unparsed"
        )


def _check_png(data: bytes, label: str) -> None:
    chunks = metadata = inflated = 0
    position = len(_PNG_SIGNATURE)
    while position + _CHUNK_HEAD.size <= len(data):
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        chunks += 1
        metadata += kind not in _IMAGE_DATA
        inflated += kind in _INFLATED
        if chunks > MAX_PNG_CHUNKS or metadata > MAX_PNG_METADATA_CHUNKS or inflated > MAX_PNG_INFLATED_CHUNKS:
            raise InvalidInput(
                f"{label} is a PNG with more than {MAX_PNG_CHUNKS} chunks, {MAX_PNG_METADATA_CHUNKS} besides its image "
                f"data or {MAX_PNG_INFLATED_CHUNKS} compressed profiles and texts, far more than real files have; "
                "refused unparsed"
            )
        if kind == b"IEND":
            return
        position += _CHUNK_HEAD.size + length + 4  # data, then the CRC
