"""Hostile and careless input against a real server: a clear 4xx (or 503) with a JSON body, never a 500, and the
server keeps serving. Each case reproduces a hole found by trying to break the service."""

from __future__ import annotations

import bz2
import io
import json
import math
import re
import select
import socket
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from benchmarks.load import binary_request
from benchmarks.server import ROOT
from tests.service.conftest import Server

RunServer = Callable[..., Server]
DEEP_JSON = b"[" * 200_000 + b"]" * 200_000
ZEROS = json.dumps({"inputs": [{"name": "history", "shape": [1, 4, 3], "datatype": "FP32", "data": [0.0] * 12}]})


@pytest.fixture(scope="module")
def http(task_server: Server) -> Iterator[httpx.Client]:
    with task_server.client() as client:
        yield client


def strict_json(response: httpx.Response) -> Any:
    """The body as JSON that any parser takes: no bare NaN or Infinity."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"invalid JSON constant {constant} in {response.text[:200]}")

    return json.loads(response.text, parse_constant=refuse)


def assert_refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text[:500]
    error = strict_json(response)["error"]
    for word in words:
        assert word in error, error


@pytest.fixture(autouse=True)
def still_serving(http: httpx.Client) -> Iterator[None]:
    """After every case, the server still answers a plain request."""
    yield
    assert http.post("/v2/models/series/infer", content=ZEROS).status_code == 200


def npy(shape: tuple[int, ...], payload: bytes) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + payload


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_header_length_with_thousands_of_digits(http: httpx.Client) -> None:
    headers = {"Inference-Header-Content-Length": "9" * 5000}
    response = http.post("/v2/models/series/infer", content=ZEROS, headers=headers)
    assert_refused(response, 400, "Inference-Header-Content-Length", "5000 characters")


def test_version_segments_take_ascii_digits_only(http: httpx.Client) -> None:
    assert_refused(http.get("/v2/models/series/versions/\u0661"), 404, "no version")  # Arabic-Indic one
    assert_refused(http.get("/v2/models/series/versions/" + "1" * 5000), 404, "no version")
    assert http.get("/v2/models/series/versions/1").status_code == 200


def test_a_number_past_float64(http: httpx.Client) -> None:
    body = b'{"sequence": [[1' + b"0" * 400 + b', 2, 3], [1, 2, 3]], "horizon": 1}'
    response = http.post("/v1/models/series/forecast", content=body, headers={"Content-Type": "application/json"})
    assert_refused(response, 400, "too large for float64")


def test_an_npy_header_claiming_a_terabyte(http: httpx.Client) -> None:
    files = {"sequence": ("walk.npy", npy((10**11, 17, 2), b"\0" * 64))}
    assert_refused(http.post("/v1/models/keypoints/forecast", files=files), 400, "declares shape", "64 bytes")


def test_a_zip_posted_as_a_sequence(http: httpx.Client) -> None:
    files = {"sequence": ("walk.npy", zipped({"walk.npy": npy((2, 3), b"\0" * 24)}))}
    assert_refused(http.post("/v1/models/series/forecast", files=files), 400, "send one array as a .npy")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e39"])
def test_v2_refuses_non_finite_inputs(http: httpx.Client, value: str) -> None:
    body = '{"inputs": [{"name": "history", "shape": [1, 4, 3], "datatype": "FP32", "data": [%s%s]}]}'
    response = http.post("/v2/models/series/infer", content=body % (value, ", 0" * 11))
    assert_refused(response, 400, "NaN or infinity")


def test_a_forecast_that_overflows_is_refused_not_null(http: httpx.Client) -> None:
    """Finite inputs near float32's limit overflow inside the model: 422 instead of a 200 full of nulls."""
    body = {"sequence": [[3e38, 3e38, 3e38]] * 4, "horizon": 1}
    assert_refused(http.post("/v1/models/series/forecast", json=body), 422, "NaN or infinity")
    v2 = {"inputs": [{"name": "history", "shape": [1, 4, 3], "datatype": "FP32", "data": [3e38] * 12}]}
    assert_refused(http.post("/v2/models/series/infer", json=v2), 422, "NaN or infinity")


def test_mse_of_values_whose_squares_overflow(http: httpx.Client) -> None:
    body = {"predictions": [[1e308, -1e308]], "targets": [[-1e308, 1e308]]}
    assert_refused(http.post("/v1/evaluate/mse", json=body), 400, "overflow")


