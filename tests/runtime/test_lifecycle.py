"""One lifecycle: parts start in build order and close in reverse, also when a start fails, and
a platform run twenty times leaves no thread, connection or file handle behind."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.auth import Role
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import JobStatus
from shipyard.platform import build_platform
from shipyard.runtime import Lifecycle, PeriodicLoop
from shipyard.store import upgrade
from tests.conftest import make_settings, serve, wait_until


class Recorder:
    def __init__(self, name: str, events: list[str], *, fail_start: bool = False) -> None:
        self.name, self.events, self.fail_start = name, events, fail_start

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.events.append(f"start {self.name}")

    def flush(self) -> None:
        self.events.append(f"flush {self.name}")

    def close(self, timeout: float) -> None:
        self.events.append(f"close {self.name}")


class AsyncRecorder:
    def __init__(self, name: str, events: list[str]) -> None:
        self.name, self.events = name, events

    async def astart(self) -> None:
        self.events.append(f"astart {self.name}")

    async def aclose(self) -> None:
        self.events.append(f"aclose {self.name}")


def test_parts_start_in_build_order_and_close_in_reverse() -> None:
    events: list[str] = []
    lifecycle = Lifecycle()
    lifecycle.add("store", Recorder("store", events))
    lifecycle.add("pools", AsyncRecorder("pools", events))
    lifecycle.add("writer", Recorder("writer", events))
    with lifecycle.running():
        assert events == ["start store", "astart pools", "start writer"]
        lifecycle.flush()
    assert events[3:] == ["flush store", "flush writer", "close writer", "aclose pools", "close store"]
    with lifecycle.running():  # and again: a lifecycle runs as often as its process likes
        pass
    assert events[-3:] == ["close writer", "aclose pools", "close store"]


def test_a_part_that_fails_to_start_closes_the_ones_started_before_it() -> None:
    events: list[str] = []
    lifecycle = Lifecycle()
    lifecycle.add("store", Recorder("store", events))
    lifecycle.add("broken", Recorder("broken", events, fail_start=True))
    lifecycle.add("never", Recorder("never", events))
    with pytest.raises(RuntimeError, match="broken cannot start"), lifecycle.running():
        pass
    assert events == ["start store", "close broken", "close store"]
    assert not lifecycle.is_running


def test_names_are_unique_and_parts_must_be_components() -> None:
    lifecycle = Lifecycle()
    lifecycle.add("store", Recorder("store", []))
    with pytest.raises(ValueError, match="already registered"):
        lifecycle.add("store", Recorder("store", []))
    with pytest.raises(TypeError, match="neither a Component"):
        lifecycle.add("thing", object())  # type: ignore[arg-type]


class Ticker(PeriodicLoop):
    def __init__(self, *, fail_first: int = 0) -> None:
        super().__init__("ticker", 0.01)
        self.ticks = 0
        self.fail_first = fail_first

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks <= self.fail_first:
            raise ConnectionError("store is down")


def test_a_periodic_loop_ticks_until_closed_and_then_once_more() -> None:
    loop = Ticker(fail_first=3)
    loop.start()
    wait_until(lambda: loop.ticks >= 6)  # the failing ticks did not stop it
    loop.close(5)
    assert loop.failed_ticks == 3 and not loop.running
    closed_at = loop.ticks
    assert not any(t.name == "shipyard-ticker" for t in threading.enumerate())
    loop.flush()
    assert loop.ticks == closed_at + 1


def open_descriptors() -> list[str]:
    """What this process has open: files, sockets (store connections), pipes."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own descriptor, closed by now
            continue
    return sorted(found)


def shipyard_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.is_alive() and t is not threading.main_thread())


@pytest.fixture
def run_platform(tmp_path: Path, database_url: str) -> Iterator[object]:
    settings = make_settings(tmp_path, database_url, worker_in_process=True, metrics_cache_seconds=0.0)

    def run(round_: int) -> None:
        platform = build_platform(settings)
        upgrade(platform.database)
        if round_ % 2:  # the API: uvicorn's lifespan runs it, with a worker in the process
            with serve(platform) as live:
                headers = live.key(Role.ADMIN)
                job = live.client.post("/v1/jobs", json={"kind": "maintenance.cleanup"}, headers=headers).json()
                wait_until(lambda: live.client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["status"]
                           == "succeeded")  # fmt: skip
        else:  # a worker or a CLI command
            with platform.running(worker=True):
                job = platform.jobs.enqueue(DEFAULT_PROJECT_ID, "maintenance.cleanup")
                wait_until(lambda: platform.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.SUCCEEDED)
            platform.close()

    yield run


def test_running_the_platform_twenty_times_leaves_nothing_behind(run_platform: object) -> None:
    run = run_platform
    assert callable(run)
    run(0), run(1)  # first runs import lazily and warm caches: what they keep is not a leak
    threads, descriptors = shipyard_threads(), open_descriptors()
    for round_ in range(20):
        run(round_)
    started = lambda: sorted((Counter(shipyard_threads()) - Counter(threads)).elements())  # noqa: E731
    with contextlib.suppress(AssertionError):  # threads end a moment after they are told to
        wait_until(lambda: started() == [] and open_descriptors() == descriptors, timeout=10)
    assert started() == []  # (a thread that was there before and ended since is no leak)
    assert open_descriptors() == descriptors
