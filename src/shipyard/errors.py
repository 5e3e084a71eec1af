"""The one error hierarchy. Every error has a stable `code` (public API: never rename) and an
HTTP status; the API and CLI translate it once at their edge.

    ShipyardError
    ├── InvalidInput (400)         ├── NotFound (404)          ├── Conflict (409)
    ├── Unauthenticated (401)      ├── PermissionDenied (403)  ├── PayloadTooLarge (413)
    ├── RateLimited (429)          ├── StoreUnavailable (503)  └── ConfigError (500)

InvalidCursor and NestingTooDeep are InvalidInputs with codes of their own.
"""

from __future__ import annotations

from typing import ClassVar


class ShipyardError(Exception):
    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ShipyardError):
    code, http_status = "invalid_input", 400


class InvalidCursor(InvalidInput):
    """A page cursor that no listing could have returned (paging.py)."""

    code = "invalid_cursor"


class NestingTooDeep(InvalidInput):
    """JSON nested past limits.MAX_JSON_DEPTH, or any input too deep to process."""

    code = "nesting_too_deep"


class Unauthenticated(ShipyardError):
    code, http_status = "unauthenticated", 401


class PermissionDenied(ShipyardError):
    code, http_status = "forbidden", 403


class NotFound(ShipyardError):
    code, http_status = "not_found", 404


class Conflict(ShipyardError):
    code, http_status = "conflict", 409


class PayloadTooLarge(ShipyardError):
    code, http_status = "payload_too_large", 413


class UnsupportedMediaType(ShipyardError):
    code, http_status = "unsupported_media_type", 415


class RateLimited(ShipyardError):
    code, http_status = "rate_limited", 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(ShipyardError):
    code, http_status = "store_unavailable", 503


class ConfigError(ShipyardError, ValueError):
    code, http_status = "config_error", 500
