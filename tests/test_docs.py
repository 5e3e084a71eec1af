"""The docs cannot rot: every setting, CLI command and error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer

import shipyard.errors as errors
from shipyard.cli.main import app
from shipyard.settings import variables

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(SHIPYARD_[A-Z_]+)`", README, flags=re.M))
    expected = set(variables())  # every section's fields, by their flat variable
    assert expected == documented


def _commands(group: typer.Typer, prefix: str) -> list[str]:
    found = [f"{prefix} {c.name or c.callback.__name__}".strip() for c in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        found += _commands(sub.typer_instance, f"{prefix} {sub.name}")  # type: ignore[arg-type]
    return found


def test_every_cli_command_is_documented() -> None:
    missing = [c for c in _commands(app, "shipyard") if c != "shipyard version" and c not in DOCS]
    assert missing == []


def test_every_error_code_is_documented() -> None:
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ShipyardError) and cls.http_status < 500
    }
    auth_doc = (ROOT / "docs" / "auth.md").read_text()
    assert sorted(c for c in codes if f"`{c}`" not in auth_doc) == []


def test_every_generation_error_code_is_documented() -> None:
    import shipyard.llm.budgets as budgets
    import shipyard.llm.errors as llm_errors
    import shipyard.prompts.errors as prompt_errors
    import shipyard.rag.passages as rag_passages
    import shipyard.telemetry.traces as traces

    codes = {
        cls.code
        for module in (llm_errors, budgets, prompt_errors, rag_passages, traces)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, errors.ShipyardError) and cls.__module__ == module.__name__
    }
    generation_doc = (ROOT / "docs" / "generation.md").read_text()
    assert sorted(c for c in codes if f"`{c}`" not in generation_doc) == []


def test_make_targets_in_the_readme_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"make ([a-z-]+)", README)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


def test_every_hook_has_a_docstring_and_is_documented() -> None:
    import inspect

    from shipyard import hookspecs

    hooks = [
        name for name, value in vars(hookspecs).items() if inspect.isfunction(value) and hasattr(value, "shipyard_spec")
    ]
    assert hooks, "no hookspecs found"
    for name in hooks:
        assert getattr(hookspecs, name).__doc__, name
        assert name in DOCS, f"hook {name} is not documented"


def test_every_monitoring_error_code_is_documented() -> None:
    import shipyard.monitoring.alerts as alerts
    import shipyard.monitoring.monitors as monitors
    import shipyard.monitoring.silences as silences

    codes = {
        cls.code
        for module in (monitors, alerts, silences)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, errors.ShipyardError) and cls.__module__ == module.__name__
    }
    operations_doc = (ROOT / "docs" / "operations.md").read_text()
    assert codes and sorted(c for c in codes if f"`{c}`" not in operations_doc) == []
