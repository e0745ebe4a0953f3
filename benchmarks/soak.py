"""Soak: minutes of V2 binary load from hey against one posecast server, watching errors and resident memory.

python -m benchmarks.soak [--minutes 5] [--clients 32] [--repository model_repository] [--workers N]

Passes when hey saw no error and the server's resident memory (every process of it) grew less than 10% between
the end of the warm-up and the end of the run. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import hey, report
from benchmarks.load import encode
from benchmarks.server import ROOT, ServerProcess
from benchmarks.serving import RESULTS, Runtime, _positive
from benchmarks.workloads import find_workloads

MAX_GROWTH = 0.10
WARMUP_S = 30.0
SAMPLE_EVERY_S = 5.0
PAGE = 4096


def resident_bytes(root: int) -> int:
    """RSS of `root` and every process below it (workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def soak(repository: Path, minutes: float, clients: int, workers: int) -> dict[str, Any]:
    workload = find_workloads(repository, ("pose",))[0]
    load_before = report.load_average()
    settings = Runtime(providers="CPUExecutionProvider").server_settings(32) | {"workers": str(workers)}
    with tempfile.TemporaryDirectory(prefix="posecast-soak-") as scratch:
        server = ServerProcess.start(repository, Path(scratch) / "server.log", settings)
        try:
            providers = server.wait_ready(timeout_s=120)
            body = encode(workload.inputs, "binary")
            path = Path(scratch) / "body"
            path.write_bytes(body.content)
            headers = {name: value for name, value in body.headers.items() if name != "Content-Type"}
            request = hey.Request(
                f"{server.url}/v2/models/{workload.name}/infer", path, body.headers["Content-Type"], headers
            )
            samples: list[tuple[float, int]] = []
            done = threading.Event()

            def sample() -> None:
                started = time.monotonic()
                while not done.wait(SAMPLE_EVERY_S):
                    samples.append((round(time.monotonic() - started, 1), resident_bytes(server.process.pid)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = hey.run(request, clients, minutes * 60)
            done.set()
            sampler.join()
        finally:
            server.stop()
    after_warmup = next(rss for at, rss in samples if at >= WARMUP_S)
    growth = samples[-1][1] / after_warmup - 1
    return {
        "timestamp": report.timestamp(),
        "machine": report.machine(server_providers=providers, load_before=load_before),
        "model": report.describe(workload),
        "plan": {"minutes": minutes, "clients": clients, "workers": workers, "warmup_s": WARMUP_S},
        "load": result.summary(),
        "rss_mib": [(at, round(rss / 2**20, 1)) for at, rss in samples],
        "rss_growth_after_warmup": round(growth, 4),
        "passed": result.errors == 0 and growth < MAX_GROWTH,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=_positive(float), default=5.0)
    parser.add_argument("--clients", type=_positive(int), default=32)
    parser.add_argument("--workers", type=_positive(int), default=1)
    parser.add_argument("--repository", type=Path, default=ROOT / "model_repository")
    args = parser.parse_args(argv)
    if args.minutes * 60 <= WARMUP_S + SAMPLE_EVERY_S:
        parser.error(f"a soak needs more than {WARMUP_S + SAMPLE_EVERY_S:g} s: the warm-up is {WARMUP_S:g} s")
    results = soak(args.repository.resolve(), args.minutes, args.clients, args.workers)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{results['timestamp']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    load = results["load"]
    print(
        f"{load['requests_per_s']:.0f} req/s for {args.minutes:g} min at {args.clients} clients, "
        f"{load['errors']} errors; "
        f"RSS {results['rss_mib'][0][1]} -> {results['rss_mib'][-1][1]} MiB "
        f"({results['rss_growth_after_warmup']:+.1%} after warm-up): {'passed' if results['passed'] else 'FAILED'}"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
