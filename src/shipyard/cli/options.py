"""The options every CLI command shares, declared once: `--project` and `--json`.

Commands write `project: str = PROJECT, as_json: bool = JSON`; one place sets the flag names,
defaults and help, so the 20-odd commands cannot drift apart (`--project` once lost its help).
"""

from __future__ import annotations

import typer

PROJECT = typer.Option("default", "--project", help="Project name.")
"""The project a command acts in."""

JSON = typer.Option(False, "--json", help="Machine-readable output on stdout.")
"""Print the same JSON the API answers with, instead of a table."""

PROJECT_FILTER = typer.Option(None, "--project", help="Only this project (default: all).")
"""For listings across projects: narrows them to one."""
