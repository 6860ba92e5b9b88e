"""The Prometheus, Alertmanager and Grafana files: valid, tested, naming exported metrics.

promtool and amtool come with Debian's prometheus and prometheus-alertmanager packages; the
tests that need them skip without them, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from src.inference import monitoring as api_metrics
from src.monitoring.alerts import GAUGES

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS, ALERTMANAGER = ROOT / "monitoring" / "prometheus", ROOT / "monitoring" / "alertmanager"
RULES = [
    r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]
]
DASHBOARDS = [
    (f"{path.name}: {panel['title']}", target["expr"])
    for path in sorted((ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json"))
    for panel in json.loads(path.read_text())["panels"]
    for target in panel.get("targets", [])
]
# What a PromQL expression holds besides metric names: strings, Grafana variables, label
# matchers, ranges, groupings, then function calls and keywords.
NOT_NAMES = re.compile(
    r'"[^"]*"|\$\{[^}]*\}|\$\w+|\{[^{}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left)\s*\([^)]*\)'
)
NAME = re.compile(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "by", "on"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def metric_names(expression: str) -> set[str]:
    return set(NAME.findall(NOT_NAMES.sub(" ", expression))) - KEYWORDS


def exported_names() -> set[str]:
    families = [
        f
        for v in vars(api_metrics).values()
        if isinstance(v, MetricWrapperBase)
        for f in v.describe()
    ]
    families += list(REGISTRY.collect())
    names = {f.name + suffix for f in families for suffix in SUFFIXES.get(f.type, ("",))}
    return names | set(GAUGES) | {"up", "ALERTS"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        packages = "prometheus prometheus-pushgateway prometheus-alertmanager"
        message = f"{name} is not installed (apt-get install {packages})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(path)


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_every_alert_and_dashboard_query_names_an_exported_metric() -> None:
    expressions = [(rule["alert"], str(rule["expr"])) for rule in RULES] + DASHBOARDS
    unknown = {where: metric_names(expr) - exported_names() for where, expr in expressions}
    assert {where: names for where, names in unknown.items() if names} == {}
    assert metric_names('rate(api_requests_totl{route="/x"}[5m]) > 1') == {"api_requests_totl"}


def test_every_alert_links_its_runbook() -> None:
    index = (ROOT / "docs" / "runbooks" / "README.md").read_text()
    for rule in RULES:
        assert (ROOT / rule["annotations"]["runbook_url"]).is_file(), rule["alert"]
        assert rule["alert"] in index


def test_the_prometheus_configs_and_the_alert_rule_tests_pass() -> None:
    promtool = tool("promtool")
    run(
        promtool,
        "check",
        "config",
        str(PROMETHEUS / "prometheus.yml"),
        str(PROMETHEUS / "local.yml"),
    )
    assert "SUCCESS" in run(promtool, "test", "rules", str(PROMETHEUS / "alerts_test.yml"))


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses expressions in rule files: each panel query becomes a recording rule.
    rules = [
        {"record": f"panel_{i}", "expr": e.replace("$__rate_interval", "1m")}
        for i, (_, e) in enumerate(DASHBOARDS)
    ]
    (tmp_path / "panels.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]})
    )
    assert f"SUCCESS: {len(rules)} rules found" in run(
        tool("promtool"), "check", "rules", str(tmp_path / "panels.yml")
    )


def test_the_alertmanager_config_and_message_template_are_valid() -> None:
    amtool = tool("amtool")
    run(amtool, "check-config", str(ALERTMANAGER / "alertmanager.yml"))
    # Go template actions, built from parts so that the project template leaves them alone.
    title, text = ("{" * 2 + f' template "mlops.{name}" . ' + "}" * 2 for name in ("title", "text"))
    rendered = run(
        amtool, "template", "render", f"--template.glob={ALERTMANAGER / 'slack.tmpl'}",
        f"--template.text={title}|{text}",
    )  # fmt: skip
    assert rendered.count("Runbook: `") == 2
