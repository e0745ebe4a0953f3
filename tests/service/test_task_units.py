"""`service.tasks` and `service.jobs` on their own: decoding bounds, geometry, archive bounds, job bookkeeping."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from modelcard import ModelCard, Preprocessing, TensorSpec
from modelcard.letterbox import fit_letterbox
from service import jobs as jobs_module
from service.errors import InvalidInput, JobNotFound, Overloaded, PayloadTooLarge
from service.jobs import Job, JobManager
from service.tasks.evalsets import SetLimits, read_pose_set
from service.tasks.images import Fit, PixelBudget, decode_image, decode_reduced
from service.tasks.pose_inputs import input_size
from service.tasks.pose_outputs import decode_card_outputs


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decoding_refuses_other_formats_and_too_many_pixels() -> None:
    assert decode_image(png(20, 10), PixelBudget(200)).size == (20, 10)
    with pytest.raises(PayloadTooLarge, match="20x10 = 200 pixels; the limit is 199"):
        decode_image(png(20, 10), PixelBudget(199))
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    with pytest.raises(InvalidInput, match="not a PNG, JPEG or WebP"):
        decode_image(gif.getvalue(), PixelBudget(100))
    with pytest.raises(InvalidInput, match="is empty"):
        decode_image(b"", PixelBudget(100))


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_every_exif_orientation_turns_the_image_as_pillows_exif_transpose_does(image_format: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)  # (H, W): any turn shows
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=image_format, exif=exif, lossless=True, quality=100)
        expected = ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))).convert("RGB")
        decoded = decode_image(buffer.getvalue(), PixelBudget(100))
        np.testing.assert_array_equal(np.asarray(decoded), np.asarray(expected), err_msg=f"orientation {orientation}")


def test_broken_metadata_is_ignored_and_an_oversized_chunk_is_refused() -> None:
    """EXIF that Pillow cannot parse (a TIFF header cut short) or cannot write back (orientation 6 beside a
    resolution stored as text, which `exif_transpose` fails on) leaves the image as stored or turns it by the
    orientation it could read; a PNG text chunk that inflates past Pillow's limit is a 400, not a crash."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 24)).save(buffer, format="PNG", exif=b"Exif\x00\x00II*\x00")
    assert decode_image(buffer.getvalue(), PixelBudget(1000)).size == (16, 24)
    entries = [(0x0112, 3, 1, struct.pack("<H", 6)), (0x011A, 2, 4, b"abc\0")]  # (tag, TIFF type, count, value)
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", *entry[:3]) + entry[3].ljust(4, b"\0") for entry in entries
    )
    buffer = io.BytesIO()
    Image.new("RGB", (16, 24)).save(
        buffer, format="JPEG", exif=b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + bytes(4)
    )
    assert decode_image(buffer.getvalue(), PixelBudget(1000)).size == (24, 16)
    header, rest = png(2, 2)[:33], png(2, 2)[33:]  # signature and IHDR, then IDAT and IEND
    text = b"c\0\0" + zlib.compress(b"a" * (2 << 20))
    chunk = struct.pack(">I", len(text)) + b"zTXt" + text + struct.pack(">I", zlib.crc32(b"zTXt" + text))
    with pytest.raises(InvalidInput, match="could not be decoded"):
        decode_image(header + chunk + rest, PixelBudget(1000))


