"""Input specs: what a domain service accepts, declared once, by the domain.

A spec is a pydantic model the domain owns. The API takes it as the request body (FastAPI
validates it: 422 `invalid_request`), the CLI builds it with `Spec.of(...)` (an `InvalidInput`:
exit 1 with a one-line reason), and the service receives it validated and checks nothing again.
A rule with a message of its own raises `ValueError` in a validator; both edges print that
message as it is, so the API and the CLI refuse the same input with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from shipyard.errors import InvalidInput


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def of(cls, **values: Any) -> Self:
        """The spec from keyword values; `InvalidInput` naming the first fault otherwise."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InvalidInput(validation_message(exc)) from None


def error_message(error: Mapping[str, Any]) -> str:
    """One pydantic error as a user reads it: a validator's own message as written (it names the
    field), any other as `field.path: what is wrong`."""
    if error.get("type") == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def validation_message(exc: ValidationError) -> str:
    return error_message(exc.errors()[0])
