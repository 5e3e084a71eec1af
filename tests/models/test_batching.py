"""Micro-batching: concurrent requests share model calls, results go back to the right caller."""

from __future__ import annotations

import asyncio
import threading
import time

import pandas as pd
import pytest

from shipyard.models.batching import MicroBatcher


class SlowModel:
    """Doubles `x`; each call takes 20 ms (like a model with a fixed per-call cost)."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, frame: pd.DataFrame) -> list[float]:
        with self.lock:
            self.calls.append(len(frame))
        time.sleep(0.02)
        if (frame["x"] < 0).any():
            raise ValueError("negative")
        return (frame["x"] * 2).tolist()


def _frame(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(values)})


async def _many(batcher: MicroBatcher, values: list[float]) -> list[object]:
    results = await asyncio.gather(*(batcher.predict(_frame(v)) for v in values), return_exceptions=True)
    return list(results)


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch_size=16)
    values = [float(i) for i in range(40)]
    results = asyncio.run(_many(batcher, values))
    assert results == [[v * 2] for v in values]
    assert len(model.calls) < 10 and max(model.calls) <= 16 and sum(model.calls) == 40


def test_a_lone_request_does_not_wait() -> None:
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch_size=16)
    started = time.perf_counter()
    assert asyncio.run(batcher.predict(_frame(1.0, 2.0))) == [2.0, 4.0]
    assert model.calls == [2]  # served at once, in one call of its own
    assert time.perf_counter() - started < 2.0  # one 20 ms call; generous for a loaded machine


def test_max_wait_gathers_a_fuller_batch() -> None:
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch_size=8, max_wait_ms=50)

    async def trickle() -> None:
        tasks = []
        for i in range(8):
            tasks.append(asyncio.create_task(batcher.predict(_frame(float(i)))))
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)

    asyncio.run(trickle())
    assert model.calls == [8]


def test_a_bad_row_fails_only_its_request() -> None:
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch_size=32)
    results = asyncio.run(_many(batcher, [1.0, -1.0, 3.0, 4.0]))
    assert results[0] == [2.0] and results[2] == [6.0] and results[3] == [8.0]
    assert isinstance(results[1], ValueError)


def test_a_request_bigger_than_a_batch_goes_alone() -> None:
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch_size=4)
    assert asyncio.run(batcher.predict(_frame(*range(10)))) == [float(v * 2) for v in range(10)]
    assert model.calls == [10]


@pytest.mark.parametrize("size", [1])
def test_batch_size_one_turns_batching_off(size: int) -> None:
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch_size=size)
    asyncio.run(_many(batcher, [1.0, 2.0, 3.0]))
    assert model.calls == [1, 1, 1]