def _segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_files_made_of_millions_of_empty_segments_are_refused_before_pillow_walks_them() -> None:
    """Pillow reads JPEG segments, fill bytes and PNG chunks in Python: 8 MB of fill bytes took it 2.4 s, a
    million empty comments 0.7 s; libjpeg visits every block in each progressive scan, and 5,000 scans of a few
    bytes over a large frame took it 10 s. Files shaped like real ones, with their metadata, still decode."""
    jpeg, png_file = io.BytesIO(), io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "camera"
    Image.new("RGB", (16, 16)).save(jpeg, format="JPEG", exif=exif, icc_profile=b"\0" * 200_000, progressive=True)
    Image.new("RGB", (16, 16)).save(png_file, format="PNG")
    jpeg_bytes, png_bytes = jpeg.getvalue(), png_file.getvalue()
    last_scan = jpeg_bytes[jpeg_bytes.rindex(b"\xff\xda") : -2]  # up to the end of image marker
    scans = jpeg_bytes.count(b"\xff\xda")
    idat_at = png_bytes.index(b"IDAT") - 4
    idat_length = struct.unpack(">I", png_bytes[idat_at : idat_at + 4])[0]
    pixels = png_bytes[idat_at + 8 : idat_at + 8 + idat_length]
    split = b"".join(_chunk(b"IDAT", pixels[i : i + 1]) for i in range(len(pixels)))  # one byte per IDAT
    texts = b"".join(_chunk(b"tEXt", b"k\0%d" % i) for i in range(500))
    animation = io.BytesIO()  # 1,100 frames: a control chunk each, all but the first with its own data chunk
    frames = [Image.new("RGB", (16, 16), (i % 256, 0, 0)) for i in range(1100)]
    frames[0].save(animation, format="PNG", save_all=True, append_images=frames[1:])
    real_shapes = [
        jpeg_bytes,
        jpeg_bytes[:-2] + last_scan * (256 - scans) + jpeg_bytes[-2:],  # libjpeg warns of the repeats, and decodes
        png_bytes[:idat_at] + texts + split + png_bytes[idat_at + 12 + idat_length :],
        animation.getvalue(),
    ]
    for data in real_shapes:
        assert decode_image(data, PixelBudget(1000)).size == (16, 16)
    comment = b"\xff\xfe\x00\x02"  # an empty one
    floods = [
        jpeg_bytes[:2] + comment * 1_000_000 + jpeg_bytes[2:],
        jpeg_bytes[:2] + b"\xff" * 8_000_000 + jpeg_bytes[2:],  # fill bytes
        jpeg_bytes[:2] + comment + b"\x00" * 8_000_000 + jpeg_bytes[2:],  # junk, which Pillow also steps over
        jpeg_bytes[:2] + comment + b"\x00" + b"\xff" * 8_000_000 + jpeg_bytes[2:],  # a junk byte, then fill
        jpeg_bytes[:2] + b"\xff\xfe\x00\x00" + comment * 1_000_000 + jpeg_bytes[2:],  # a length under 2 first
        jpeg_bytes[:2] + b"\xff\xd9" + comment * 1_000_000 + jpeg_bytes[2:],  # an end of image Pillow reads past
        jpeg_bytes[:-2] + last_scan * (257 - scans) + jpeg_bytes[-2:],
        png_bytes[:33] + _chunk(b"abCd") * 300_000 + png_bytes[33:],  # empty private chunks after IHDR
        png_bytes[:idat_at] + _chunk(b"IDAT") * 200_000 + png_bytes[idat_at:],  # empty image data chunks
        # Few segments and chunks, but contents Pillow reads item by item or inflates:
        jpeg_bytes[:2] + _segment(0xC0, bytes([8, 0, 16, 0, 16, 3]) + b"\x01\x11\x00" * 13_000) * 2 + jpeg_bytes[2:],
        jpeg_bytes[:2] + _segment(0xDB, (b"\x00" + bytes(64)) * 1008) * 2 + jpeg_bytes[2:],  # quantisation tables
        jpeg_bytes[:2] + _segment(0xED, b"Photoshop 3.0\0" + bytes(65_000)) * 17 + jpeg_bytes[2:],
        jpeg_bytes[:2] + _segment(0xE1, b"Exif\0\0" + bytes(65_000)) * 17 + jpeg_bytes[2:],  # joined by Pillow
        png_bytes[:33] + _chunk(b"iCCP", b"p\0\0" + zlib.compress(bytes(1000))) * 33 + png_bytes[33:],
        png_bytes[:33] + _chunk(b"zTXt", b"\0\0" + zlib.compress(bytes(1000))) * 33 + png_bytes[33:],
    ]
    for data in floods:  # refused by the count, in 1-60 ms here, before Pillow sees a byte
        with pytest.raises(InvalidInput, match="refused unparsed"):
            decode_image(data, PixelBudget(1000))


