"""Components in the order they were built: started in that order, closed in reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import structlog

from shipyard.runtime.component import AsyncComponent, Component

log = structlog.get_logger(__name__)

Part = Component | AsyncComponent


class Lifecycle:
    """One process's background parts. `running()` (threads, from sync code) and `arunning()`
    (inside an event loop: the API) start every part in order and close them in reverse —
    also when starting one fails half-way — so what a later part writes through an earlier
    one (a worker's traces through the trace writer) is flushed before that one closes."""

    def __init__(self, *, close_timeout: float = 10.0) -> None:
        self.close_timeout = close_timeout
        self._parts: list[tuple[str, Part]] = []
        self._started: list[tuple[str, Part]] = []
        self._closed_early: set[str] = set()  # loop parts closed on their own loop already

    def add(self, name: str, part: Part) -> None:
        if any(existing == name for existing, _ in self._parts):
            raise ValueError(f"a component named {name!r} is already registered")
        if not isinstance(part, Component | AsyncComponent):
            raise TypeError(f"{name!r} is neither a Component nor an AsyncComponent")
        self._parts.append((name, part))

    def remove(self, name: str) -> None:
        """Forget a part that is not running (one that only some runs of the process have)."""
        if any(existing == name for existing, _ in self._started):
            raise RuntimeError(f"component {name!r} is running")
        self._parts = [(n, p) for n, p in self._parts if n != name]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._parts]

    @property
    def is_running(self) -> bool:
        return bool(self._started)

    def flush(self) -> None:
        """Write out every part's buffer now, in build order (errors logged, not raised)."""
        for name, part in self._parts:
            if isinstance(part, Component):
                try:
                    part.flush()
                except Exception as exc:  # noqa: BLE001 - one part's store outage must not stop the rest
                    log.warning("component_flush_failed", component=name, error=f"{type(exc).__name__}: {exc}")

    async def aclose_loop_parts(self) -> None:
        """Close the event-loop parts now, on the current loop — the one that used their
        connections (a CLI command's `asyncio.run`) — instead of on a fresh loop at the end."""
        parts = self._started if self._started else self._parts
        for name, part in reversed(parts):
            if not isinstance(part, Component) and name not in self._closed_early:
                self._closed_early.add(name)
                await self._aclose(name, part)

    def close(self) -> None:
        """Close every part in reverse build order, started or not (a platform that was built but
        never run: a test's, a one-off script's)."""
        if self._started:
            raise RuntimeError("the lifecycle is running: leave its `running()` block instead")
        self._close_all(self._parts)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Run every part from synchronous code; async parts are started and closed on a
        short-lived event loop of their own (CLI commands, workers)."""
        if self._started:
            raise RuntimeError("the lifecycle is already running")
        try:
            for name, part in self._parts:
                self._started.append((name, part))
                if isinstance(part, Component):
                    part.start()
                else:
                    anyio.run(part.astart)
            yield
        finally:
            started, self._started = self._started, []
            self._close_all(started)

    def _close_all(self, parts: list[tuple[str, Part]]) -> None:
        """Close `parts` in reverse order from synchronous code (those closed early are skipped)."""
        for name, part in reversed(parts):
            if isinstance(part, Component):
                self._close(name, part)
            elif name not in self._closed_early:
                self._close_on_new_loop(name, part)
        self._closed_early.clear()

    @asynccontextmanager
    async def arunning(self) -> AsyncIterator[None]:
        """Run every part from inside an event loop (the API's lifespan); closing a threaded
        part, which joins its thread, happens off the loop."""
        if self._started:
            raise RuntimeError("the lifecycle is already running")
        try:
            for name, part in self._parts:
                self._started.append((name, part))
                if isinstance(part, Component):
                    part.start()
                else:
                    await part.astart()
            yield
        finally:
            while self._started:
                name, part = self._started.pop()
                if isinstance(part, Component):
                    await anyio.to_thread.run_sync(self._close, name, part)
                elif name not in self._closed_early:
                    await self._aclose(name, part)
            self._closed_early.clear()

    def _close(self, name: str, part: Component) -> None:
        try:
            part.close(self.close_timeout)
        except Exception as exc:  # noqa: BLE001 - the others still close
            log.warning("component_close_failed", component=name, error=f"{type(exc).__name__}: {exc}")

    async def _aclose(self, name: str, part: AsyncComponent) -> None:
        try:
            await part.aclose()
        except Exception as exc:  # noqa: BLE001 - the others still close
            log.warning("component_close_failed", component=name, error=f"{type(exc).__name__}: {exc}")

    def _close_on_new_loop(self, name: str, part: AsyncComponent) -> None:
        try:
            anyio.run(self._aclose, name, part)
        except RuntimeError as exc:  # called from inside a running loop: use aclose_loop_parts there
            log.warning("component_close_failed", component=name, error=str(exc))
