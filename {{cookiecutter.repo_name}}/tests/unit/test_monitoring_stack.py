"""The Prometheus, Alertmanager and Grafana files: valid, tested, and naming real metrics.

promtool and amtool come with Debian's prometheus and prometheus-alertmanager packages;
the tests that need them skip, with the reason, only when the binary is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from src.monitoring.local_stack import Addresses, write_alertmanager_config, write_prometheus_config

from tests.promql_names import (
    DASHBOARDS,
    PROMETHEUS_OWN_SERIES,
    alert_rules,
    all_expressions,
    dashboard_expressions,
    exported_names,
    metric_names,
    panels,
)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "monitoring" / "prometheus"
ALERTMANAGER = ROOT / "monitoring" / "alertmanager"
GRAFANA = ROOT / "monitoring" / "grafana"
RUNBOOK = re.compile(r"docs/runbooks/[a-z0-9-]+\.md")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)")
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_metric_names_are_found_in_promql() -> None:
    expression = (
        "histogram_quantile(0.99, sum by (le, route) (rate(api_request_duration_seconds_bucket"
        '{route!~"/metrics|/health"}[$__rate_interval]))) > 0.5 and on() up{job="api"} == 1 '
        "or vector(0) unless time() - drift_check_last_run_timestamp_seconds offset 5m > 2e3"
    )
    assert metric_names(expression) == {
        "api_request_duration_seconds_bucket",
        "up",
        "drift_check_last_run_timestamp_seconds",
    }


def test_every_promql_expression_names_an_exported_metric() -> None:
    known = exported_names() | PROMETHEUS_OWN_SERIES
    expressions = all_expressions()
    assert len(expressions) > 30
    unknown = {
        where: sorted(metric_names(expr) - known)
        for where, expr in expressions
        if metric_names(expr) - known
    }
    assert unknown == {}
    assert all(metric_names(expr) for _, expr in expressions)


def test_the_expression_check_notices_an_unknown_metric() -> None:
    assert metric_names("rate(api_requests_totl[5m])") - exported_names() == {"api_requests_totl"}


def test_every_alert_links_an_existing_runbook_that_the_dashboards_link_too() -> None:
    dashboards_text = "".join(path.read_text() for path in DASHBOARDS)
    for rule in alert_rules():
        page = rule["annotations"]["runbook_url"]
        assert RUNBOOK.fullmatch(page), rule["alert"]
        assert (ROOT / page).is_file(), page
        assert page in dashboards_text, f"{page} is not linked from a dashboard"
        assert rule["alert"] in (ROOT / "docs" / "runbooks" / "README.md").read_text()
    for page in set(RUNBOOK.findall(dashboards_text)):
        assert (ROOT / page).is_file(), page


def test_runbooks_say_what_it_means_how_to_confirm_and_what_to_do() -> None:
    pages = sorted((ROOT / "docs" / "runbooks").glob("*.md"))
    assert len(pages) == len(alert_rules()) + 1
    for page in pages:
        if page.name == "README.md":
            continue
        text = page.read_text()
        assert {"**Meaning.**", "**Confirm.**", "**Act.**"} <= set(
            re.findall(r"\*\*\w+\.\*\*", text)
        ), page.name


def test_dashboards_use_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )["providers"][0]
    assert provider["type"] == "file"
    assert {path.stem for path in DASHBOARDS} == {"api", "model"}
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        for panel in panels(dashboard):
            assert {"id", "type", "title", "gridPos"} <= set(panel), panel.get("title")
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}
    assert len(uids) == len(DASHBOARDS)


def test_prometheus_config_and_rules_are_valid() -> None:
    promtool = tool("promtool")
    for command in (
        ("check", "config", str(PROMETHEUS / "prometheus.yml")),
        ("check", "rules", str(PROMETHEUS / "alerts.yml")),
    ):
        result = run(promtool, *command)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = run(tool("promtool"), "test", "rules", str(PROMETHEUS / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    promtool = tool("promtool")
    # promtool parses expressions in rule files: each panel query becomes a recording rule.
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr.replace("$__rate_interval", "1m")}
        for index, (_, expr) in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_local_config_derived_from_the_compose_one_is_valid(tmp_path: Path) -> None:
    addresses = Addresses("127.0.0.1:8000", "127.0.0.1:9091", "127.0.0.1:9090", "127.0.0.1:9093")
    path = write_prometheus_config(tmp_path, addresses, scrape_interval="1s")
    config = yaml.safe_load(path.read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {
        "prometheus": ["127.0.0.1:9090"],
        "api": ["127.0.0.1:8000"],
        "pushgateway": ["127.0.0.1:9091"],
    }
    result = run(tool("promtool"), "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_and_message_template_are_valid(tmp_path: Path) -> None:
    amtool = tool("amtool")
    result = run(amtool, "check-config", str(ALERTMANAGER / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    local = write_alertmanager_config(tmp_path, "https://hooks.example.invalid/services/T/B/X")
    result = run(amtool, "check-config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout
    assert (tmp_path / "alert_webhook_url").stat().st_mode & 0o077 == 0
    # Go template actions, built from parts so that the project template leaves them alone.
    title, text = ("{" * 2 + f' template "mlops.{name}" . ' + "}" * 2 for name in ("title", "text"))
    rendered = run(
        amtool, "template", "render",
        f"--template.glob={ALERTMANAGER / 'slack.tmpl'}", f"--template.text={title}|{text}",
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    # amtool renders amtool's own example alerts: both definitions parse and execute.
    assert rendered.stdout.startswith("[")
    assert rendered.stdout.count("Runbook: `") == 2


def test_without_a_webhook_the_local_alertmanager_only_records(tmp_path: Path) -> None:
    config = yaml.safe_load(write_alertmanager_config(tmp_path, None).read_text())
    assert all("slack_configs" not in receiver for receiver in config["receivers"])
    assert not (tmp_path / "alert_webhook_url").exists()


def test_a_missing_binary_is_named_with_its_debian_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from src.monitoring.local_stack import require_binary

    from src.errors import ProjectError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(
        ProjectError, match="prometheus is not installed; on Debian/Ubuntu: apt-get"
    ):
        require_binary("prometheus")
