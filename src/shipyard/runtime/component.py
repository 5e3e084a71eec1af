"""What the lifecycle runs: anything with start, flush and close."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Component(Protocol):
    """Something that works in the background of a process: a writer's thread, a delivery queue,
    a job worker. Started once, flushed on demand, closed once (after which it may start again)."""

    def start(self) -> None:
        """Begin background work; return at once."""
        ...

    def flush(self) -> None:
        """Write out what is buffered, on the caller's thread (an exit, an evaluation that must
        see the latest)."""
        ...

    def close(self, timeout: float) -> None:
        """Stop, finishing what is buffered for up to `timeout` seconds; never raises."""
        ...


@runtime_checkable
class AsyncComponent(Protocol):
    """A component that lives on the event loop (connection pools, the model refresh task)."""

    async def astart(self) -> None: ...

    async def aclose(self) -> None: ...


class Closing:
    """A part whose only duty in the lifecycle is to be closed last-built-first (a connection
    pool, a cache of indexes whose rebuild threads hold store connections)."""

    def __init__(self, close: Callable[[float], None]) -> None:
        self._close = close

    def start(self) -> None:
        """Nothing to start."""

    def flush(self) -> None:
        """Nothing buffered."""

    def close(self, timeout: float) -> None:
        self._close(timeout)


class AsyncClosing:
    """An event-loop part that only needs closing (an HTTP client's connection pools)."""

    def __init__(self, aclose: Callable[[], Awaitable[None]]) -> None:
        self._aclose = aclose

    async def astart(self) -> None:
        """Nothing to start."""

    async def aclose(self) -> None:
        await self._aclose()
