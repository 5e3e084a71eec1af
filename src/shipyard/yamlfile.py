"""YAML files written by people (prompts, the gateway config): parsed safely, errors on one line."""

from __future__ import annotations

from typing import Any

import yaml

from shipyard.errors import InvalidInput, ShipyardError


def load_yaml(text: str, source: str, error: type[ShipyardError] = InvalidInput) -> Any:
    """`yaml.safe_load(text)`, or `error` saying where and what — one line, not PyYAML's drawing."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise error(f"{source} is not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source} is not valid YAML: {str(exc).splitlines()[0]}") from None
