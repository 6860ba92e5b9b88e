import pandas as pd
import pytest

from src.monitoring.performance import PerformanceConfig, PerformanceResult, evaluate_performance

CONFIG = PerformanceConfig(min_labelled_rows=4)


def test_classification_worse_than_training_is_concept_drift() -> None:
    labelled = pd.DataFrame(
        {"prediction": [1, 0, 1, 1, 1, 1, 1, 1], "label": [1, 0, 1, 1, 0, 0, 1, 0]}
    )
    result = evaluate_performance(
        labelled, "label", "classification", {"accuracy": 0.95, "f1": 0.9}, CONFIG
    )
    assert isinstance(result, PerformanceResult)
    assert result.live["accuracy"] == pytest.approx(5 / 8)
    assert result.degraded_metrics == ["accuracy", "f1"]
    assert result.verdict().startswith("DEGRADED on 8 labelled rows: accuracy 0.6250")


@pytest.mark.parametrize(("mae", "degraded"), [(9.5, []), (8.0, ["mae"])])
def test_regression_degradation_is_relative_to_training(mae: float, degraded: list[str]) -> None:
    labelled = pd.DataFrame(
        {"prediction": [100.0, 150.0, 10.0, 0.0], "label": [110.0, 140.0, 0.0, 10.0]}
    )
    result = evaluate_performance(
        labelled, "label", "regression", {"rmse": 10.0, "mae": mae}, CONFIG
    )
    assert isinstance(result, PerformanceResult)
    assert result.live == {"rmse": 10.0, "mae": 10.0}
    assert result.degraded_metrics == degraded


def test_too_few_labels_say_so() -> None:
    labelled = pd.DataFrame({"prediction": [1, 0, 1], "label": [1, None, None]})
    reason = evaluate_performance(labelled, "label", "classification", {}, CONFIG)
    assert reason == (
        "live performance skipped: 1 labelled rows, needs 4 "
        "(config/monitoring.yaml performance.min_labelled_rows)"
    )
