"""Errors of the LLM gateway. Adapters raise these (never a vendor exception); the gateway decides
from `retryable` whether another attempt or another provider may help.

    UpstreamError
    ├── UpstreamTimeout (504)        retryable: no answer within the attempt timeout
    ├── UpstreamRateLimited (429)    retryable, honours Retry-After
    ├── UpstreamUnavailable (502)    retryable: 5xx, connection refused/reset, circuit open
    ├── UpstreamMalformed (502)      retryable: a response or stream that is not the protocol
    ├── UpstreamAuthFailed (502)     next provider: the key is wrong there, not here
    └── UpstreamRejected (400)       the request itself is bad: no retry, no fallback
    StreamInterrupted (502)          tokens were already sent when the upstream failed
"""

from __future__ import annotations

from typing import Any, ClassVar

from shipyard.errors import NotFound, ShipyardError


class UpstreamError(ShipyardError):
    code, http_status = "upstream_error", 502
    retryable: ClassVar[bool] = True
    # Worth trying the next provider model after this error (false: the caller's request is at fault).
    fallback: ClassVar[bool] = True

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after
        # The gateway's attempts (shipyard.llm.Attempt) before it gave up, for the trace.
        self.attempts: tuple[Any, ...] = ()


class UpstreamTimeout(UpstreamError):
    code, http_status = "upstream_timeout", 504


class UpstreamRateLimited(UpstreamError):
    code, http_status = "upstream_rate_limited", 429


class UpstreamUnavailable(UpstreamError):
    code, http_status = "upstream_unavailable", 502


class UpstreamMalformed(UpstreamError):
    code, http_status = "upstream_malformed", 502


class UpstreamMisconfigured(UpstreamError):
    """The provider is set up wrong for this model (404: no such model there). Another may work."""

    code, http_status = "upstream_misconfigured", 502
    retryable = False


class UpstreamAuthFailed(UpstreamMisconfigured):
    code = "upstream_auth_failed"


class UpstreamRejected(UpstreamError):
    code, http_status = "upstream_rejected", 400
    retryable = False
    fallback = False


class StreamInterrupted(UpstreamError):
    """The upstream failed after text was already streamed to the caller: nothing can be retried."""

    code, http_status = "stream_interrupted", 502
    retryable = False
    fallback = False


class ModelNotFound(NotFound):
    code = "model_not_found"