def test_coco_json_nested_200000_deep(http: httpx.Client) -> None:
    files = {"annotations": ("a.json", DEEP_JSON), "results": ("r.json", b"[]")}
    assert_refused(http.post("/v1/evaluate/pck", files=files), 400, "nested too deeply")
    dataset = zipped({"person_keypoints.json": DEEP_JSON})
    response = http.post("/v1/models/pose/evaluate", files={"dataset": ("set.zip", dataset)})
    assert_refused(response, 400, "nested too deeply")


def test_a_coco_box_of_1e308(http: httpx.Client) -> None:
    person = {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [5, 5, 2] * 17, "bbox": [0, 0, 1e308, 1e308]}
    annotations = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "annotations": [person],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)]}],
    }
    results = [{"image_id": 1, "category_id": 1, "keypoints": [5, 5, 1] * 17, "score": 1.0}]
    files = {"annotations": ("a.json", json.dumps(annotations)), "results": ("r.json", json.dumps(results))}
    assert_refused(http.post("/v1/evaluate/pck", files=files), 400, "bbox", "pixels")


def _damaged_zip(field: int, change: Callable[[int], int]) -> bytes:
    """A deflated member with one 32-bit field of its central directory entry (offset `field`; the local header
    holds the same field two bytes earlier) rewritten: the CRC (16) or the uncompressed size (24)."""
    data = bytearray(zipped({"person_keypoints.json": json.dumps({"images": [{"id": 1}] * 50}).encode()}))
    for header, offset in ((b"PK\x01\x02", field), (b"PK\x03\x04", field - 2)):
        position = data.find(header) + offset
        (value,) = struct.unpack_from("<I", data, position)
        struct.pack_into("<I", data, position, change(value))
    return bytes(data)


