"""The drift report's decisions on data synthesized from config/features.yaml."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evidently import Run

from src.errors import ConfigError, DataValidationError
from src.monitoring.config import DriftConfig, MonitoringConfig
from src.monitoring.drift import DriftResult, run_drift_report, write_reports
from tests.drift_reference import FLAG, PLAN, contract_frame, contract_view

VIEW = contract_view()
FEATURES = VIEW.feature_names
REFERENCE = contract_frame(VIEW, 600, seed=0)


def check(current: pd.DataFrame, config: MonitoringConfig | None = None) -> tuple[DriftResult, Run]:
    return run_drift_report(
        REFERENCE, current, VIEW, "classification", config or MonitoringConfig()
    )


def test_the_same_distribution_does_not_drift() -> None:
    result, _ = check(contract_frame(VIEW, 400, seed=1))
    assert not result.dataset_drift
    assert result.drift_share < 0.2
    assert result.failed_checks == []
    assert result.prediction is not None and not result.prediction.drifted


def test_shifted_features_drift_categorical_ones_included() -> None:
    shifted = [*FEATURES[: len(FEATURES) // 2 + 1], PLAN, FLAG]
    result, _ = check(contract_frame(VIEW, 400, seed=1, shifted=shifted))
    assert result.dataset_drift
    assert set(shifted) <= set(result.drifted_columns)
    assert "DRIFT" in result.verdict()


def test_a_categorical_shift_alone_is_found_and_does_not_make_the_dataset_drift() -> None:
    result, _ = check(contract_frame(VIEW, 400, seed=1, shifted=[PLAN, FLAG, "prediction"]))
    by_column = {column.column: column for column in result.columns}
    assert by_column[PLAN].drifted and by_column[FLAG].drifted
    assert not result.dataset_drift
    assert result.prediction is not None and result.prediction.drifted
    # Categories get Evidently's categorical tests, numbers its numerical ones.
    assert by_column[PLAN].method != by_column[FEATURES[0]].method


def test_missing_unseen_and_out_of_range_values_fail_the_quality_checks() -> None:
    current = contract_frame(VIEW, 400, seed=1)
    current.loc[:99, FEATURES[0]] = np.nan
    current.loc[:49, FEATURES[1]] = REFERENCE[FEATURES[1]].max() * 10
    current.loc[:49, PLAN] = "enterprise"
    result, _ = check(current)
    assert result.quality[FEATURES[0]][0] == 0.25
    assert result.failed_checks == [
        f"{FEATURES[0]} missing 25.0% > 5.0%",
        f"{FEATURES[1]} out of range 12.5% > 5.0%",
        f"{PLAN} out of range 12.5% > 5.0%",
    ]


def test_bad_input_is_refused_with_its_reason() -> None:
    with pytest.raises(DataValidationError, match="at least 30"):
        check(contract_frame(VIEW, 10, seed=1))
    with pytest.raises(DataValidationError, match=f"no values of: {FEATURES[-1]}"):
        check(contract_frame(VIEW, 100, seed=1).drop(columns=[FEATURES[-1]]))
    with pytest.raises(ConfigError, match="not-a-test"):
        check(
            contract_frame(VIEW, 100, seed=1),
            MonitoringConfig(drift=DriftConfig(method="not-a-test")),
        )


def test_the_configured_test_and_threshold_are_used() -> None:
    config = MonitoringConfig(drift=DriftConfig(method="psi", column_threshold=0.5))
    result, _ = check(contract_frame(VIEW, 400, seed=1), config)
    numbers = [c for c in result.columns if c.column in VIEW.numeric_features]
    assert {(c.method, c.threshold) for c in numbers} == {("psi", 0.5)}


def test_reports_are_the_json_decisions_and_evidently_html(tmp_path: Path) -> None:
    result, report = check(contract_frame(VIEW, 400, seed=1))
    stamp = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    paths = write_reports(report, result.to_dict(), tmp_path, stamp)
    assert [path.name for path in paths] == [
        "drift_20250102T030405Z.json",
        "drift_20250102T030405Z.html",
    ]
    content = json.loads(paths[0].read_text())
    assert content["drifted_columns"] == result.drifted_columns
    assert len(content["evidently"]["metrics"]) == 3 * len(FEATURES) + 1
    assert "<html" in paths[1].read_text().lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
