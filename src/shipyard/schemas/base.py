"""The base of output schemas read straight off a domain object's attributes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Public(BaseModel):
    """`Model.model_validate(domain_object)` takes the fields it names and ignores the rest."""

    model_config = ConfigDict(from_attributes=True)
