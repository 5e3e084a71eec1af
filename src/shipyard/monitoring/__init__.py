"""Monitoring: data and prediction drift (Evidently-compatible verdicts)."""

from shipyard.monitoring.drift import ColumnDrift, ColumnTest, DriftConfig, DriftReport, detect_drift

__all__ = ["ColumnDrift", "ColumnTest", "DriftConfig", "DriftReport", "detect_drift"]
