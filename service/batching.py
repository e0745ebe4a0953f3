"""Dynamic batching: a per model version queue, a batcher task, and the pure collate / split steps.

Requests are joined along axis 0 only when every input has the same dtype and the same shape past axis 0, so a
joined run computes exactly what separate runs would. The blocking work (collate, session.run, split) runs on
one worker thread per model version; the event loop only moves futures.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from service.errors import InferenceError, ModelNotReady, Overloaded, RequestTimeout, ServiceError
from service.metrics import ModelMetrics
from service.stats import ModelStats

logger = logging.getLogger(__name__)

Tensors = dict[str, np.ndarray]
BatchKey = tuple[tuple[str, str, tuple[int, ...]], ...]
RunFn = Callable[[Mapping[str, np.ndarray]], Tensors]
T = TypeVar("T")


def batch_key(inputs: Mapping[str, np.ndarray]) -> BatchKey:
    """Requests with equal keys can share a run: same names, dtypes and shapes past the batch axis."""
    return tuple(sorted((name, array.dtype.str, tuple(array.shape[1:])) for name, array in inputs.items()))


def collate(requests: Sequence[Mapping[str, np.ndarray]]) -> tuple[Tensors, list[int]]:
    """Join requests along axis 0; returns the joined inputs and each request's batch size."""
    sizes = [len(next(iter(request.values()))) for request in requests]
    if len(requests) == 1:
        return dict(requests[0]), sizes
    joined = {name: np.concatenate([request[name] for request in requests]) for name in requests[0]}
    return joined, sizes


def split(outputs: Mapping[str, np.ndarray], sizes: Sequence[int]) -> list[Tensors]:
    """Undo `collate` on the outputs: one dict of axis-0 slices (views) per request, in order."""
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise InferenceError(f"output '{name}' has shape {list(array.shape)}; expected {total} on axis 0")
    bounds = np.cumsum([0, *sizes]).tolist()
    return [{name: array[start:stop] for name, array in outputs.items()} for start, stop in itertools.pairwise(bounds)]


def plan(items: Sequence[T], key: Callable[[T], BatchKey], size: Callable[[T], int], limit: int) -> list[list[T]]:
    """Group items by key in arrival order, then cut each group into runs of at most `limit` samples."""
    groups: dict[BatchKey, list[list[T]]] = {}
    for item in items:
        runs = groups.setdefault(key(item), [[]])
        if runs[-1] and sum(map(size, runs[-1])) + size(item) > limit:
            runs.append([])
        runs[-1].append(item)
    return [run for runs in groups.values() for run in runs]


@dataclass(eq=False)
class _Pending:
    inputs: Tensors
    size: int
    key: BatchKey
    future: asyncio.Future[Tensors]
    enqueued_ns: int = field(default_factory=time.perf_counter_ns)


@dataclass
class _Timed:
    results: list[Tensors]
    input_ns: int
    infer_ns: int
    output_ns: int


