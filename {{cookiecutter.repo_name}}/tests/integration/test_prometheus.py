"""The Prometheus, Alertmanager and Grafana files: valid, tested, naming exported metrics; and
a real Pushgateway and Prometheus (`make monitoring-local`'s config) firing the rules on the
gauges the drift check pushes. The tools come from Debian's prometheus packages: tests skip
without them, except in CI (CI=true), where they fail."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import src.inference.monitoring  # noqa: F401  # registers the API's metrics
from src.monitoring.alerts import AlertTargets, build_registry, deliver
from tests.conftest import free_port
from tests.unit.test_alerts import outcome

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
# matchers, ranges, groupings; then names not followed by "(" (functions).
NOT_NAMES = re.compile(
    r'"[^"]*"|\$\{[^}]*\}|\$\w+|\{[^{}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left)\s*\([^)]*\)'
)
NAME = re.compile(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "by", "on"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def metric_names(expression: str) -> set[str]:
    return set(NAME.findall(NOT_NAMES.sub(" ", expression))) - KEYWORDS


def tool(name: str) -> str:
    if path := shutil.which(name):
        return path
    message = f"{name} is not installed (apt-get install prometheus prometheus-alertmanager ...)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_every_alert_and_dashboard_query_names_an_exported_metric() -> None:
    expressions = [(rule["alert"], str(rule["expr"])) for rule in RULES] + DASHBOARDS
    pushed = build_registry(outcome(True), datetime.now(UTC))
    families = [*REGISTRY.collect(), *pushed.collect()]
    exported = {f.name + end for f in families for end in SUFFIXES.get(f.type, ("",))}
    exported |= {"up", "ALERTS"}
    unknown = {where: metric_names(expr) - exported for where, expr in expressions}
    assert {where: names for where, names in unknown.items() if names} == {}
    assert metric_names('rate(api_requests_totl{route="/x"}[5m]) > 1') == {"api_requests_totl"}


def test_every_alert_links_its_runbook() -> None:
    index = (ROOT / "docs" / "runbooks" / "README.md").read_text()
    for rule in RULES:
        assert (ROOT / rule["annotations"]["runbook_url"]).is_file(), rule["alert"]
        assert rule["alert"] in index


def test_the_prometheus_configs_the_rule_tests_and_the_dashboard_queries_pass(
    tmp_path: Path,
) -> None:
    promtool, configs = tool("promtool"), [PROMETHEUS / "prometheus.yml", PROMETHEUS / "local.yml"]
    run(promtool, "check", "config", *map(str, configs))
    assert "SUCCESS" in run(promtool, "test", "rules", str(PROMETHEUS / "alerts_test.yml"))
    # promtool parses the expressions of rule files: each panel query becomes a recording rule.
    rules = [
        {"record": f"panel_{i}", "expr": expr.replace("$__rate_interval", "1m")}
        for i, (_, expr) in enumerate(DASHBOARDS)
    ]
    panels = tmp_path / "panels.yml"
    panels.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run(promtool, "check", "rules", str(panels))


def test_the_alertmanager_config_and_message_template_are_valid() -> None:
    amtool = tool("amtool")
    run(amtool, "check-config", str(ALERTMANAGER / "alertmanager.yml"))
    # Go template actions, built from parts so that the project template leaves them alone.
    title, text = ("{" * 2 + f' template "mlops.{name}" . ' + "}" * 2 for name in ("title", "text"))
    template = f"--template.glob={ALERTMANAGER / 'slack.tmpl'}"
    rendered = run(amtool, "template", "render", template, f"--template.text={title}|{text}")
    assert rendered.count("Runbook: `") == 2


def until(what: str, check: Any, timeout: float = 60) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} within {timeout:.0f} s")


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        return json.loads(response.read()) if url.endswith("alerts") else response.status == 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("prometheus")
    pushgateway, prometheus = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    config = yaml.safe_load((PROMETHEUS / "local.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    for job in config["scrape_configs"]:
        address = pushgateway if job["job_name"] == "pushgateway" else prometheus
        job["static_configs"] = [{"targets": [address]}]
    config_file = folder / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    listen, storage = "--web.listen-address=", f"--storage.tsdb.path={folder / 'data'}"
    commands = [
        [tool("prometheus-pushgateway"), "--persistence.file=", listen + pushgateway],
        [tool("prometheus"), f"--config.file={config_file}", storage, listen + prometheus],
    ]
    with ExitStack() as processes:
        for command in commands:
            log = processes.enter_context((folder / f"{Path(command[0]).name}.log").open("wb"))
            process = processes.enter_context(subprocess.Popen(command, stdout=log, stderr=log))
            processes.callback(process.terminate)
        for address in (pushgateway, prometheus):
            until(f"{address} ready", lambda a=address: get(f"http://{a}/-/ready"))
        yield f"http://{pushgateway}", f"http://{prometheus}"


@pytest.mark.integration
def test_pushed_drift_reaches_prometheus_and_fires_its_alerts(stack: tuple[str, str]) -> None:
    pushgateway, prometheus = stack
    delivery = deliver(outcome(True), [], AlertTargets(pushgateway, None), datetime.now(UTC))
    assert delivery.startswith("metrics pushed")

    def firing() -> dict[str, dict[str, str]]:
        alerts = get(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
        found = {a["labels"]["alertname"]: a["labels"] for a in alerts if a["state"] == "firing"}
        return found if {"DataDriftDetected", "ModelPerformanceDegraded"} <= set(found) else {}

    alerts = until("the drift alerts firing", firing)
    assert alerts["DataDriftDetected"]["model_name"] == "demo_model"
    assert alerts["DataDriftDetected"]["job"] == "drift_check"
    assert "PredictionDriftDetected" not in alerts
