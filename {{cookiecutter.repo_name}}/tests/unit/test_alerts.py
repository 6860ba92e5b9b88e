"""One route per configuration: Pushgateway gauges, or a webhook post, or a printed alert."""

import json
from datetime import UTC, datetime

import pytest

from src.errors import ConfigError, ProjectError
from src.monitoring.alerts import AlertTargets, MonitoringOutcome, deliver
from src.monitoring.drift import ColumnDrift, DriftResult
from src.monitoring.performance import PerformanceResult
from tests.conftest import HttpReceiver
from tests.unit.test_drift import FEATURES

NOW = datetime(2025, 1, 2, tzinfo=UTC)


def outcome(drifted: bool) -> MonitoringOutcome:
    score = 0.001 if drifted else 0.5
    columns = [ColumnDrift(name, "K-S p_value", 0.05, score, drifted) for name in FEATURES]
    quality = dict.fromkeys(FEATURES, (0.0, 0.0))
    drift = DriftResult(columns, None, quality, [], float(drifted), drifted, 500, 400)
    degraded = ["accuracy"] if drifted else []
    performance = PerformanceResult(400, {"accuracy": 0.5}, {"accuracy": 0.9}, degraded)
    return MonitoringOutcome("demo_model", "3", "a test window", drift, performance)


def test_with_a_pushgateway_only_the_gauges_go_even_when_a_webhook_is_set(
    http_receiver: HttpReceiver,
) -> None:
    targets = AlertTargets(http_receiver.url, f"{http_receiver.url}/hook")
    assert deliver(outcome(True), [], targets, NOW).startswith("metrics pushed to")
    [push] = http_receiver.requests
    assert (push.method, push.path) == ("PUT", "/metrics/job/drift_check/model_name/demo_model")
    pushed = push.body.decode()
    assert "drift_check_dataset_drift 1.0" in pushed
    assert "model_concept_drift 1.0" in pushed
    assert 'drift_check_column_drifted{column="' + FEATURES[0] + '"} 1.0' in pushed


def test_without_a_pushgateway_a_problem_is_posted_to_the_webhook_or_printed(
    http_receiver: HttpReceiver,
) -> None:
    targets = AlertTargets(None, f"{http_receiver.url}/services/T0/B0/secret")
    assert deliver(outcome(False), [], targets, NOW) == "no alert: nothing found"
    assert http_receiver.requests == []
    assert deliver(outcome(True), [], targets, NOW) == "alert posted to the webhook"
    [post] = http_receiver.requests
    text = json.loads(post.body)["text"]
    assert text.startswith("*Model demo_model v3: data drift, concept drift*")
    assert f"{len(FEATURES)}/{len(FEATURES)} columns drifted" in text
    assert "docs/runbooks/data-drift.md, docs/runbooks/model-performance-degraded.md" in text
    printed = deliver(outcome(True), [], AlertTargets(None, None), NOW)
    assert printed.startswith("alert (no PUSHGATEWAY_URL or ALERT_WEBHOOK_URL set): *Model demo")


def test_a_refused_delivery_is_an_error_that_hides_the_webhook_path(
    http_receiver: HttpReceiver,
) -> None:
    http_receiver.status = 500
    with pytest.raises(ProjectError, match="HTTP Error 500") as error:
        deliver(outcome(True), [], AlertTargets(None, f"{http_receiver.url}/secret-token"), NOW)
    assert "secret-token" not in str(error.value)
    with pytest.raises(ConfigError, match="http"):
        deliver(outcome(True), [], AlertTargets(None, "file:///etc/passwd"), NOW)
