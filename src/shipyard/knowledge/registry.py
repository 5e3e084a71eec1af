"""Picks the embedder from `SHIPYARD_EMBEDDER_URL`: one line per backend."""

from __future__ import annotations

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
