"""Each package's `__all__` is its public API: every name exists, nothing private leaks."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "shipyard.auth",
    "shipyard.jobs",
    "shipyard.knowledge",
    "shipyard.llm",
    "shipyard.models",
    "shipyard.monitoring",
    "shipyard.prompts",
    "shipyard.rag",
    "shipyard.ratelimit",
    "shipyard.store",
    "shipyard.telemetry",
    "shipyard.api",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_exported_members_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported)
    for member in exported:
        assert not member.startswith("_")
        assert hasattr(module, member), f"{name}.__all__ names missing {member}"