@pytest.mark.parametrize(
    ("field", "change", "words"),
    [
        (16, lambda crc: crc ^ 0x5A5A, "damaged or truncated"),
        (24, lambda size: size // 2, "damaged or truncated"),
        (24, lambda size: size * 2, "annotation file is missing"),  # overstated: the data is intact
    ],
    ids=["bad CRC", "size understated", "size overstated"],
)
def test_evaluation_zips_that_lie(http: httpx.Client, field: int, change: Callable[[int], int], words: str) -> None:
    response = http.post("/v1/models/pose/evaluate", files={"dataset": ("set.zip", _damaged_zip(field, change))})
    assert_refused(response, 400, words)


def test_a_truncated_tar_gz(http: httpx.Client) -> None:
    buffer = io.BytesIO()
    payload = np.random.default_rng(0).bytes(50_000)
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("set/person_keypoints.json")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    truncated = buffer.getvalue()[:20_000]
    response = http.post("/v1/models/pose/evaluate", files={"dataset": ("set.tar.gz", truncated)})
    assert_refused(response, 400, "damaged or truncated")


def _resident_mib(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def test_an_npz_member_counts_against_the_unpacked_limit(http: httpx.Client, task_server: Server) -> None:
    """320 MB of zeros in a ~300 KB upload: refused from the members' declared sizes, before decompressing."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("sequences.npy", "w", force_zip64=True) as member:
            member.write(npy((80_000_000,), b""))
            for _ in range(320):
                member.write(bytes(1 << 20))
        archive.writestr("targets.npy", npy((1,), b"\0" * 4))
    before = _resident_mib(task_server)
    response = http.post("/v1/models/series/evaluate", files={"dataset": ("set.npz", buffer.getvalue())})
    assert_refused(response, 413, "POSECAST_MAX_EVAL_UNPACKED_BYTES")
    assert _resident_mib(task_server) - before < 50


def test_strict_json_refuses_a_bare_nan(http: httpx.Client) -> None:
    """The control for strict_json: it does catch a bare NaN."""
    fake = httpx.Response(200, text='{"a": NaN}')
    with pytest.raises(AssertionError, match="NaN"):
        strict_json(fake)
    assert math.isnan(json.loads(fake.text)["a"])  # what a lenient parser would have let through


def test_the_pixel_limit_holds_per_request(http: httpx.Client) -> None:
    """Four images of 160,000 pixels each against a 250,000-pixel budget: refused at the second image's header."""
    image = io.BytesIO()
    Image.new("RGB", (400, 400), (200, 10, 10)).save(image, format="PNG")
    files = [("image", (f"{i}.png", image.getvalue(), "image/png")) for i in range(4)]
    assert_refused(http.post("/v1/models/pose/pose", files=files), 413, "earlier images of this request")


def test_one_request_cannot_send_more_than_its_batch_limit(http: httpx.Client) -> None:
    request = binary_request({"history": np.zeros((65, 4, 3), np.float32)})
    response = http.post("/v2/models/series/infer", content=request.content, headers=request.headers)
    assert_refused(response, 413, "at most 64 per request", "max_request_batch_size")


def test_declared_shapes_count_against_the_element_limit_before_any_data(http: httpx.Client) -> None:
    header = {"inputs": [{"name": "history", "shape": [1, 10**9, 3], "datatype": "FP32", "data": [0.0]}]}
    assert_refused(http.post("/v2/models/series/infer", json=header), 413, "POSECAST_MAX_REQUEST_ELEMENTS")


def test_json_responses_are_capped_and_binary_ones_are_not(task_repository: Path, run_server: RunServer) -> None:
    server = run_server(task_repository, max_response_bytes="2000")  # 100 numbers as JSON
    history = {"history": np.zeros((8, 4, 3), np.float32)}  # answers 8 x 6 x 3 = 144 numbers
    with server.client() as client:
        as_json = binary_request(history, binary_output=False)
        response = client.post("/v2/models/series/infer", content=as_json.content, headers=as_json.headers)
        assert_refused(response, 413, "144 numbers", "binary_data_output")
        as_binary = binary_request(history)
        assert client.post("/v2/models/series/infer", content=as_binary.content, headers=as_binary.headers).is_success


def test_a_tar_member_declaring_gigabytes_is_refused_from_its_header(http: httpx.Client) -> None:
    """4.6 KB of .tar.bz2 that declared a 4 GB member took 15 s of CPU to skip; the header alone decides now."""
    member = tarfile.TarInfo("set/person_keypoints.json")
    member.size = 4 << 30
    archive = bz2.compress(member.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096))
    response = http.post("/v1/models/pose/evaluate", files={"dataset": ("set.tar.bz2", archive)})
    assert_refused(response, 413, "POSECAST_MAX_EVAL_UNPACKED_BYTES")


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes this connection within 10 s (the deadlines under test are 1 s)."""
    sock.settimeout(10)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False


def test_connections_with_incomplete_heads_are_closed(task_repository: Path, run_server: RunServer) -> None:
    server = run_server(task_repository, header_timeout_s="1")
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as silent, socket.create_connection((host, int(port))) as slow:
        slow.sendall(b"POST /v2/models/series/infer HTTP/1.1\r\nHost: x\r\nContent-Ty")
        assert _closed_by_server(silent)
        assert _closed_by_server(slow)
    with server.client() as client:
        assert client.post("/v2/models/series/infer", content=ZEROS).status_code == 200


def _answer(sock: socket.socket, timeout_s: float = 10) -> str:
    """What the server sends until it closes the connection ("" when it sends nothing within `timeout_s`); a reset,
    when it closed with bytes of ours unread, ends the answer too."""
    sock.settimeout(timeout_s)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received.decode(errors="replace")


def test_a_stalled_body_gets_408_and_a_vanished_client_one_log_line(
    task_repository: Path, run_server: RunServer
) -> None:
    server = run_server(task_repository, body_timeout_s="1")
    host, port = server.url.removeprefix("http://").split(":")
    head = b"POST /v1/evaluate/mse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(head + b'{"predictions": ')
        answer = _answer(stalled)
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "POSECAST_BODY_TIMEOUT_S" in answer
    with socket.create_connection((host, int(port))) as vanishing:  # a route that reads its body itself
        vanishing.sendall(head.replace(b"/v1/evaluate/mse", b"/v2/models/series/infer") + b'{"inputs": ')
    deadline = time.monotonic() + 10
    while "client disconnected before its request was read" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "client disconnected before its request was read" in server.logs()
    assert "Traceback" not in server.logs()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v2/models/series/infer HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v2/models/series/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
    ],
    ids=["content-length", "chunk size", "nul in a header"],
)
def test_what_the_http_parser_cannot_read_gets_a_json_400(task_server: Server, request_bytes: bytes) -> None:
    host, port = task_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(request_bytes)
        head, _, body = _answer(connection).partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400"), head
    assert "content-type: application/json" in head.lower()
    assert json.loads(body)["error"]
    with task_server.client() as client:
        assert client.post("/v2/models/series/infer", content=ZEROS).status_code == 200


def _send_head(server: Server, parts: list[bytes], pause_s: float = 0.02) -> str:
    """Each part written on its own (a pause between, so the server reads them apart); the server's answer."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        try:
            for part in parts:
                connection.sendall(part)
                time.sleep(pause_s)
        except OSError:  # refused and closed before the rest was written
            pass
        return _answer(connection)


def test_a_request_head_past_its_limit_gets_a_json_431_and_the_connection_closes(task_server: Server) -> None:
    """uvicorn and httptools set no limit: 200 MB of headers held 220 MB of the process, and a long header value
    is copied whole each time a part of it arrives. Heads of a real size, and bodies, are not counted."""
    start = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n"
    header = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    too_long = [
        [start, *[header * 10] * 10],  # 100 headers of a kilobyte, in ten reads
        [start + header * 1000],  # a megabyte at once
        [start + b"X-Long: ", *[b"a" * 20_000] * 10],  # one value of 200 kB
    ]
    for parts in too_long:
        head, _, body = _send_head(task_server, parts).partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 431"), head
        assert "connection: close" in head.lower()
        assert "POSECAST_MAX_HEAD_BYTES" in json.loads(body)["error"]
    within = _send_head(task_server, [start, *[header * 10] * 6, b"\r\n"])  # 60 kB in seven reads
    assert within.startswith("HTTP/1.1 200"), within[:200]
    body = json.dumps({"inputs": [{"name": "history", "shape": [1, 4, 3], "datatype": "FP32", "data": [0.0] * 12}]})
    padded = body[:-1] + ',"id":"' + "a" * 500_000 + '"}'  # a 500 kB body after a small head, in one write
    post = b"POST /v2/models/series/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    answered = _send_head(task_server, [post % len(padded) + padded.encode()])
    assert answered.startswith("HTTP/1.1 200"), answered[:200]
    with task_server.client() as client:
        assert client.get("/v2/health/ready").status_code == 200


def test_a_connection_past_the_limit_gets_a_json_503_and_the_ones_before_it_are_served(
    task_repository: Path, run_server: RunServer
) -> None:
    server = run_server(task_repository, max_connections="3")
    host, port = server.url.removeprefix("http://").split(":")
    time.sleep(0.3)  # the readiness probe's connection gone
    held = [socket.create_connection((host, int(port))) for _ in range(3)]
    try:
        time.sleep(0.3)  # all three accepted
        with socket.create_connection((host, int(port))) as one_more:
            head, _, body = _answer(one_more).partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 503"), head
        assert "retry-after: 1" in head.lower()
        assert "POSECAST_MAX_CONNECTIONS" in json.loads(body)["error"]
        held[0].sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _answer(held[0]).startswith("HTTP/1.1 200")
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.3)
    with server.client() as client:
        assert client.get("/v2/health/ready").status_code == 200


