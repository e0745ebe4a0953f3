"""Serving benchmark: V2 JSON vs binary tensors, dynamic batching, and server overhead over bare onnxruntime.

python -m benchmarks.serving [--quick] [--repository model_repository]

Every number is paired with a baseline measured in the same run, and variants alternate in rounds so that a
drifting background load (another process training) hits candidate and baseline alike. Traffic goes to
127.0.0.1 only; every loop has a request count and a time cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks import report
from benchmarks.load import Call, LoadResult, async_client, closed_loop, decode, encode, http_call, infer_call
from benchmarks.server import ROOT, ServerProcess
from benchmarks.workloads import Workload, cached_repository, find_workloads
from service.repository import open_version
from service.runtime import OnnxSession
from service.settings import Settings

BATCHED, UNBATCHED = "batched", "unbatched"
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Plan:
    """How much traffic each measured variant gets."""

    requests: int  # per variant in the latency comparison (one client, back to back)
    load_requests: int  # per server in the batching comparison
    concurrency: int  # clients in the batching comparison; also the batched server's max_batch_size
    time_cap_s: float  # per variant: it stops early rather than run long on a slow machine
    rounds: int = 4  # slices the variants alternate in
    warmup: int = 10  # discarded calls per variant before measuring


PLANS = {
    "default": Plan(requests=200, load_requests=480, concurrency=16, time_cap_s=5.0),
    "quick": Plan(requests=60, load_requests=160, concurrency=16, time_cap_s=2.0, rounds=2, warmup=5),
}


@dataclass(frozen=True)
class Runtime:
    """onnxruntime settings shared by the servers and the in-process baseline, so they run the same graph alike."""

    providers: str = "auto"
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    max_queue_delay_ms: float | None = None  # servers only; None: the server's default

    def server_settings(self, max_batch_size: int) -> dict[str, str]:
        chosen = {key: str(value) for key, value in asdict(self).items() if value is not None}
        return {**chosen, "max_batch_size": str(max_batch_size)}

    def settings(self, repository: Path) -> Settings:
        return Settings(
            repository=repository,
            providers=self.providers.split(","),
            intra_op_threads=self.intra_op_threads,
            inter_op_threads=self.inter_op_threads,
        )


async def compare(calls: Mapping[str, Call], plan: Plan, count: int, concurrency: int) -> dict[str, LoadResult]:
    """Warm every variant up, then alternate them in `plan.rounds` slices and merge each one's slices."""
    for call in calls.values():
        await closed_loop(call, count=plan.warmup, concurrency=concurrency, time_cap_s=plan.time_cap_s)
    slices: dict[str, list[LoadResult]] = {name: [] for name in calls}
    per_round = -(-count // plan.rounds)
    for _ in range(plan.rounds):
        for name, call in calls.items():
            cap = plan.time_cap_s / plan.rounds
            slices[name].append(await closed_loop(call, count=per_round, concurrency=concurrency, time_cap_s=cap))
    return {name: LoadResult.merge(parts) for name, parts in slices.items()}


def direct_call(session: OnnxSession, inputs: Mapping[str, np.ndarray]) -> Call:
    """session.run in this process, the call the server's worker thread makes: the floor for batch 1."""

    async def call() -> bool:
        session.run(inputs)  # blocking on purpose: nothing else runs while the baseline is timed
        return True

    return call


async def check_outputs(clients: Mapping[str, httpx.AsyncClient], workload: Workload, expected: dict[str, Any]) -> None:
    """Both encodings on both servers must return what onnxruntime computes here, or the timings mean nothing."""
    for server, client in clients.items():
        for encoding in ("json", "binary"):
            request = encode(workload.inputs, encoding)
            response = await client.post(
                f"/v2/models/{workload.name}/infer", content=request.content, headers=request.headers
            )
            outputs = decode(response)
            for name, want in expected.items():
                if not np.allclose(outputs[name], want, rtol=1e-4, atol=1e-5):
                    raise RuntimeError(f"{workload.name}: {encoding} output {name!r} from the {server} server differs")


async def measure_latency(
    clients: Mapping[str, httpx.AsyncClient], workload: Workload, session: OnnxSession, plan: Plan
) -> dict[str, Any]:
    """One client, back to back: in-process run and an empty HTTP round trip vs the server's infer variants."""
    unbatched = clients[UNBATCHED]
    calls = {
        "direct": direct_call(session, workload.inputs),
        "http_floor": http_call(unbatched, "GET", "/v2/health/live"),
        "json": infer_call(unbatched, workload.name, encode(workload.inputs, "json")),
        "binary": infer_call(unbatched, workload.name, encode(workload.inputs, "binary")),
        "binary_batched": infer_call(clients[BATCHED], workload.name, encode(workload.inputs, "binary")),
    }
    results = await compare(calls, plan, plan.requests, concurrency=1)
    p50 = {name: result.percentile_ms(50) for name, result in results.items()}
    ratios = {
        "binary_over_json_throughput": ratio(results["binary"].requests_per_s, results["json"].requests_per_s),
        "binary_over_json_p50": ratio(p50["binary"], p50["json"]),
        "server_over_direct_p50": ratio(p50["binary"], p50["direct"]),
        "server_over_http_floor_p50": ratio(p50["binary"], p50["http_floor"]),
        "batching_server_over_direct_p50": ratio(p50["binary_batched"], p50["direct"]),
    }
    return {"model": workload.name, "variants": _summaries(results), "ratios": ratios}


async def measure_batching(clients: Mapping[str, httpx.AsyncClient], workload: Workload, plan: Plan) -> dict[str, Any]:
    """`plan.concurrency` clients of binary requests against max_batch_size=concurrency vs max_batch_size=1."""
    request = encode(workload.inputs, "binary")
    calls = {server: infer_call(clients[server], workload.name, request) for server in (BATCHED, UNBATCHED)}
    before = {server: await _counts(clients[server], workload.name) for server in calls}
    results = await compare(calls, plan, plan.load_requests, plan.concurrency)
    after = {server: await _counts(clients[server], workload.name) for server in calls}
    variants = _summaries(results)
    for server in calls:
        inferences, executions = after[server][0] - before[server][0], after[server][1] - before[server][1]
        variants[server] |= {
            "inference_count": inferences,
            "execution_count": executions,
            "mean_batch_size": ratio(inferences, executions),
        }
    throughput = ratio(results[BATCHED].requests_per_s, results[UNBATCHED].requests_per_s)
    return {"model": workload.name, "variants": variants, "ratios": {"batched_over_unbatched_throughput": throughput}}


def ratio(candidate: float, baseline: float) -> float:
    """candidate / baseline, NaN (reported as n/a) when the baseline measured nothing."""
    return candidate / baseline if baseline > 0 and math.isfinite(baseline) else math.nan


async def _counts(client: httpx.AsyncClient, model: str) -> tuple[int, int]:
    """(inference_count, execution_count) from the statistics extension; warm-up traffic is included."""
    response = await client.get(f"/v2/models/{model}/stats")
    response.raise_for_status()
    stats = response.json()["model_stats"][0]
    return int(stats["inference_count"]), int(stats["execution_count"])


def _summaries(results: Mapping[str, LoadResult]) -> dict[str, dict[str, Any]]:
    return {name: dict(result.summary()) for name, result in results.items()}


async def measure(
    urls: Mapping[str, str], workloads: list[Workload], plan: Plan, runtime: Runtime, repository: Path
) -> dict[str, Any]:
    """Every measurement for every workload against already-ready servers `batched` and `unbatched`."""
    latency, batching, providers = [], [], {}
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            server: await stack.enter_async_context(async_client(url, plan.concurrency)) for server, url in urls.items()
        }
        for workload in workloads:
            _, session = open_version(workload.folder, workload.name, workload.version, runtime.settings(repository))
            providers[workload.name] = session.provider
            await check_outputs(clients, workload, session.run(workload.inputs))
            latency.append(await measure_latency(clients, workload, session, plan))
            batching.append(await measure_batching(clients, workload, plan))
    return {"latency": latency, "batching": batching, "direct_providers": providers}


