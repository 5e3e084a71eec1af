"""Adaptive micro-batching: concurrent requests to one model share a single vectorized call.

While the model is busy, requests queue; when it is free, everything queued (up to
`max_batch_size` rows) goes in one call and the results are split back per request. An idle
model answers a lone request at once, so batching adds no latency at low load and
multiplies throughput under load. `max_wait_ms` > 0 additionally holds a batch that long to
gather more rows (Triton's `max_queue_delay`). When a batch fails, its requests are retried
one by one, so a bad row fails only the request that sent it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import pandas as pd

Predict = Callable[["pd.DataFrame"], list[Any]]


class MicroBatcher:
    def __init__(
        self,
        predict: Predict,
        *,
        max_batch_size: int,
        max_wait_ms: float = 0.0,
        on_call: Callable[[int], None] | None = None,
    ) -> None:
        self._predict_rows = predict
        self._on_call = on_call
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._queue: deque[tuple[pd.DataFrame, asyncio.Future[list[Any]]]] = deque()
        self._running = False
        self.batches = 0
        self.batched_rows = 0

    def _predict(self, frame: pd.DataFrame) -> list[Any]:
        if self._on_call is not None:
            self._on_call(len(frame))
        return self._predict_rows(frame)

    async def predict(self, frame: pd.DataFrame) -> list[Any]:
        if self.max_batch_size <= 1 or len(frame) >= self.max_batch_size:
            return await anyio.to_thread.run_sync(self._predict, frame)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((frame, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.max_wait and self._rows_queued() < self.max_batch_size:
                    await asyncio.sleep(self.max_wait)
                batch: list[tuple[pd.DataFrame, asyncio.Future[list[Any]]]] = []
                rows = 0
                while self._queue and (not batch or rows + len(self._queue[0][0]) <= self.max_batch_size):
                    item = self._queue.popleft()
                    batch.append(item)
                    rows += len(item[0])
                await self._run(batch)
        finally:
            self._running = False

    def _rows_queued(self) -> int:
        return sum(len(frame) for frame, _ in self._queue)

    async def _run(self, batch: list[tuple[pd.DataFrame, asyncio.Future[list[Any]]]]) -> None:
        import pandas as pd

        self.batches += 1
        self.batched_rows += sum(len(frame) for frame, _ in batch)
        if len(batch) == 1:
            frame, future = batch[0]
            await self._settle(future, frame)
            return
        try:
            merged = pd.concat([frame for frame, _ in batch], ignore_index=True)
            outputs = await anyio.to_thread.run_sync(self._predict, merged)
        except Exception:
            for frame, future in batch:  # one bad row must not fail its neighbours
                await self._settle(future, frame)
            return
        start = 0
        for frame, future in batch:
            if not future.done():
                future.set_result(outputs[start : start + len(frame)])
            start += len(frame)

    async def _settle(self, future: asyncio.Future[list[Any]], frame: pd.DataFrame) -> None:
        try:
            result = await anyio.to_thread.run_sync(self._predict, frame)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
