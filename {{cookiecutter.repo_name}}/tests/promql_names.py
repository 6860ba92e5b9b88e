"""Metric names in PromQL expressions, and the names the project really exports.

The exported names are read from the metric objects of the API (src/inference/monitoring.py)
and of the drift job (src/monitoring/metrics.py), so the check follows them as they change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

ROOT = Path(__file__).resolve().parents[1]
ALERTS_FILE = ROOT / "monitoring" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json"))

# Series Prometheus and the Pushgateway add themselves (not exported by our code).
PROMETHEUS_OWN_SERIES = {"up", "scrape_duration_seconds", "push_time_seconds", "ALERTS"}

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan", "atan2",
}  # fmt: skip
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "unknown": ("",),
}

STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGES = re.compile(r"\[[^\]]*\]")
GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Whole identifiers not followed by "(" (functions and aggregations are).
IDENTIFIERS = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expression: str) -> set[str]:
    """Metric names an expression selects: not functions, keywords, labels or durations."""
    text = STRINGS.sub('""', expression)
    text = GRAFANA_VARIABLES.sub("", text)
    text = MATCHERS.sub("", text)
    text = RANGES.sub("", text)
    text = GROUPINGS.sub("", text)
    return {name for name in IDENTIFIERS.findall(text) if name not in KEYWORDS}


def sample_names(families: Iterable[object]) -> set[str]:
    names: set[str] = set()
    for family in families:
        name, kind = family.name, family.type  # type: ignore[attr-defined]
        names.update(f"{name}{suffix}" for suffix in SAMPLE_SUFFIXES.get(kind, ("",)))
    return names


def module_metric_names(*modules: object) -> set[str]:
    """Every sample name the metric objects and registries of `modules` expose."""
    names = set()
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                names |= sample_names(value.describe())
            elif isinstance(value, CollectorRegistry):
                names |= sample_names(value.collect())
    return names


def exported_names() -> set[str]:
    from src.monitoring.metrics import DriftJobMetrics

    from src.inference import monitoring as api_metrics

    # The default registry also holds the process and Python collectors /metrics serves.
    return (
        module_metric_names(api_metrics)
        | sample_names(REGISTRY.collect())
        | sample_names(DriftJobMetrics().registry.collect())
    )


def alert_rules() -> list[dict[str, Any]]:
    content = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in content["groups"] for rule in group["rules"] if "alert" in rule]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expression) of every query of every dashboard."""
    return [
        (f"{path.name}: {panel['title']}", target["expr"])
        for path in DASHBOARDS
        for panel in panels(json.loads(path.read_text()))
        for target in panel.get("targets", [])
    ]


def all_expressions() -> list[tuple[str, str]]:
    alerts = [(f"alert {rule['alert']}", str(rule["expr"])) for rule in alert_rules()]
    return alerts + dashboard_expressions()
