"""Monitoring: data, prediction and embedding drift (Evidently-compatible verdicts), drift
monitors on deployments' traffic and collections' questions, anomaly detection, and alerts."""

from shipyard.monitoring.drift import ColumnDrift, ColumnTest, DriftConfig, DriftReport, detect_drift
from shipyard.monitoring.embeddings import EmbeddingDrift, embedding_drift
from shipyard.monitoring.monitors import EmptyWindow, Monitor, MonitorNotFound, MonitorResult, MonitorService
from shipyard.monitoring.references import Reference, format_duration, parse_duration

__all__ = [
    "ColumnDrift",
    "ColumnTest",
    "DriftConfig",
    "DriftReport",
    "EmbeddingDrift",
    "EmptyWindow",
    "Monitor",
    "MonitorNotFound",
    "MonitorResult",
    "MonitorService",
    "Reference",
    "detect_drift",
    "embedding_drift",
    "format_duration",
    "parse_duration",
]
