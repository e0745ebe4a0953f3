"""Parsing hey's summary, on texts captured from real hey runs against the peers (see data/)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import hey

DATA = Path(__file__).parent / "data"


def sample(name: str, clients: int = 4) -> hey.HeyResult:
    return hey.parse((DATA / f"hey_{name}.txt").read_text(), clients)


def test_a_clean_run_gives_throughput_and_percentiles() -> None:
    result = sample("ok")
    assert (result.ok, result.errors, result.clients) == (334, 0, 4)
    assert result.total_s == pytest.approx(2.0203)
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(18.9), pytest.approx(175.7))
    assert result.requests_per_s == pytest.approx(334 / 2.0203)
    assert result.status_codes == {"200": 334}


def test_non_200_answers_are_errors_and_not_throughput() -> None:
    result = sample("status_500")  # a wrong Inference-Header-Content-Length: every answer a 500
    assert (result.ok, result.errors) == (0, 9261)
    assert result.requests_per_s == 0  # hey itself printed 4627.9 Requests/sec for these failures
    assert result.status_codes == {"500": 9261}


def test_transport_errors_are_counted_and_kept() -> None:
    result = sample("refused")
    assert (result.ok, result.errors) == (0, 5)
    assert math.isnan(result.p50_ms)
    assert result.status_codes == {}
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith("[5] Post")
    assert "connection refused" in result.error_lines[0]


def test_fewer_than_100_answers_have_no_p99() -> None:
    result = sample("few_answers", clients=1)
    assert result.ok == 20
    assert result.p50_ms == pytest.approx(3.2)
    assert math.isnan(result.p99_ms)  # hey prints "0% in 0.0000 secs" in its place


def test_summary_is_json_ready() -> None:
    summary = sample("ok").summary()
    assert summary["requests_per_s"] == round(334 / 2.0203, 2)
    assert {"ok", "errors", "p50_ms", "p99_ms", "status_codes", "clients"} <= set(summary)


def test_text_that_is_not_a_summary_is_refused() -> None:
    with pytest.raises(ValueError, match="not a hey summary"):
        hey.parse("hey: command not found\n", 1)


def test_command_sends_the_body_file_with_its_headers(tmp_path: Path) -> None:
    body = tmp_path / "body"
    request = hey.Request("http://127.0.0.1:1/v2/models/m/infer", body, "application/octet-stream", {"X-A": "1"})
    command = hey.command(request, clients=16, duration_s=2.5)
    assert command[0] == "hey"
    assert command[command.index("-z") + 1] == "2.5s"
    assert command[command.index("-c") + 1] == "16"
    assert command[command.index("-T") + 1] == "application/octet-stream"
    assert command[command.index("-H") + 1] == "X-A: 1"
    assert command[-3:] == ["-D", str(body), request.url]