def test_a_client_that_leaves_its_answers_unread_is_dropped_and_a_slow_reader_is_not(
    task_repository: Path, run_server: RunServer
) -> None:
    """Sixteen pipelined 1.7 MB answers (Swagger UI's script) fill the kernel's buffers and then the server's own:
    a client that reads none of them is dropped after the send timeout, one that keeps reading a little gets its
    answer whole."""
    server = run_server(task_repository, send_timeout_s="2")
    host, port = server.url.removeprefix("http://").split(":")
    script = (ROOT / "service/static/vendor/swagger-ui/swagger-ui-bundle.js").stat().st_size
    get = b"GET /static/vendor/swagger-ui/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n"

    def connect() -> socket.socket:
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, set before connecting
        connection.connect((host, int(port)))
        return connection

    def read_until_closed(connection: socket.socket, slow_for_s: float = 0) -> bytes:
        """4 kB every 0.3 s for `slow_for_s` (a pace at which the kernel's queue takes longer than the timeout to
        make room for the server's buffer), then as fast as it comes."""
        connection.settimeout(10)
        slow_until = time.monotonic() + slow_for_s
        received = b""
        try:
            while chunk := connection.recv(4096):
                received += chunk
                if time.monotonic() < slow_until:
                    time.sleep(0.3)
        except ConnectionResetError:
            pass
        return received

    with connect() as idle:
        idle.sendall(get * 16)
        time.sleep(6)
        dropped = read_until_closed(idle)
    assert dropped.count(b"HTTP/1.1 200") < 16, len(dropped)  # answers left unsent

    with connect() as slow:
        slow.sendall(get * 3 + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = read_until_closed(slow, slow_for_s=6)
    assert answers.count(b"HTTP/1.1 200") == 4
    assert len(answers) > 3 * script


def test_pipelined_requests_of_a_client_that_left_are_not_answered_into_a_closed_socket(task_server: Server) -> None:
    host, port = task_server.url.removeprefix("http://").split(":")
    quick = b"POST /v2/models/series/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        len(ZEROS),
        ZEROS.encode(),
    )
    photo = io.BytesIO()  # a few milliseconds to decode: still running when its client leaves
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (500, 500, 3), dtype=np.uint8)).save(photo, "PNG")
    slow = (
        b"POST /v1/models/pose/pose HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n%s"
        % (
            len(photo.getvalue()),
            photo.getvalue(),
        )
    )
    logged = task_server.log.stat().st_size
    counted = _pose_requests_counted(task_server)
    for _ in range(10):  # three requests at once; read the start of the first answer and leave
        with socket.create_connection((host, int(port))) as leaving:
            leaving.sendall(quick + slow + quick)
            leaving.recv(100)
    with socket.create_connection((host, int(port))) as staying:
        staying.sendall(quick + slow + quick)
        staying.settimeout(10)
        answers = b""
        while answers.count(b"HTTP/1.1 200") < 3:
            chunk = staying.recv(65536)
            assert chunk, answers  # closed before the three answers
            answers += chunk
    # Each slow request that ran ends with its outcome counted ("cancelled" for the clients that left; one whose
    # client left before it began never runs), and the answer, or the error this test looks for, follows at once:
    # wait until the count has stood still for half a second.
    deadline = time.monotonic() + 10
    last, still_since = counted, time.monotonic()
    while time.monotonic() - still_since < 0.5:
        assert time.monotonic() < deadline, "the slow requests of the clients that left kept ending for 10 s"
        time.sleep(0.05)
        now = _pose_requests_counted(task_server)
        if now != last:
            last, still_since = now, time.monotonic()
    assert last > counted  # the staying client's at least
    new_logs = task_server.log.read_bytes()[logged:].decode(errors="replace")
    assert "Traceback" not in new_logs
    assert "ERROR" not in new_logs


