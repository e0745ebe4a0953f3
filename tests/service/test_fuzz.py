"""schemathesis over the whole OpenAPI document, against a real server: no 5xx, every response as documented.

Every phase runs (schema examples, coverage, fuzzing, and the stateful phase that follows the document's links from
`GET /v1/models` to each model's operations), with a fixed seed and a bounded number of examples per operation, an
API key and the admin token supplied so that guarded routes are reached. Two things are left out, on purpose:
- `POST /v2/repository/models/{name}/unload`: it works, and afterwards that model answers 503 "not loaded" (the
  V2 protocol's answer for a model that is not ready) to every later case, which the server-error check counts.
- the `positive_data_acceptance` check: a request valid by the schema may still be refused with a clear 400,
  since what a model accepts (tensor names and shapes, rectangular arrays, image and archive bytes) is beyond
  what one OpenAPI document can say for every model.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.service.conftest import ADMIN_TOKEN, Server

API_KEY = "fuzz-key"
EXAMPLES_PER_OPERATION = 15
SEED = 20261201


@pytest.mark.slow
def test_no_server_errors_and_responses_match_the_schema(
    task_repository: Path, run_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = run_server(task_repository, api_keys=API_KEY)
    command = [
        str(Path(sys.executable).with_name("st")), "run", f"{server.url}/openapi.json", "--no-color",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--exclude-path-regex", "/unload$",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED), "--generation-database", "none",
        "--header", f"X-API-Key: {API_KEY}", "--header", f"X-Admin-Token: {ADMIN_TOKEN}",
        "--request-timeout", "30",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Scenarios:" in result.stdout, report  # the stateful phase ran, following the links
    assert "Traceback" not in server.logs()
