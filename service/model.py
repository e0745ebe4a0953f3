"""A served model version: card, session, batcher and statistics. Routes and task endpoints call this."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from modelcard import ModelCard, TensorSpec
from service import tensors
from service.batching import BatchingRunner
from service.errors import ClientDisconnected, InvalidInput, NonFiniteOutput, PayloadTooLarge, ServiceError
from service.metrics import ModelMetrics
from service.runtime import OnnxSession
from service.settings import Settings
from service.stats import ModelStats

DEFAULT_REQUEST_BATCH_SIZE = 64


class Infer(Protocol):
    """`ServedModel.infer` as routes hand it to task code, already leased (`service.routing.lease`)."""

    async def __call__(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None, *, timeout_s: float | None = None
    ) -> dict[str, np.ndarray]: ...


class ServedModel:
    """One loaded, warmed-up model version. Hold a lease (`ModelRepository.use`) while calling `infer`."""

    def __init__(self, card: ModelCard, session: OnnxSession, settings: Settings, metrics: ModelMetrics) -> None:
        self.card = card
        self.name = card.name
        self.version = str(card.version)
        self.session = session
        self.stats = ModelStats()
        self._metrics = metrics
        self._timeout_s = settings.request_timeout_s
        self._dtypes = {spec.name: tensors.numpy_dtype(spec.datatype) for spec in card.inputs}
        self._output_specs = {spec.name: spec for spec in card.outputs}
        # A request's own batch bounds the memory its one run takes; the batcher only joins requests up to it.
        self.max_request_batch_size = (
            settings.max_request_batch_size or card.max_request_batch_size or DEFAULT_REQUEST_BATCH_SIZE
        )
        self._runner = BatchingRunner(
            session.run,
            label=f"{self.name}-{self.version}",
            max_batch_size=settings.max_batch_size,
            max_queue_delay_s=settings.max_queue_delay_ms / 1000,
            max_queue_size=settings.max_queue_size,
            stats=self.stats,
            metrics=metrics,
        )
        self._leases = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def provider(self) -> str:
        return self.session.provider

    async def infer(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Validated, batched inference: the requested outputs (default: all, in card order)."""
        batch = self.validate(inputs)
        names = self._select(outputs)
        if batch == 0:
            raise InvalidInput("batch size (axis 0) must be at least 1")
        budget = self._timeout_s if timeout_s is None else min(timeout_s, self._timeout_s)
        results = await self._runner.infer(dict(inputs), budget)
        for name in names:
            if not self._finite_or_allowed(self._output_specs[name], results[name]):
                raise NonFiniteOutput(
                    f"model '{self.name}' answered NaN or infinity in output '{name}' for this input: its values are "
                    "probably far outside the range the model was trained on"
                )
        return {name: results[name] for name in names}

    def validate(self, inputs: Mapping[str, np.ndarray]) -> int:
        """Names, dtypes and shapes against the card; returns the common batch size."""
        expected = [spec.name for spec in self.card.inputs]
        if sorted(inputs) != sorted(expected):
            raise InvalidInput(f"model '{self.name}' takes inputs {expected}, got {sorted(inputs)}")
        batches = set()
        limits = self.card.sequence
        for spec in self.card.inputs:
            array = inputs[spec.name]
            if array.dtype != self._dtypes[spec.name]:
                got = tensors.v2_datatype(array.dtype)
                raise InvalidInput(f"input '{spec.name}' must be {spec.datatype}, got {got}")
            same_axes = zip(spec.shape[1:], array.shape[1:], strict=False)  # axis 0: any batch, even for a graph of 1
            fits = array.ndim == len(spec.shape) and all(d in (-1, s) for d, s in same_axes)
            if not fits:
                raise InvalidInput(f"input '{spec.name}' must have shape {spec.shape}, got {list(array.shape)}")
            if limits and len(spec.shape) > 1 and spec.shape[1] == -1:
                length, upper = array.shape[1], limits.max_input_length
                if length < limits.min_input_length or (upper is not None and length > upper):
                    raise InvalidInput(
                        f"input '{spec.name}' has {length} time steps; the model takes "
                        f"{limits.min_input_length} to {upper if upper is not None else 'any number of'}"
                    )
            if not self._finite_or_allowed(spec, array):
                raise InvalidInput(
                    f"input '{spec.name}' holds NaN or infinity (numbers beyond the range of {spec.datatype} become "
                    "infinity); the model takes finite numbers"
                )
            batches.add(array.shape[0])
        if len(batches) != 1:
            raise InvalidInput(f"inputs disagree on the batch size (axis 0): {sorted(batches)}")
        batch = batches.pop()
        if batch > self.max_request_batch_size:
            raise PayloadTooLarge(
                f"a batch of {batch} samples; model '{self.name}' takes at most {self.max_request_batch_size} per "
                "request (its card's max_request_batch_size, or POSECAST_MAX_REQUEST_BATCH_SIZE): split it"
            )
        return batch

    @staticmethod
    def _finite_or_allowed(spec: TensorSpec, array: np.ndarray) -> bool:
        """JSON has no NaN: a non-finite number in or out is an error unless the card says it means something."""
        return spec.allow_non_finite or array.dtype.kind != "f" or bool(np.isfinite(array).all())

    def _select(self, outputs: Sequence[str] | None) -> list[str]:
        known = [spec.name for spec in self.card.outputs]
        if outputs is None:
            return known
        unknown = [name for name in outputs if name not in known]
        if unknown:
            raise InvalidInput(f"model '{self.name}' has no output {unknown}; it has {known}")
        return list(dict.fromkeys(outputs))

    @contextmanager
    def track(self) -> Iterator[None]:
        """Count one request: Triton success/fail stats, Prometheus outcome and duration."""
        started = time.perf_counter_ns()
        outcome = "success"
        try:
            yield
        except ServiceError as exc:
            outcome = exc.outcome
            raise
        except asyncio.CancelledError:
            outcome = ClientDisconnected.outcome
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            elapsed = time.perf_counter_ns() - started
            (self.stats.success if outcome == "success" else self.stats.fail).add(elapsed)
            self._metrics.request(outcome, elapsed / 1e9)

    def acquire(self) -> None:
        self._leases += 1
        self._idle.clear()

    def release(self) -> None:
        self._leases -= 1
        if self._leases == 0:
            self._idle.set()

    async def retire(self) -> None:
        """After the repository stopped handing this version out: let lease holders finish, then stop."""
        await self._idle.wait()
        await self._runner.close()
