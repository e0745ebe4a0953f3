"""The batcher on its own, over a fake session that implements the real `run` interface."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from service.batching import BatchingRunner
from service.errors import InferenceError, InvalidInput, Overloaded, RequestTimeout
from service.metrics import Metrics
from service.stats import ModelStats


class FakeSession:
    """`run(feeds) -> outputs` like OnnxSession.run: y = 2x; negative values are rejected as bad input."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay = threading.Event()  # set it to end the delay of the running and every later run
        self.delay_s = delay_s
        self.running = threading.Event()  # set once a run has started

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.running.set()
        self.delay.wait(self.delay_s)
        x = feeds["x"]
        self.batches.append(len(x))
        if (x < 0).any():
            raise InvalidInput("negative input")
        return {"y": x * 2}


def make_runner(
    session: FakeSession, stats: ModelStats | None = None, **overrides: float
) -> tuple[BatchingRunner, ModelStats]:
    options = {"max_batch_size": 8, "max_queue_delay_s": 0.05, "max_queue_size": 64} | overrides
    stats = stats or ModelStats()
    runner = BatchingRunner(
        session.run,
        label="fake-1",
        max_batch_size=int(options["max_batch_size"]),
        max_queue_delay_s=options["max_queue_delay_s"],
        max_queue_size=int(options["max_queue_size"]),
        stats=stats,
        metrics=Metrics().for_model("fake", "1"),
    )
    return runner, stats


def test_concurrent_requests_share_runs_and_get_their_own_results() -> None:
    async def main() -> None:
        session = FakeSession()
        runner, stats = make_runner(session)
        inputs = [np.full((1 + i % 2, 3), i, np.float32) for i in range(20)]
        results = await asyncio.gather(*(runner.infer({"x": x}, timeout_s=5) for x in inputs))
        await runner.close()
        for x, result in zip(inputs, results, strict=True):
            np.testing.assert_array_equal(result["y"], x * 2)
        assert stats.inference_count == sum(len(x) for x in inputs) == sum(session.batches)
        assert stats.execution_count == len(session.batches) < len(inputs)
        assert max(session.batches) <= 8
        assert runner.pending == 0

    asyncio.run(main())


def test_without_a_queue_delay_an_idle_runtime_runs_at_once_and_a_busy_one_gathers_a_batch() -> None:
    """The default: the first request runs alone, the five that arrive while it runs share the next run."""

    async def main() -> None:
        session = FakeSession(delay_s=5)
        runner, _ = make_runner(session, max_queue_delay_s=0.0)
        first = asyncio.ensure_future(runner.infer({"x": np.ones((1, 3), np.float32)}, timeout_s=10))
        assert await asyncio.to_thread(session.running.wait, 2)  # it started without waiting for company
        rest = [asyncio.ensure_future(runner.infer({"x": np.ones((1, 3), np.float32)}, timeout_s=10)) for _ in range(5)]
        await asyncio.sleep(0.05)  # all five queued behind the running batch
        session.delay.set()
        await asyncio.gather(first, *rest)
        await runner.close()
        assert session.batches == [1, 5]

    async def with_a_window() -> None:  # the control: a 5 s window holds a lone request back
        session = FakeSession()
        runner, _ = make_runner(session, max_queue_delay_s=5.0)
        waiting = asyncio.ensure_future(runner.infer({"x": np.ones((1, 3), np.float32)}, timeout_s=10))
        assert not await asyncio.to_thread(session.running.wait, 0.5)
        waiting.cancel()
        await runner.close()

    asyncio.run(main())
    asyncio.run(with_a_window())


def test_different_shapes_never_share_a_run() -> None:
    async def main() -> None:
        session = FakeSession()
        runner, stats = make_runner(session)
        inputs = [np.ones((1, 2 + i % 3, 4), np.float32) for i in range(6)]
        results = await asyncio.gather(*(runner.infer({"x": x}, timeout_s=5) for x in inputs))
        await runner.close()
        assert [r["y"].shape for r in results] == [x.shape for x in inputs]
        assert stats.execution_count == 3

    asyncio.run(main())


async def started(session: FakeSession) -> None:
    """Until the session is inside a run."""
    assert await asyncio.to_thread(session.running.wait, 5)


def test_a_bad_request_does_not_fail_its_batch_neighbours() -> None:
    async def main() -> None:
        session = FakeSession()
        runner, _ = make_runner(session)
        good, bad = np.ones((1, 2), np.float32), -np.ones((1, 2), np.float32)
        results = await asyncio.gather(
            runner.infer({"x": good}, timeout_s=5),
            runner.infer({"x": bad}, timeout_s=5),
            runner.infer({"x": good}, timeout_s=5),
            return_exceptions=True,
        )
        await runner.close()
        assert isinstance(results[1], InvalidInput)
        assert all(isinstance(r, dict) for r in (results[0], results[2]))
        assert session.batches == [3, 1, 1, 1]  # one joined run, then each request alone

    asyncio.run(main())


