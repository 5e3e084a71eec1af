"""The naming rule for user-chosen names that appear in URLs and CLI arguments (projects,
collections, …): lowercase letters, digits, '-' and '_', starting with a letter or digit."""

from __future__ import annotations

import re

from shipyard.errors import InvalidInput

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_name(kind: str, name: str) -> str:
    """`name` if it follows the rule; else InvalidInput saying the rule."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name
