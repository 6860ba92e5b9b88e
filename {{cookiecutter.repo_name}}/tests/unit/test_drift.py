"""The drift report's decisions on data synthesized from config/features.yaml, plus a string
and a boolean feature so the categorical path is always tested whatever the contract holds."""

import json
from collections.abc import Collection
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evidently import Run

from src.data.feature_store import Column, load_feature_view
from src.data.predictions import PREDICTION
from src.errors import ConfigError, DataValidationError
from src.monitoring.drift import (
    DriftConfig,
    DriftResult,
    MonitoringConfig,
    run_drift_report,
    write_reports,
)
from src.settings import FEATURES_FILE

PLAN, FLAG = "drift_test_plan", "drift_test_flag"
CONTRACT = load_feature_view(FEATURES_FILE)
EXTRA = [Column(name=PLAN, dtype="string", nullable=True), Column(name=FLAG, dtype="bool")]
VIEW = CONTRACT.model_copy(update={"features": [*CONTRACT.features, *EXTRA]})
FEATURES = VIEW.feature_names


def contract_frame(rows: int, seed: int, shifted: Collection[str] = ()) -> pd.DataFrame:
    """A shifted column moves its mean by half its spread (numbers) or its frequencies."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for column in VIEW.features:
        moved = column.name in shifted
        if column.dtype == "bool":
            data[column.name] = rng.random(rows) < (0.8 if moved else 0.3)
        elif column.dtype == "string":
            labels = [str(value) for value in column.values or ["basic", "plus", "pro"]]
            weights = np.arange(len(labels), 0, -1.0) if moved else np.ones(len(labels))
            data[column.name] = rng.choice(labels, rows, p=weights / weights.sum())
        else:
            numbers = (column.min or 0.0) + 10 + rng.normal(1.0 if moved else 0.0, 2.0, rows)
            data[column.name] = numbers.round() if column.dtype == "int64" else numbers
    data[PREDICTION] = rng.choice([0, 1], rows, p=[0.2, 0.8] if PREDICTION in shifted else None)
    return pd.DataFrame(data)


REFERENCE = contract_frame(600, seed=0)


def check(current: pd.DataFrame, config: MonitoringConfig | None = None) -> tuple[DriftResult, Run]:
    return run_drift_report(
        REFERENCE, current, VIEW, "classification", config or MonitoringConfig()
    )


def test_shifted_features_drift_categorical_ones_included() -> None:
    shifted = [*FEATURES[: len(FEATURES) // 2 + 1], PLAN, FLAG]
    result, _ = check(contract_frame(400, seed=1, shifted=shifted))
    assert result.dataset_drift
    assert set(shifted) <= set(result.drifted_columns)
    assert "DRIFT" in result.verdict()


def test_a_categorical_shift_alone_is_found_and_does_not_make_the_dataset_drift() -> None:
    result, _ = check(contract_frame(400, seed=1, shifted=[PLAN, FLAG, PREDICTION]))
    by_column = {column.column: column for column in result.columns}
    assert by_column[PLAN].drifted and by_column[FLAG].drifted
    assert not result.dataset_drift
    assert result.prediction is not None and result.prediction.drifted
    # Categories get Evidently's categorical tests, numbers its numerical ones.
    assert by_column[PLAN].method != by_column[FEATURES[0]].method


def test_missing_unseen_and_out_of_range_values_fail_the_quality_checks() -> None:
    current = contract_frame(400, seed=1)
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
        check(contract_frame(10, seed=1))
    with pytest.raises(DataValidationError, match=f"no values of: {FEATURES[-1]}"):
        check(contract_frame(100, seed=1).drop(columns=[FEATURES[-1]]))
    with pytest.raises(ConfigError, match="not-a-test"):
        check(contract_frame(100, seed=1), MonitoringConfig(drift=DriftConfig(method="not-a-test")))


def test_the_configured_test_and_threshold_are_used() -> None:
    config = MonitoringConfig(drift=DriftConfig(method="psi", threshold=0.5))
    result, _ = check(contract_frame(400, seed=1), config)
    numbers = [c for c in result.columns if c.column in VIEW.numeric_features]
    assert {(c.method, c.threshold) for c in numbers} == {("psi", 0.5)}


def test_the_same_distribution_does_not_drift_and_is_reported_as_json_and_html(
    tmp_path: Path,
) -> None:
    result, report = check(contract_frame(400, seed=1))
    assert not result.dataset_drift
    assert result.drift_share < 0.2
    assert result.failed_checks == []
    assert result.prediction is not None and not result.prediction.drifted
    stamp = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    json_file, html_file = write_reports(report, asdict(result), tmp_path, stamp)
    stem = "drift_20250102T030405Z"
    assert (json_file.name, html_file.name) == (f"{stem}.json", f"{stem}.html")
    content = json.loads(json_file.read_text())
    assert content["dataset_drift"] is False
    assert len(content["evidently"]["metrics"]) == 3 * len(FEATURES) + 1
    assert "<html" in html_file.read_text().lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([json_file.name, html_file.name])
