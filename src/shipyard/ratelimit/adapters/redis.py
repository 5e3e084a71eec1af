"""Rate limits shared by every API replica, kept in Redis.

The same sliding-window counter as the in-process adapter (`ratelimit/window.py`), evaluated by
a Lua script so the check and the increment are one atomic step, on Redis' clock (replicas with
skewed clocks still agree on the window).

Hits are pipelined: the hits that arrive during one event-loop tick go to Redis as one pipeline
of EVALSHAs. A profile showed redis-py's per-command Python work (pool, retry wrapper, script
call, parsing), not the network, at ~28 % of the event loop's time with one call per request;
batching pays it once per tick instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from shipyard.ratelimit.ports import Decision
from shipyard.ratelimit.window import WINDOW_SECONDS, retry_after

log = structlog.get_logger(__name__)

# After Redis failed, serve without limits for this long before trying again: otherwise every
# request would wait for the connect timeout.
RETRY_AFTER_FAILURE_SECONDS = 5.0

# KEYS[1]: the key's hash-tagged base name. ARGV: limit, window seconds.
# Returns {allowed (0/1), count in current window, count in previous window, offset (string)}.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
local window = tonumber(ARGV[2])
local index = math.floor(seconds / window)
local offset = seconds - index * window
local current_key = KEYS[1] .. ':' .. index
local current = tonumber(redis.call('GET', current_key) or '0')
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (index - 1)) or '0')
if previous * (1 - offset / window) + current + 1 > tonumber(ARGV[1]) then
  return {0, current, previous, tostring(offset)}
end
current = redis.call('INCR', current_key)
if current == 1 then
  redis.call('EXPIRE', current_key, 2 * window + 1)
end
return {1, current, previous, tostring(offset)}
"""

_Pending = tuple[str, int, "asyncio.Future[Decision]"]


class RedisRateLimiter:
    def __init__(self, redis_url: str, *, key_prefix: str = "shipyard") -> None:
        self._client = Redis.from_url(
            redis_url,
            # A slow Redis must not stall requests: give up after 0.5 s and fail open.
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            # No client-side retries: a retry with backoff holds the request for seconds.
            retry=Retry(NoBackoff(), 0),
        )
        self._sha: str | None = None
        self._prefix = f"{key_prefix}:ratelimit"
        self._pending: list[_Pending] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._skip_until = 0.0
        self.errors = 0

    async def hit(self, key: str, per_minute: int) -> Decision:
        if time.monotonic() < self._skip_until:
            return _allowed(per_minute)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._pending.append((key, per_minute, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush_pending)
        return await future

    def _flush_pending(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._flush(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            try:
                replies = await self._evaluate(batch)
            except NoScriptError:  # Redis restarted or flushed its scripts: load again, once
                self._sha = None
                replies = await self._evaluate(batch)
        except Exception as exc:  # noqa: BLE001 - a limiter outage must not take the API down
            # Fail open: serving without limits beats refusing every request while Redis is away.
            self.errors += 1
            self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            log.warning("rate_limiter_unavailable", error=str(exc)[:200])
            replies = [None] * len(batch)
        for (_, per_minute, future), reply in zip(batch, replies, strict=True):
            if not future.done():
                future.set_result(_decision(reply, per_minute))

    async def _evaluate(self, batch: list[_Pending]) -> list[Any]:
        # EVALSHA in a plain pipeline: redis-py's Script objects would add a SCRIPT EXISTS round
        # trip to every pipeline.
        if self._sha is None:
            self._sha = str(await self._client.script_load(_SLIDING_WINDOW))
        pipeline = self._client.pipeline(transaction=False)
        for key, per_minute, _ in batch:
            # The {hash tag} keeps both windows of a key on one Redis Cluster slot.
            pipeline.evalsha(self._sha, 1, f"{{{self._prefix}:{key}}}", per_minute, WINDOW_SECONDS)
        replies: list[Any] = await pipeline.execute()
        return replies

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()


def _decision(reply: Any, per_minute: int) -> Decision:
    if reply is None:
        return _allowed(per_minute)
    allowed, current, previous, offset = int(reply[0]), int(reply[1]), int(reply[2]), float(reply[3])
    if allowed:
        return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
    return Decision(False, per_minute, 0, retry_after(current, previous, offset, per_minute))


def _allowed(per_minute: int) -> Decision:
    return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