def test_the_pixel_limit_holds_for_the_whole_request() -> None:
    """Three images of 100 pixels fit a budget of 300; a fourth is refused from its header."""
    budget = PixelBudget(300)
    for _ in range(3):
        decode_image(png(20, 5), budget)
    with pytest.raises(PayloadTooLarge, match="after 300 pixels in earlier images of this request"):
        decode_image(png(20, 5), budget)


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 64 * 4).astype(np.uint16).reshape(4, 64)  # (H, W)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode.startswith("I")
    decoded = np.asarray(decode_image(buffer.getvalue(), PixelBudget(1000)))  # (H, W, 3)
    assert np.abs(decoded[..., 0].astype(int) - np.round(ramp / 257)).max() <= 1
    assert (decoded == 255).mean() < 0.01  # Pillow's own conversion saturated 99.6% of such a ramp


def test_keypoints_map_back_exactly_through_the_letterbox() -> None:
    """A point at the centre of source pixel (c, r) comes back there, on both the padded and the filled axis."""
    card = ModelCard(
        name="p",
        version=1,
        task="pose",
        architecture="x",
        sha256="0",
        inputs=[TensorSpec(name="image", datatype="FP32", shape=[-1, 3, 48, 64])],
        outputs=[
            TensorSpec(name="keypoints", datatype="FP32", shape=[-1, 3, 2]),
            TensorSpec(name="confidence", datatype="FP32", shape=[-1, 3]),
        ],
        preprocessing=Preprocessing(input_size=(48, 64), resize="letterbox"),
    )
    size = input_size(card)
    geometry = fit_letterbox((0, 0, 200, 50), size)
    source = np.array([[0.5, 0.5], [199.5, 49.5], [100.25, 10.0]])
    normalized = geometry.to_output(source) / [size[1], size[0]]  # what a perfect model would output
    outputs = {"keypoints": normalized[None], "confidence": np.ones((1, 3), np.float32)}
    points, scores = decode_card_outputs(outputs, card, size)
    np.testing.assert_allclose(geometry.to_source(points[0]), source, atol=1e-9)
    np.testing.assert_array_equal(scores, 1.0)


def test_archives_that_unpack_too_large_are_refused_before_reading() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 2_000_000)  # a few KB compressed
    limits = SetLimits(max_unpacked_bytes=1_000_000, max_samples=10, max_pixels=100, max_annotation_bytes=1_000_000)
    assert len(buffer.getvalue()) < 10_000
    with pytest.raises(PayloadTooLarge, match="POSECAST_MAX_EVAL_UNPACKED_BYTES"):
        read_pose_set(buffer.getvalue(), limits)