@contextlib.contextmanager
def servers(repository: Path, runtime: Runtime, plan: Plan, logs: Path) -> Iterator[dict[str, ServerProcess]]:
    """The batched and unbatched servers, started together so their start-ups overlap; always stopped."""
    sizes = {BATCHED: plan.concurrency, UNBATCHED: 1}
    running: dict[str, ServerProcess] = {}
    try:
        for name, size in sizes.items():
            running[name] = ServerProcess.start(repository, logs / f"{name}.log", runtime.server_settings(size))
        yield running
    finally:
        for process in running.values():
            process.stop()


def run(repository: Path, plan: Plan, runtime: Runtime) -> dict[str, Any]:
    """Start both servers on `repository`, measure, and return the results with the machine they ran on."""
    workloads = find_workloads(repository)
    started, timestamp = report.load_average(), report.timestamp()
    with (
        tempfile.TemporaryDirectory(prefix="posecast-bench-") as logs,
        servers(repository, runtime, plan, Path(logs)) as running,
    ):
        providers = sorted({provider for process in running.values() for provider in process.wait_ready()})
        urls = {name: process.url for name, process in running.items()}
        results = asyncio.run(measure(urls, workloads, plan, runtime, repository))
    results["machine"] = report.machine(server_providers=providers, load_before=started)
    results["plan"], results["runtime"], results["timestamp"] = asdict(plan), asdict(runtime), timestamp
    results["models"] = [report.describe(workload) for workload in workloads]
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving",
        description=__doc__.split("\n\n")[0],
        epilog="What each row means: benchmarks/README.md. Results: <output>/<UTC time>.json.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests and shorter time caps (~30 s)")
    parser.add_argument("--repository", type=Path, help="serve this model repository instead of generated models")
    parser.add_argument("--fresh", action="store_true", help="export the generated models again into a temp dir")
    parser.add_argument("--requests", type=_positive(int), help="requests per variant in the latency comparison")
    parser.add_argument("--load-requests", type=_positive(int), help="requests per server in the batching comparison")
    parser.add_argument(
        "--concurrency", type=_positive(int), help="clients in the batching comparison (and max batch size)"
    )
    parser.add_argument("--time-cap", type=_positive(float), help="seconds at most per measured variant")
    parser.add_argument("--providers", default="auto", help="POSECAST_PROVIDERS for servers and baseline")
    parser.add_argument(
        "--threads", type=_positive(int), default=1, help="onnxruntime intra-op threads (servers and baseline)"
    )
    parser.add_argument(
        "--queue-delay-ms", type=float, help="POSECAST_MAX_QUEUE_DELAY_MS of the servers (default: the server's)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for the JSON results")
    return parser.parse_args(argv)


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    """An argparse type that refuses zero and negative numbers, which would make a run measure nothing."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def plan_from(args: argparse.Namespace) -> Plan:
    plan = PLANS["quick" if args.quick else "default"]
    overrides = {
        "requests": args.requests,
        "load_requests": args.load_requests,
        "concurrency": args.concurrency,
        "time_cap_s": args.time_cap,
    }
    return replace(plan, **{key: value for key, value in overrides.items() if value is not None})


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    plan = plan_from(args)
    runtime = Runtime(providers=args.providers, intra_op_threads=args.threads, max_queue_delay_ms=args.queue_delay_ms)
    with contextlib.ExitStack() as stack:
        if args.repository is not None:
            repository = args.repository.resolve()
        elif args.fresh:
            from benchmarks.workloads import build_repository

            repository = build_repository(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        else:
            repository = cached_repository(args.output / "cache")
        results = run(repository, plan, runtime)
    results["repository"] = str(args.repository or "generated")
    print(report.markdown(results))
    print(f"\nresults: {report.write(results, args.output)}")


if __name__ == "__main__":
    main()