_POSE_REQUESTS = 'posecast_requests_total{model="pose",'


def _pose_requests_counted(server: Server) -> float:
    """Pose requests ended so far, whatever their outcome (the clients that left: "cancelled")."""
    with server.client() as client:
        exposition = client.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines() if line.startswith(_POSE_REQUESTS))


def test_a_body_trickled_in_time_part_by_part_still_has_a_deadline(
    task_repository: Path, run_server: RunServer
) -> None:
    server = run_server(task_repository, body_timeout_s="1.5", body_deadline_s="2")
    host, port = server.url.removeprefix("http://").split(":")
    head = b"POST /v1/evaluate/mse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    started = time.monotonic()
    with socket.create_connection((host, int(port))) as trickle:
        trickle.sendall(head + b"{")
        while not select.select([trickle], [], [], 0.25)[0] and time.monotonic() - started < 10:
            trickle.sendall(b" ")  # a part every 0.25 s: each in time, the whole body not
        answer = _answer(trickle)
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "POSECAST_BODY_DEADLINE_S" in answer
    assert 1.9 < time.monotonic() - started < 6


def _pending_body_bytes(server: Server) -> float:
    metrics = httpx.get(f"{server.url}/metrics").text
    return float(re.search(r"^posecast_pending_body_bytes (\S+)$", metrics, re.MULTILINE)[1])


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_bodies_still_arriving_share_one_memory_budget(task_repository: Path, run_server: RunServer) -> None:
    """Uploads that send most of a body and then trickle held 30 MiB each for as long as they liked; now the
    bodies still arriving hold at most POSECAST_MAX_PENDING_BODY_BYTES (exported on /metrics), and one whose
    client left gives its share back."""
    server = run_server(task_repository, max_body_bytes=str(1 << 20), max_pending_body_bytes=str(1 << 20))
    host, port = server.url.removeprefix("http://").split(":")
    head = b"POST /v2/models/series/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 20)
    with socket.create_connection((host, int(port))) as holding:
        holding.sendall(head + b" " * (1000 << 10))  # 1000 KiB of 1024, then nothing
        _until(lambda: _pending_body_bytes(server) == 1000 << 10, "the first upload's bytes were never counted")
        with socket.create_connection((host, int(port))) as late:
            late.sendall(head + b" " * (60 << 10))  # past the budget by 36 KiB
            answer = _answer(late)
        assert answer.startswith("HTTP/1.1 503"), answer
        assert "retry-after: 1" in answer.lower()
        assert "POSECAST_MAX_PENDING_BODY_BYTES" in answer
    _until(lambda: _pending_body_bytes(server) == 0, "the closed upload's bytes were never given back")
    with server.client() as client:
        assert client.post("/v2/models/series/infer", content=b" " * (1 << 20)).status_code == 400  # read whole
        assert client.post("/v2/models/series/infer", content=ZEROS).status_code == 200
    assert _pending_body_bytes(server) == 0


