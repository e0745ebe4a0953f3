"""`hey` as the load generator of the peer benchmark: its command line and its summary parsed.

A Go binary, so on a 2-core machine the client costs the servers far less CPU than a Python client would, and it
costs every server alike. It prints latencies in seconds with four decimals: 0.1 ms is the finest step.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = "hey is not on PATH: run `bash scripts/install-bench-deps.sh` first"
_TOTAL = re.compile(r"^\s*Total:\s+([\d.]+) secs", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(\d+)% in ([\d.]+) secs", re.MULTILINE)
_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Request:
    """What hey sends: one body, read from a file once, to one URL."""

    url: str
    body: Path
    content_type: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class HeyResult:
    """One hey run. Throughput counts 200 answers only: hey's own Requests/sec counts failures too."""

    clients: int
    total_s: float
    ok: int  # 200 answers
    errors: int  # other status codes plus transport errors
    p50_ms: float
    p99_ms: float
    status_codes: dict[str, int]
    error_lines: list[str]  # hey's error distribution, e.g. "connection refused"

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.total_s if self.total_s > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {"requests_per_s": round(self.requests_per_s, 2)}


def command(request: Request, clients: int, duration_s: float) -> list[str]:
    """`clients` workers, each sending its next request when the last one is answered, for `duration_s`."""
    headers = [part for name, value in request.headers.items() for part in ("-H", f"{name}: {value}")]
    return [
        "hey",
        *("-z", f"{duration_s:g}s", "-c", str(clients), "-m", "POST", "-T", request.content_type),
        *headers,
        *("-D", str(request.body), request.url),
    ]


def run(request: Request, clients: int, duration_s: float) -> HeyResult:
    """Run hey to completion (it stops itself after `duration_s`) and parse what it prints."""
    if shutil.which("hey") is None:
        raise SystemExit(INSTALL_HINT)
    done = subprocess.run(
        command(request, clients, duration_s), capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"hey exited with {done.returncode}: {done.stderr[-2000:]}")
    return parse(done.stdout, clients)


def parse(text: str, clients: int) -> HeyResult:
    """hey's default summary: total time, latency distribution, status codes and error distribution."""
    total = _TOTAL.search(text)
    if total is None:
        raise ValueError(f"not a hey summary (no 'Total:' line): {text[:200]!r}")
    percentiles = {int(q): round(float(seconds) * 1000, 3) for q, seconds in _PERCENTILE.findall(text)}
    statuses = {code: int(count) for code, count in _STATUS.findall(_section(text, "Status code distribution:"))}
    errors = _ERROR.findall(_section(text, "Error distribution:"))
    ok = statuses.get("200", 0)
    failed = sum(count for code, count in statuses.items() if code != "200") + sum(int(n) for n, _ in errors)
    return HeyResult(
        clients=clients,
        total_s=float(total.group(1)),
        ok=ok,
        errors=failed,
        p50_ms=percentiles.get(50, math.nan),
        p99_ms=percentiles.get(99, math.nan),
        status_codes=statuses,
        error_lines=[f"[{count}] {line.strip()}" for count, line in errors],
    )


def _section(text: str, title: str) -> str:
    """The `  [n] ...` lines right under `title` ('' when hey printed none: no answers, or no errors)."""
    lines = text.partition(title)[2].splitlines()[1:]  # [0] is the rest of the title's own line
    return "\n".join(itertools.takewhile(lambda line: line.startswith("  ["), lines))
