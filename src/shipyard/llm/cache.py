"""The response cache: identical deterministic requests (temperature 0) answered without a call.

Keys are a sha256 of the project and the whole request (model name, messages, every parameter),
so projects never share answers. In-process (LRU with expiry) for the embedded default; Redis
when SHIPYARD_REDIS_URL is set, shared by every replica. A cache that fails (Redis down) is a
miss, never an error: the call goes to the provider.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from shipyard.llm.types import ChatRequest


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    finish_reason: str
    model: str
    deployment: str
    input_tokens: int
    output_tokens: int
    usage_estimated: bool


class ResponseCache(Protocol):
    async def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under `key`, or None (also when the cache cannot be reached)."""
        ...

    async def set(self, key: str, answer: CachedAnswer, ttl: float) -> None:
        """Store for `ttl` seconds; failures are swallowed."""
        ...

    async def aclose(self) -> None: ...


def cache_key(project_id: str, request: ChatRequest) -> str:
    payload = {
        "project": project_id,
        "model": request.model,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature, "top_p": request.top_p, "max_tokens": request.max_tokens,
        "stop": list(request.stop), "seed": request.seed, "extra": request.extra,
    }  # fmt: skip
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class MemoryResponseCache:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, CachedAnswer]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if expires < time.monotonic():
            self._entries.pop(key, None)
            return None
        self._entries.move_to_end(key)
        return answer

    async def set(self, key: str, answer: CachedAnswer, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def aclose(self) -> None:
        self._entries.clear()


class RedisResponseCache:
    def __init__(self, redis_url: str, *, key_prefix: str = "shipyard") -> None:
        from redis.asyncio import Redis

        # A slow Redis must not hold up an LLM call: give up quickly and call the provider.
        self._client: Any = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = f"{key_prefix}:llmcache:"
        self.errors = 0

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self._client.get(self._prefix + key)
        except Exception:  # noqa: BLE001 - a cache miss, not a failed call
            self.errors += 1
            return None
        if raw is None:
            return None
        try:
            return CachedAnswer(**json.loads(raw))
        except (ValueError, TypeError):
            return None  # written by another version: ignore it

    async def set(self, key: str, answer: CachedAnswer, ttl: float) -> None:
        try:
            await self._client.set(self._prefix + key, json.dumps(asdict(answer)), px=max(1, int(ttl * 1000)))
        except Exception:  # noqa: BLE001
            self.errors += 1

    async def aclose(self) -> None:
        await self._client.aclose()


def build_response_cache(redis_url: str | None, *, key_prefix: str) -> ResponseCache:
    if redis_url:
        return RedisResponseCache(redis_url, key_prefix=key_prefix)
    return MemoryResponseCache()