def test_an_answer_that_began_without_the_body_is_not_cut_by_the_body_limits(
    task_repository: Path, run_server: RunServer
) -> None:
    """The demo page is a file response, which reads the request on only to see the client leave: a chunked body
    past the limit used to raise inside it after the 200 went out (a cut answer, two ERROR tracebacks)."""
    server = run_server(task_repository, max_body_bytes=str(1 << 20))
    host, port = server.url.removeprefix("http://").split(":")
    body = b"x" * (1100 << 10)
    logged = server.log.stat().st_size
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
            % (len(body), body)
        )
        head, _, page = _answer(connection).partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    length = int(re.search(r"content-length: (\d+)", head, re.IGNORECASE)[1])
    assert len(page.encode()) == length
    assert "Traceback" not in server.log.read_bytes()[logged:].decode(errors="replace")
    assert _pending_body_bytes(server) == 0


@pytest.mark.parametrize("count", [b"2 ", b"0" * 5000 + b"2"], ids=["whitespace after", "5,000 leading zeros"])
def test_a_content_length_that_http_allows_is_read(task_server: Server, count: bytes) -> None:
    """Whitespace around it was read as malformed; 5,000 leading zeros passed the parser and broke int()."""
    host, port = task_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /v1/evaluate/mse HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Content-Length: %s\r\n\r\n{}" % count
        )
        answer = _answer(connection)
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "predictions" in answer  # read and validated: the body lacks its fields


def test_the_annotation_document_has_its_own_limit(task_repository: Path, run_server: RunServer) -> None:
    """A 200 MB JSON array zipped into 270 KB cost 1.2 GB to parse; the document's size is checked first."""
    server = run_server(task_repository, max_eval_annotation_bytes="10000")
    dataset = zipped({"set/person_keypoints.json": json.dumps([0] * 10_000).encode()})
    with server.client() as client:
        response = client.post("/v1/models/pose/evaluate", files={"dataset": ("set.zip", dataset)})
    assert_refused(response, 413, "POSECAST_MAX_EVAL_ANNOTATION_BYTES")


def test_thirty_two_huge_single_colour_pngs_cost_one_image_of_memory(
    task_repository: Path, run_server: RunServer
) -> None:
    """The issue's case at the default limit: 32 copies of a 6300 x 6300 PNG (a few KB each) took 16.7 s and 5.2 GB;
    now the first image spends the request's pixel budget and the second is refused from its header."""
    server = run_server(task_repository)  # POSECAST_MAX_IMAGE_PIXELS at its default, 40,000,000
    image = io.BytesIO()
    Image.new("RGB", (6300, 6300), (90, 140, 200)).save(image, format="PNG")
    files = [("images", (f"{i}.png", image.getvalue(), "image/png")) for i in range(32)]
    before = _resident_mib(server)
    with server.client() as client:
        response = client.post("/v1/models/pose/pose", files=files)
        assert_refused(response, 413, "image 1 is 6300x6300", "earlier images of this request")
        assert client.post("/v2/models/series/infer", content=ZEROS).status_code == 200
    assert _resident_mib(server) - before < 200  # measured: +28 MB kept (peak +466 MB while the first decoded)
