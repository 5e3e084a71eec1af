"""PromQL for signals and SLIs over shipyard's own Prometheus metrics (docs/observability.md).

The in-process engine reads the same events from the stored series (`signals.py`); both count a
request, prediction or LLM call the same way, so a rule exported to Prometheus fires when the
embedded engine would.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.utils import floatToGoString

from shipyard.monitoring.signals import QUANTILES, Signal, Target

HTTP_HISTOGRAM = "http_server_request_duration_seconds"
PREDICTION_HISTOGRAM = "shipyard_prediction_duration_seconds"
PREDICTIONS = "shipyard_predictions_total"
LLM_CALLS = "shipyard_llm_calls_total"
LLM_HISTOGRAM = "shipyard_llm_call_duration_seconds"
LLM_TOKENS = "shipyard_llm_tokens_total"
LLM_COST = "shipyard_llm_cost_total"
FEEDBACK = "shipyard_feedback_score"
DRIFTING = "shipyard_monitor_drifting"


def rate(metric: str, labels: Mapping[str, str], window: str) -> str:
    return f"sum(rate({metric}{matchers(labels)}[{window}]))"


def matchers(labels: Mapping[str, str]) -> str:
    """`{a="x",b=~"y",c!="z"}`: a value starting with `~` is a regex match, with `!` a negative one."""
    parts = []
    for key, value in labels.items():
        if value.startswith("~"):
            parts.append(f'{key}=~"{escape(value[1:])}"')
        elif value.startswith("!"):
            parts.append(f'{key}!="{escape(value[1:])}"')
        else:
            parts.append(f'{key}="{escape(value)}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def target_labels(target: Target, project: str) -> dict[str, str]:
    """Label matchers selecting `target`'s events (HTTP metrics are platform-wide: no project)."""
    if target.deployment is not None:
        # Shadow calls are not answers anyone received: they count only when asked for by role.
        return {"project": project, "deployment": target.deployment, "role": target.role or "!shadow"}
    if target.model is not None:
        return {"project": project, "model": target.model}
    labels: dict[str, str] = {}
    if target.route is not None:
        labels["http_route"] = target.route
    if target.method is not None:
        labels["http_request_method"] = target.method.upper()
    return labels


def error_ratio(target: Target, project: str, window: str) -> str:
    """The share of `target`'s events that failed over `window`."""
    labels = target_labels(target, project)
    if target.deployment is not None:
        return f"{rate(PREDICTIONS, {**labels, 'status': 'error'}, window)} / {rate(PREDICTIONS, labels, window)}"
    if target.model is not None:
        bad = rate(LLM_CALLS, {**labels, "status": "~error|truncated"}, window)
        return f"{bad} / {rate(LLM_CALLS, labels, window)}"
    bad = rate(f"{HTTP_HISTOGRAM}_count", {**labels, "http_response_status_code": "~5.."}, window)
    return f"{bad} / {rate(f'{HTTP_HISTOGRAM}_count', labels, window)}"


def slow_ratio(target: Target, project: str, window: str, threshold: float) -> str:
    """The share of `target`'s events slower than `threshold` (a bucket bound) over `window`."""
    histogram = _histogram(target)
    labels = target_labels(target, project)
    le = floatToGoString(threshold)  # type: ignore[no-untyped-call]
    good = rate(f"{histogram}_bucket", {**labels, "le": le}, window)
    return f"1 - ({good} / {rate(f'{histogram}_count', labels, window)})"


def signal_expr(signal: Signal, project: str, window: str) -> str:
    """PromQL for a threshold rule's signal over `window`: counts per minute, ratios, seconds."""
    if signal.signal == "feedback":
        labels = {"project": project}
        return f"{rate(f'{FEEDBACK}_sum', labels, window)} / {rate(f'{FEEDBACK}_count', labels, window)}"
    if signal.signal in ("tokens", "cost"):
        labels = {"project": project}
        if signal.model is not None:
            labels["gen_ai_request_model"] = signal.model
        return f"{rate(LLM_TOKENS if signal.signal == 'tokens' else LLM_COST, labels, window)} * 60"
    labels = target_labels(signal, project)
    if signal.signal == "requests":
        counter = PREDICTIONS if signal.deployment else LLM_CALLS if signal.model else f"{HTTP_HISTOGRAM}_count"
        return f"{rate(counter, labels, window)} * 60"
    if signal.signal == "error_rate":
        return error_ratio(signal, project, window)
    histogram = _histogram(signal)
    quantile = QUANTILES[signal.signal]
    return f"histogram_quantile({quantile:g}, sum by (le) (rate({histogram}_bucket{matchers(labels)}[{window}])))"


def count_expr(target: Target, project: str, window: str) -> str:
    """How many of `target`'s events happened over `window` (for a rule's `min_events`)."""
    labels = target_labels(target, project)
    counter = PREDICTIONS if target.deployment else LLM_CALLS if target.model else f"{HTTP_HISTOGRAM}_count"
    return f"sum(increase({counter}{matchers(labels)}[{window}]))"


def _histogram(target: Target) -> str:
    if target.model is not None:
        return LLM_HISTOGRAM
    return PREDICTION_HISTOGRAM if target.deployment is not None else HTTP_HISTOGRAM
