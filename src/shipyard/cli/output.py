"""Printing for the CLI: JSON on stdout for scripts, rich tables for people, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, NoReturn

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table

from shipyard.errors import ShipyardError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    elif isinstance(value, list):
        value = [jsonable(item) for item in value]
    return to_jsonable_python(value)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), indent=2, sort_keys=False))


def print_table(rows: Sequence[Any], columns: Sequence[str], *, title: str | None = None) -> None:
    """A table for people; ids and times fold rather than being cut off with an ellipsis."""
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        data = row if isinstance(row, dict) else jsonable(row)
        table.add_row(*(_cell(data.get(c)) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    # ISO times to the second: 2026-11-24T10:56:25.123456Z -> 2026-11-24 10:56:25
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":
        return text[:19].replace("T", " ")
    return text


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"error: {message}", highlight=False, markup=False)
    raise typer.Exit(code)


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Turn shipyard errors into `error: …` on stderr and exit code 1 (never a traceback)."""
    try:
        yield
    except ShipyardError as exc:
        fail(exc.message)


def emit(value: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        print_json(value)
    else:
        human()