def test_isolation_after_a_failed_batch_skips_requests_that_are_already_answered() -> None:
    async def main() -> None:
        session = FakeSession(delay_s=10)
        runner, _ = make_runner(session)
        good, bad = np.ones((1, 2), np.float32), -np.ones((1, 2), np.float32)
        calls = [asyncio.ensure_future(runner.infer({"x": x}, timeout_s=5)) for x in (good, bad, good)]
        await started(session)
        calls[2].cancel()  # its client went away while the joined run was running
        session.delay.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
        await runner.close()
        assert isinstance(results[0], dict)
        assert isinstance(results[1], InvalidInput)
        assert session.batches == [3, 1, 1]  # the cancelled request did not run again

    asyncio.run(main())


def test_full_queue_is_overloaded_and_timeouts_are_dropped_from_the_queue() -> None:
    async def main() -> None:
        session = FakeSession()
        runner, stats = make_runner(session, max_queue_size=2, max_queue_delay_s=0.3)
        x = np.ones((1, 2), np.float32)
        first = asyncio.ensure_future(runner.infer({"x": x}, timeout_s=5))
        late = asyncio.ensure_future(runner.infer({"x": x}, timeout_s=0.05))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as overloaded:
            await runner.infer({"x": x}, timeout_s=5)
        assert overloaded.value.headers == {"Retry-After": "1"}
        with pytest.raises(RequestTimeout):
            await late
        await first
        await runner.close()
        assert stats.inference_count == 1  # the timed-out request never ran

    asyncio.run(main())


def test_timed_out_requests_hold_their_slot_until_the_batcher_drops_them() -> None:
    """With the session stalled, retries after timeouts must not grow the queue past max_queue_size."""

    async def main() -> None:
        session = FakeSession(delay_s=10)
        runner, _ = make_runner(session, max_batch_size=1, max_queue_size=2)
        x = np.ones((1, 2), np.float32)
        running = asyncio.ensure_future(runner.infer({"x": x}, timeout_s=5))
        await started(session)
        with pytest.raises(RequestTimeout):
            await runner.infer({"x": x}, timeout_s=0.01)  # queued behind the stalled run
        with pytest.raises(Overloaded):
            await runner.infer({"x": x}, timeout_s=5)
        assert runner.pending == 2
        session.delay.set()
        await running
        await runner.infer({"x": x}, timeout_s=5)  # the timed-out one was dropped, never run
        await runner.close()
        assert session.batches == [1, 1]
        assert runner.pending == 0

    asyncio.run(main())


class BrokenStats(ModelStats):
    """Statistics that fail, standing in for any bug that kills the batcher task."""

    def record_execution(
        self, sizes: Sequence[int], queue_ns: Sequence[int], input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        raise RuntimeError("stats bug")


def test_a_dead_batcher_fails_queued_requests_logs_and_refuses_new_ones(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        session = FakeSession(delay_s=10)
        runner, _ = make_runner(session, stats=BrokenStats(), max_batch_size=1)
        x = np.ones((1, 2), np.float32)
        first = asyncio.ensure_future(runner.infer({"x": x}, timeout_s=5))
        await started(session)
        queued = asyncio.ensure_future(runner.infer({"x": x}, timeout_s=30))
        await asyncio.sleep(0)
        session.delay.set()
        assert isinstance(await first, dict)  # answered before the batcher died recording its statistics
        async with asyncio.timeout(5):  # failed at once, not after its 30 s timeout
            with pytest.raises(InferenceError, match="stopped after an internal error"):
                await queued
        with pytest.raises(InferenceError, match="reload the model"):
            await runner.infer({"x": x}, timeout_s=5)
        assert runner.pending == 0
        await runner.close()

    with caplog.at_level(logging.ERROR, logger="service.batching"):
        asyncio.run(main())
    assert any("stats bug" in (record.exc_text or "") for record in caplog.records), caplog.text


def test_close_finishes_queued_requests_then_refuses() -> None:
    async def main() -> None:
        runner, _ = make_runner(FakeSession(), max_queue_delay_s=0.2)
        x = np.ones((1, 2), np.float32)
        queued = [asyncio.ensure_future(runner.infer({"x": x}, timeout_s=5)) for _ in range(3)]
        await asyncio.sleep(0.01)
        await runner.close()
        assert all(task.done() and not task.exception() for task in queued)
        with pytest.raises(Exception, match="unloading"):
            await runner.infer({"x": x}, timeout_s=5)

    asyncio.run(main())