def test_evaluation_sets_score_only_people_with_a_box_of_a_pixel_or_more() -> None:
    """A sub-pixel box would overflow its crop's scale (the /v1 pose route refuses one); in a set it is skipped."""
    keypoints = [value for i in range(17) for value in (10 + i, 10 + i, 2)]
    people = [([10, 10, 1e-306, 1e-306], 1), ([10, 10, 40, 40], 2)]
    annotations = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)]}],
        "annotations": [
            {"id": i, "image_id": 1, "category_id": 1, "keypoints": keypoints, "bbox": box} for box, i in people
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("set/person_keypoints.json", json.dumps(annotations))
        archive.writestr("set/a.png", png(60, 60))
    limits = SetLimits(max_unpacked_bytes=1_000_000, max_samples=10, max_pixels=10_000, max_annotation_bytes=100_000)
    dataset = read_pose_set(buffer.getvalue(), limits)
    assert dataset.truth.annotation_ids[dataset.rows].tolist() == [2]


def test_jobs_are_bounded_report_progress_and_expire() -> None:
    async def scenario() -> None:
        jobs = JobManager(max_running=1, ttl_s=60)  # far longer than this test: expiry comes from backdating
        started, release = asyncio.Event(), asyncio.Event()

        async def work(job: Job) -> dict[str, Any]:
            job.done = 1
            started.set()
            await release.wait()
            job.done = 2
            return {"answer": 42}

        job = jobs.submit("first", 2, None, work)
        await started.wait()
        assert jobs.get(job.id, None).view()["progress"] == {"done": 1, "total": 2}
        with pytest.raises(Overloaded, match="POSECAST_MAX_JOBS"):
            jobs.submit("second", 1, None, work)
        release.set()
        assert job.task is not None
        await job.task
        view = jobs.get(job.id, None).view()
        assert (view["status"], view["result"], view["progress"]["done"]) == ("succeeded", {"answer": 42}, 2)

        async def broken(job: Job) -> dict[str, Any]:
            raise InvalidInput("sequences[3] is wrong")

        failed = jobs.submit("third", 1, None, broken)
        assert failed.task is not None
        await failed.task
        assert (jobs.get(failed.id, None).status, jobs.get(failed.id, None).error) == (
            "failed",
            "sequences[3] is wrong",
        )
        assert job.finished is not None
        job.finished -= 61  # finished longer ago than the TTL
        with pytest.raises(JobNotFound):
            jobs.get(job.id, None)
        assert jobs.get(failed.id, None).status == "failed"  # still within its TTL
        await jobs.close()

    asyncio.run(scenario())


def test_an_upload_holds_a_job_slot_while_it_is_read() -> None:
    """With one slot, a second upload is refused before it is unpacked, and a running job holds the slot too."""

    async def scenario() -> None:
        jobs = JobManager(max_running=1, ttl_s=60)
        with jobs.slot():
            with pytest.raises(Overloaded, match="POSECAST_MAX_JOBS"), jobs.slot():
                pass
            release = asyncio.Event()

            async def work(job: Job) -> dict[str, Any]:
                await release.wait()
                return {}

            job = jobs.submit("evaluate", 1, None, work)  # the upload's own slot becomes the job's
        with pytest.raises(Overloaded), jobs.slot():
            pass
        release.set()
        assert job.task is not None
        await job.task
        with jobs.slot():
            pass

    asyncio.run(scenario())


def test_large_jpegs_decode_reduced_and_points_scale_back() -> None:
    """A bright square at a known place in a 1601 x 1203 JPEG lands at the same place after an 8x reduced decode
    (factor 8, upload size kept). A JPEG that EXIF turns decodes whole: libjpeg pads a reduced image to whole
    blocks, and turning would move that padding across the picture."""
    image = Image.new("RGB", (1601, 1203), (20, 20, 20))
    image.paste((250, 250, 250), (1200, 300, 1264, 364))  # centre (1232, 332)
    for orientation, centre, factor in ((1, (1232, 332), 8), (6, (1203 - 332, 1232), 1)):  # 6: turned clockwise
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=95, exif=exif)
        decoded = decode_reduced(buffer.getvalue(), PixelBudget(2_000_000), fit=Fit((128, 128)))
        assert decoded.factor == factor
        assert decoded.size == ((1601, 1203) if orientation == 1 else (1203, 1601))
        bright = np.argwhere(np.asarray(decoded.image)[..., 0] > 128)  # (row, column)
        found = (bright.mean(axis=0)[::-1] + 0.5) * decoded.factor
        np.testing.assert_allclose(found, centre, atol=decoded.factor)
    png = io.BytesIO()
    image.save(png, format="PNG")
    assert decode_reduced(png.getvalue(), PixelBudget(2_000_000), fit=Fit((128, 128))).factor == 1  # JPEGs only


