"""The drift job's webhook alert, posted to a real HTTP server started by the test."""

import json

import numpy as np
import pandas as pd
import pytest

from src.errors import ConfigError, ProjectError
from src.model.predictor import Predictor
from src.monitoring.alerts import post_alert
from src.monitoring.check import MonitoringOutcome, build_alert, run_monitoring_check
from src.monitoring.config import AlertConfig, MonitoringConfig
from tests.conftest import HttpReceiver

FEATURES = ["f1", "f2", "f3"]


class ThresholdModel:
    """Predicts class 1 when f1 > 0: enough of an estimator for the check."""

    classes_ = np.array([0, 1])

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return (np.asarray(matrix)[:, 0] > 0).astype(int)

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        # The predictor hands over rows in FEATURES order: f1 is the first column.
        positive = (np.asarray(matrix)[:, 0] > 0).astype(float)
        return np.column_stack([1 - positive * 0.9, 0.1 + positive * 0.8])


def outcome(shift: float, labels_flipped: bool = False) -> MonitoringOutcome:
    rng = np.random.default_rng(1)
    predictor = Predictor(
        ThresholdModel(), "classification", FEATURES, "demo_model", "3", "production", "r"
    )
    reference = pd.DataFrame(rng.normal(0, 1, (300, 3)), columns=FEATURES)
    reference["prediction"] = (reference["f1"] > 0).astype(int)
    reference["label"] = reference["prediction"]
    current = pd.DataFrame(rng.normal(shift, 1, (300, 3)), columns=FEATURES)
    truth = (current["f1"] > 0).astype(int)
    current["label"] = 1 - truth if labels_flipped else truth
    training = {"accuracy": 0.97, "f1": 0.96}
    return run_monitoring_check(
        predictor, reference, current, "label", training, MonitoringConfig(), "a test window"
    )


def test_no_problem_no_alert() -> None:
    result = outcome(shift=0.0)
    assert result.problems == []
    assert build_alert(result, MonitoringConfig(), []) is None


def test_the_alert_names_every_problem_with_figures_and_runbooks() -> None:
    result = outcome(shift=1.0, labels_flipped=True)
    assert result.problems == ["data drift", "prediction drift", "concept drift"]
    alert = build_alert(result, MonitoringConfig(), [])
    assert alert is not None
    assert alert.title == "Model demo_model v3: data drift, prediction drift, concept drift"
    text = alert.text()
    assert "Data drift: 3/3 features drifted (share 1.00): f1 (ks " in text
    assert "Prediction drift: z score" in text
    assert "Concept drift: live performance degraded: accuracy 0.0000 vs 0.9700 at training" in text
    assert alert.runbooks == [
        "docs/runbooks/data-drift.md",
        "docs/runbooks/prediction-drift.md",
        "docs/runbooks/model-performance-degraded.md",
    ]


def test_alerts_follow_the_configuration() -> None:
    config = MonitoringConfig(alerts=AlertConfig(on_drift=False))
    alert = build_alert(outcome(shift=1.0, labels_flipped=True), config, [])
    assert alert is not None
    assert alert.title.endswith(": concept drift")


def test_the_alert_is_posted_as_a_slack_message(http_receiver: HttpReceiver) -> None:
    alert = build_alert(outcome(shift=1.0), MonitoringConfig(), [])
    assert alert is not None
    post_alert(alert, f"{http_receiver.url}/services/T000/B000/XXX", timeout=5)
    [request] = http_receiver.requests
    assert (request.method, request.path) == ("POST", "/services/T000/B000/XXX")
    body = json.loads(request.body)
    assert body["text"] == alert.text()
    assert body["text"].startswith("*Model demo_model v3: data drift, prediction drift*")
    header, section, context = body["blocks"]
    assert header["text"]["text"] == alert.title
    assert section["text"]["text"].startswith("• Data drift: 3/3 features drifted")
    assert "`docs/runbooks/data-drift.md`" in context["elements"][-1]["text"]


def test_a_refused_alert_is_an_error_that_hides_the_url(http_receiver: HttpReceiver) -> None:
    http_receiver.status = 500
    alert = build_alert(outcome(shift=1.0), MonitoringConfig(), [])
    assert alert is not None
    with pytest.raises(ProjectError, match="answered 500") as error:
        post_alert(alert, f"{http_receiver.url}/secret-token", timeout=5)
    assert "secret-token" not in str(error.value)


def test_a_webhook_url_must_be_http() -> None:
    alert = build_alert(outcome(shift=1.0), MonitoringConfig(), [])
    assert alert is not None
    with pytest.raises(ConfigError, match="http"):
        post_alert(alert, "file:///etc/passwd", timeout=5)
