"""The batcher on its own, over a fake session that implements the real `run` interface."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

import numpy as np
import pytest

from service.batching import BatchingRunner
from service.errors import InvalidInput, Overloaded, RequestTimeout
from service.metrics import Metrics
from service.stats import ModelStats


class FakeSession:
    """`run(feeds) -> outputs` like OnnxSession.run: y = 2x; negative values are rejected as bad input."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay = threading.Event()
        self.delay_s = delay_s

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.delay.wait(self.delay_s)
        x = feeds["x"]
        self.batches.append(len(x))
        if (x < 0).any():
            raise InvalidInput("negative input")
        return {"y": x * 2}


def make_runner(session: FakeSession, **overrides: float) -> tuple[BatchingRunner, ModelStats]:
    options = {"max_batch_size": 8, "max_queue_delay_s": 0.05, "max_queue_size": 64} | overrides
    stats = ModelStats()
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


def test_a_bad_request_does_not_fail_its_batch_neighbours() -> None:
    async def main() -> None:
        runner, _ = make_runner(FakeSession())
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
