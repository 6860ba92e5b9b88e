import pandas as pd
import pytest

from src.monitoring.config import PerformanceConfig
from src.monitoring.performance import (
    evaluate_performance,
    is_degraded,
    training_metrics_from_tags,
)


def test_training_metrics_come_from_the_version_tags() -> None:
    tags = {"metric.accuracy": "0.95", "metric.f1": "0.9", "git_commit": "a", "metric.x": "n/a"}
    assert training_metrics_from_tags(tags) == {"accuracy": 0.95, "f1": 0.9}


@pytest.mark.parametrize(
    ("metric", "live", "degraded"),
    [
        ("accuracy", 0.86, False),
        ("accuracy", 0.85, True),
        ("rmse", 54.9, False),
        ("rmse", 55.1, True),
    ],
)
def test_degradation_is_relative_and_respects_the_direction(
    metric: str, live: float, degraded: bool
) -> None:
    training = {"accuracy": 0.95, "rmse": 50.0}[metric]
    assert is_degraded(metric, live, training, tolerance=0.1) is degraded


def test_classification_performance_by_day_and_concept_drift() -> None:
    labelled = pd.DataFrame(
        {
            "prediction_date": ["2025-01-01"] * 4 + ["2025-01-02"] * 4,
            "prediction": [1, 0, 1, 1, 1, 1, 1, 1],
            "label": [1, 0, 1, 1, 0, 0, 1, 0],
        }
    )
    result = evaluate_performance(
        labelled, "label", "classification", {"accuracy": 0.95, "f1": 0.9}, PerformanceConfig()
    )
    assert result.live["accuracy"] == pytest.approx(5 / 8)
    assert [day["accuracy"] for day in result.by_day] == [1.0, 0.25]
    assert result.degraded_metrics == ["accuracy", "f1"]
    assert result.concept_drift
    assert result.verdict().startswith("DEGRADED on 8 labelled rows: accuracy 0.6250")


def test_regression_performance_within_tolerance_is_ok() -> None:
    labelled = pd.DataFrame({"prediction": [100.0, 150.0], "label": [110.0, 140.0]})
    result = evaluate_performance(
        labelled, "label", "regression", {"rmse": 10.0, "mae": 9.5, "r2": 0.5}, PerformanceConfig()
    )
    assert result.live == {"rmse": 10.0, "mae": 10.0}
    assert result.training == {"rmse": 10.0, "mae": 9.5}
    assert not result.concept_drift