class BatchingRunner:
    """Queue, batch and run requests for one model version; `infer` is the only call requests make."""

    def __init__(
        self,
        run: RunFn,
        *,
        label: str,
        max_batch_size: int,
        max_queue_delay_s: float,
        max_queue_size: int,
        stats: ModelStats,
        metrics: ModelMetrics,
    ) -> None:
        self._run = run
        self._max_batch_size = max_batch_size
        self._max_delay_ns = int(max_queue_delay_s * 1e9)
        self._max_queue_size = max_queue_size
        self._stats = stats
        self._metrics = metrics
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-{label}")
        # Admitted and not yet let go by the batcher loop. A request that timed out still holds its slot (and its
        # inputs) until the loop takes it off the queue, so a stalled session cannot let retries grow the queue.
        self._admitted: set[_Pending] = set()
        self._closed = False
        self._failure: str | None = None
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{label}")
        self._task.add_done_callback(self._on_loop_exit)

    @property
    def pending(self) -> int:
        """Requests queued or running."""
        return len(self._admitted)

    async def infer(self, inputs: Tensors, timeout_s: float) -> Tensors:
        """Every output for these inputs (already validated, equal batch size > 0 on axis 0)."""
        if self._failure is not None:
            raise InferenceError(self._failure)
        if self._closed:
            raise ModelNotReady("model version is unloading")
        if len(self._admitted) >= self._max_queue_size:
            raise Overloaded(f"queue is full ({self._max_queue_size} requests); retry later")
        future: asyncio.Future[Tensors] = asyncio.get_running_loop().create_future()
        item = _Pending(inputs, len(next(iter(inputs.values()))), batch_key(inputs), future)
        self._admitted.add(item)
        self._metrics.add_pending(1)
        self._queue.put_nowait(item)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise RequestTimeout(f"no result within {timeout_s:g} s") from None
        finally:
            future.cancel()  # no-op when done; otherwise (timeout, client gone) the batcher skips it

    async def close(self) -> None:
        """Refuse new requests, finish every queued one, then stop the batcher and its thread."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
        await asyncio.wait([self._task])  # not cancelled with the caller; a failure was logged by _on_loop_exit
        self._executor.shutdown(wait=False)

    def _release(self, items: Sequence[_Pending]) -> None:
        """The loop is done with these: their slots take new requests."""
        for item in items:
            self._admitted.discard(item)
        self._metrics.add_pending(-len(items))

    def _on_loop_exit(self, task: asyncio.Task[None]) -> None:
        """A batcher that died must fail its requests now, not leave them to time out, and refuse new ones."""
        error = None if task.cancelled() else task.exception()
        if error is None and not task.cancelled():
            return  # close(): every queued request was answered
        logger.error("batcher %s stopped", task.get_name(), exc_info=error)
        self._closed = True
        self._failure = "batching for this model version stopped after an internal error; reload the model"
        stranded = list(self._admitted)
        for item in stranded:
            _fail(item.future, InferenceError(self._failure))
        self._release(stranded)

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch, stopping = await self._collect(first)
            live = [item for item in batch if not item.future.done()]
            self._release([item for item in batch if item.future.done()])
            for run in plan(live, lambda i: i.key, lambda i: i.size, self._max_batch_size):
                await self._execute(run)
                self._release(run)

    async def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """Take more requests until the batch is full or the oldest one has waited max_queue_delay."""
        batch, samples = [first], first.size
        deadline = first.enqueued_ns + self._max_delay_ns
        while samples < self._max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = (deadline - time.perf_counter_ns()) / 1e9
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if item is None:
                return batch, True
            batch.append(item)
            samples += item.size
        return batch, False

    async def _execute(self, run: list[_Pending]) -> None:
        started = time.perf_counter_ns()
        loop = asyncio.get_running_loop()
        try:
            timed = await loop.run_in_executor(self._executor, self._run_batch, [item.inputs for item in run])
        except ServiceError as exc:
            if len(run) > 1:
                # One bad request must not fail its neighbours: run each alone to isolate it, except the ones
                # that timed out or lost their client meanwhile.
                for item in run:
                    if not item.future.done():
                        await self._execute([item])
                return
            _fail(run[0].future, exc)
            return
        except Exception as exc:
            logger.exception("batch execution failed")
            for item in run:
                _fail(item.future, InferenceError(f"inference failed: {exc}"))
            return
        for item, result in zip(run, timed.results, strict=True):
            if not item.future.done():  # a request that timed out or lost its client meanwhile
                item.future.set_result(result)
        queue_ns = [started - item.enqueued_ns for item in run]
        self._stats.record_execution([i.size for i in run], queue_ns, timed.input_ns, timed.infer_ns, timed.output_ns)
        compute_s = (timed.input_ns + timed.infer_ns + timed.output_ns) / 1e9
        self._metrics.execution(sum(i.size for i in run), [ns / 1e9 for ns in queue_ns], compute_s)

    def _run_batch(self, requests: list[Tensors]) -> _Timed:
        """Worker thread: collate, run, split, timing each step."""
        t0 = time.perf_counter_ns()
        joined, sizes = collate(requests)
        t1 = time.perf_counter_ns()
        outputs = self._run(joined)
        t2 = time.perf_counter_ns()
        results = split(outputs, sizes)
        t3 = time.perf_counter_ns()
        return _Timed(results, t1 - t0, t2 - t1, t3 - t2)


def _fail(future: asyncio.Future[Tensors], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
