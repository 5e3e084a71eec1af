from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.documents import DocumentInput
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings
from shipyard.store import upgrade
from tests.chat_upstream import ChatUpstream, chat_upstream
from tests.conftest import make_settings

DOCS = [
    DocumentInput(
        "rollback",
        "# Rollback\n\nTo roll back a deployment, run `shipyard rollback NAME`. The previous version takes all "
        "traffic at once and nothing is rebuilt.\n\nRollbacks are recorded in the audit log.",
        title="Rolling back",
        source="guide/rollback.md",
    ),
    DocumentInput(
        "canary",
        "# Canary releases\n\nA canary deployment sends a small share of traffic, for example 10 percent, to a new "
        "model version. Promote the canary when its error rate and latency stay healthy.",
        title="Canary releases",
        source="guide/canary.md",
    ),
    DocumentInput(
        "tides",
        "Tides are caused by the gravitational pull of the Moon and the Sun on the oceans. Spring tides happen "
        "when the Sun and Moon are aligned.",
        title="Tides",
        source="science/tides.md",
    ),
]


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


def rag_settings(tmp_path: Path, database_url: str, upstream: ChatUpstream, **overrides: object) -> Settings:
    config = {
        "providers": {"local": {"base_url": upstream.url, "models": {"m1": {"input_per_million": 1.0,
                                                                            "context_window": 4096}}}},
        "routes": {"chat": ["local/m1"]},
    }  # fmt: skip
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(config))
    return make_settings(tmp_path, database_url, llm_config=path, llm_max_retries=0, **overrides)


@pytest.fixture
def rag_services(tmp_path: Path, database_url: str, upstream: ChatUpstream) -> Iterator[Platform]:
    services = build_platform(rag_settings(tmp_path, database_url, upstream))
    upgrade(services.database)
    collection = services.collections.create(DEFAULT_PROJECT_ID, "handbook")
    services.ingester.ingest(collection, DOCS)
    yield services
    services.close()
