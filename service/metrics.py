"""Prometheus collectors, one registry per app so tests can build many apps in one process.

With several workers (POSECAST_WORKERS) each process writes its samples to files in the folder the supervisor
names in prometheus_client's PROMETHEUS_MULTIPROC_DIR, and /metrics, whichever worker answers it, sums them:
a scrape sees the server, not the one process the balancer picked (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LABELS = ("model", "version")


class Metrics:
    """Every collector the server exports on /metrics."""

    def __init__(self, shared: bool = False) -> None:
        """`shared`: this process is one of several workers, whose samples /metrics adds up."""
        self.shared = shared
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "posecast_requests", "Inference requests by outcome.", [*_LABELS, "outcome"], registry=r
        )
        self.request_seconds = Histogram(
            "posecast_request_duration_seconds",
            "Whole request time.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_seconds = Histogram(
            "posecast_queue_duration_seconds",
            "Time in the batch queue.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.compute_seconds = Histogram(
            "posecast_compute_duration_seconds",
            "Collate + session.run + split per execution.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "posecast_batch_size", "Samples per execution.", _LABELS, buckets=_BATCH_BUCKETS, registry=r
        )
        self.inferences = Counter("posecast_inferences", "Samples inferred.", _LABELS, registry=r)
        self.executions = Counter("posecast_executions", "Session runs.", _LABELS, registry=r)
        # Across workers: requests waiting add up; a version is ready, on a provider, where any live worker says so.
        self.pending = Gauge(
            "posecast_pending_requests", "Requests queued or running.", _LABELS, registry=r, multiprocess_mode="livesum"
        )
        self.ready = Gauge(
            "posecast_model_ready", "1 when the model version serves.", _LABELS, registry=r, multiprocess_mode="livemax"
        )
        self.pending_body_bytes = Gauge(
            "posecast_pending_body_bytes",
            "Bytes held by request bodies still arriving (POSECAST_MAX_PENDING_BODY_BYTES bounds each process).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.provider = Gauge(
            "posecast_model_provider",
            "1 for the execution provider in use.",
            [*_LABELS, "provider"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self._providers: dict[tuple[str, str], str] = {}

    def set_state(self, model: str, version: str, ready: bool, provider: str | None) -> None:
        """Ready gauge plus exactly one provider series per loaded model version."""
        self.ready.labels(model, version).set(1 if ready else 0)
        previous = self._providers.pop((model, version), None)
        if previous is not None:
            self.provider.labels(model, version, previous).set(0)  # workers: the file keeps what was last set
            self.provider.remove(model, version, previous)
        if ready and provider:
            self.provider.labels(model, version, provider).set(1)
            self._providers[(model, version)] = provider

    def for_model(self, model: str, version: str) -> ModelMetrics:
        return ModelMetrics(self, model, version)

    def render(self) -> tuple[bytes, str]:
        if not self.shared:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker)
        return generate_latest(every_worker), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class _BoundCollectors:
    request_seconds: Histogram
    queue_seconds: Histogram
    compute_seconds: Histogram
    batch_size: Histogram
    inferences: Counter
    executions: Counter
    pending: Gauge
    outcomes: dict[str, Counter]  # filled as outcomes occur


@dataclass(frozen=True)
class ModelMetrics:
    """The collectors bound to one model version's labels, each bound once: `labels()` looks the label set up
    under a lock, and every request would pay for it several times."""

    metrics: Metrics
    model: str
    version: str

    @cached_property
    def _bound(self) -> _BoundCollectors:
        m, labels = self.metrics, (self.model, self.version)
        return _BoundCollectors(
            request_seconds=m.request_seconds.labels(*labels),
            queue_seconds=m.queue_seconds.labels(*labels),
            compute_seconds=m.compute_seconds.labels(*labels),
            batch_size=m.batch_size.labels(*labels),
            inferences=m.inferences.labels(*labels),
            executions=m.executions.labels(*labels),
            pending=m.pending.labels(*labels),
            outcomes={},
        )

    def request(self, outcome: str, seconds: float) -> None:
        bound = self._bound
        counter = bound.outcomes.get(outcome)
        if counter is None:
            counter = bound.outcomes[outcome] = self.metrics.requests.labels(self.model, self.version, outcome)
        counter.inc()
        bound.request_seconds.observe(seconds)

    def execution(self, batch_size: int, queue_seconds: Sequence[float], compute_seconds: float) -> None:
        bound = self._bound
        for waited in queue_seconds:
            bound.queue_seconds.observe(waited)
        bound.compute_seconds.observe(compute_seconds)
        bound.batch_size.observe(batch_size)
        bound.inferences.inc(batch_size)
        bound.executions.inc()

    def add_pending(self, delta: int) -> None:
        """Increments, not a set: during a reload the old and the new runner share these labels."""
        self._bound.pending.inc(delta)