@pytest.mark.parametrize(
    ("size", "fit", "factor"),
    [
        ((1920, 1080), Fit((128, 128)), 8),  # letterboxed to 128 x 72: 240 x 135 keeps both
        ((320, 240), Fit((128, 128)), 2),  # to 128 x 96: 160 x 120
        ((320, 240), Fit((128, 128), stretch=True), 1),  # stretched to 128 x 128: 120 rows would be too few
        ((1920, 1080), Fit((256, 192)), 8),  # letterboxed to 192 x 108 (H, W = 256, 192): 240 x 135
        ((100, 80), Fit((128, 128)), 1),  # smaller than the input: never reduced
    ],
)
def test_a_jpeg_decodes_as_small_as_the_input_it_fills_allows(size: tuple[int, int], fit: Fit, factor: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buffer, format="JPEG")
    decoded = decode_reduced(buffer.getvalue(), PixelBudget(10_000_000), fit=fit)
    assert decoded.factor == factor
    assert decoded.size == size
    wanted = fit.resampled_size(*size)
    assert decoded.image.width >= min(wanted[0], size[0])
    assert decoded.image.height >= min(wanted[1], size[1])


def test_a_shared_folder_lets_every_process_answer_for_a_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two managers over one folder, as two workers: the one that did not run the job reads its progress, its
    result, its owner check and its expiry from the folder."""
    monkeypatch.setattr(jobs_module, "PUBLISH_EVERY_S", 0.0)  # every progress step reaches the folder

    async def scenario() -> None:
        runner, other = JobManager(1, ttl_s=60, shared=tmp_path), JobManager(1, ttl_s=60, shared=tmp_path)
        started, release = asyncio.Event(), asyncio.Event()

        async def work(job: Job) -> dict[str, Any]:
            runner.advance(job, 3)
            started.set()
            await release.wait()
            return {"answer": 42}

        job = runner.submit("shared", 5, "owner-digest", work)
        await started.wait()
        assert other.get(job.id, "owner-digest").view()["progress"] == {"done": 3, "total": 5}
        with pytest.raises(JobNotFound):
            other.get(job.id, "someone-else")
        with pytest.raises(JobNotFound):
            other.get("../" + job.id, "owner-digest")  # only job ids name files
        release.set()
        assert job.task is not None
        await job.task
        view = other.get(job.id, "owner-digest").view()
        assert (view["status"], view["result"]) == ("succeeded", {"answer": 42})
        assert job.finished is not None
        job.finished -= 61
        runner._publish(job)  # as it was written when it finished, long ago
        with pytest.raises(JobNotFound):
            other.get(job.id, "owner-digest")
        with pytest.raises(JobNotFound):
            runner.get(job.id, "owner-digest")  # the runner purges it, file included
        assert not list(tmp_path.iterdir())
        await runner.close()

    asyncio.run(scenario())


def test_a_running_job_of_a_process_that_died_reads_as_failed(tmp_path: Path) -> None:
    """A worker killed mid-job leaves a "running" record; the others must not answer "running" for ever."""

    async def scenario() -> None:
        owner = JobManager(1, ttl_s=60, shared=tmp_path)
        started = asyncio.Event()

        async def work(job: Job) -> dict[str, Any]:
            started.set()
            await asyncio.Event().wait()  # runs until cancelled
            return {}

        job = owner.submit("orphaned", 3, None, work)
        await started.wait()
        record_path = tmp_path / f"{job.id}.json"
        record = json.loads(record_path.read_text())
        with subprocess.Popen([sys.executable, "-c", "pass"]) as gone:
            gone.wait()
        record["pid"] = gone.pid  # as if written by a process that has exited since
        record_path.write_text(json.dumps(record))
        view = JobManager(1, ttl_s=60, shared=tmp_path).get(job.id, None).view()
        assert (view["status"], view["error"]) == ("failed", "the server process running it stopped")
        await owner.close()

    asyncio.run(scenario())
