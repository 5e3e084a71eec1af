"""Picks the embedder from `SHIPYARD_EMBEDDER_URL`: one line per backend."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit, urlunsplit

from shipyard.errors import ConfigError
from shipyard.knowledge.ports import Embedder

PACKAGED = "onnx://all-minilm-l6-v2"
SCHEMES = ("onnx://", "openai+http://", "openai+https://")


def build_embedder(url: str, *, api_key: str | None = None) -> Embedder:
    """`onnx://all-minilm-l6-v2` (packaged, default) or `openai+https://host/v1?model=M[&dimension=N]`."""
    if url == PACKAGED:
        from shipyard.knowledge.adapters.onnx import OnnxEmbedder

        return OnnxEmbedder()
    if url.startswith(("openai+http://", "openai+https://")):
        from shipyard.knowledge.adapters.openai import OpenAIEmbedder

        parts = urlsplit(url.removeprefix("openai+"))
        query = parse_qs(parts.query)
        if "model" not in query:
            raise ConfigError(f"SHIPYARD_EMBEDDER_URL needs ?model=<name>: {url}")
        dimension = query.get("dimension", [None])[0]
        base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return OpenAIEmbedder(
            base_url=base_url,
            model=query["model"][0],
            api_key=api_key,
            dimension=int(dimension) if dimension else None,
        )
    raise ConfigError(
        f"unknown embedder {url!r}: SHIPYARD_EMBEDDER_URL must be {PACKAGED} or start with openai+http(s)://"
    )


class Embedders:
    """Embedders by URL, each built once per process: the configured default and any other a
    collection names."""

    def __init__(self, default_url: str, *, api_key: str | None = None) -> None:
        self.default_url = default_url
        self._api_key = api_key
        self._built: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def get(self, url: str | None = None) -> Embedder:
        """Raises ConfigError naming the valid forms for an unknown URL."""
        url = url or self.default_url
        with self._lock:
            embedder = self._built.get(url)
            if embedder is None:
                embedder = self._built[url] = build_embedder(url, api_key=self._api_key)
            return embedder
