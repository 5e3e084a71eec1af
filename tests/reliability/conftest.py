"""The reliability suite: real processes and real faults on this machine.

Each scenario runs short in CI (every `make test`) and long under `make reliability`
(`SHIPYARD_RELIABILITY=full`), which also writes the figures to bench/results/reliability/ for
docs/reliability.md. Both sizes assert the same things; only the amounts differ.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "reliability"
# One load generator stands for many clients: its key's rate limit must not be what is measured.
LOAD_RATE_LIMIT = 1_000_000

# Read at import: the autouse `clean_environ` fixture removes SHIPYARD_* before any test runs.
FULL = os.environ.get("SHIPYARD_RELIABILITY") == "full"


@dataclass(frozen=True)
class Scale:
    full: bool

    def pick(self, short: Any, full: Any) -> Any:
        return full if self.full else short

    def record(self, scenario: str, figures: dict[str, Any]) -> None:
        """Print the scenario's figures; in the full run also keep them for the docs."""
        print(f"\n{scenario}: {json.dumps(figures, sort_keys=True)}")
        if self.full:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"{scenario}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def scale() -> Scale:
    return Scale(full=FULL)
