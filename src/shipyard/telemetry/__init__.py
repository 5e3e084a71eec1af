"""Signals about the platform itself: metrics, structured logs, the request log."""

from shipyard.telemetry.batching import BatchWriter
from shipyard.telemetry.logging import configure_logging
from shipyard.telemetry.metrics import Metrics
from shipyard.telemetry.requestlog import RequestLog, RequestRecord

__all__ = ["BatchWriter", "Metrics", "RequestLog", "RequestRecord", "configure_logging"]
