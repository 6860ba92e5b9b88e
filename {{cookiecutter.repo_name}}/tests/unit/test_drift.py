from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.errors import DataValidationError
from src.monitoring.config import DriftConfig
from src.monitoring.drift import detect_drift, write_reports

COLUMNS = ["a", "b", "c", "d"]


def frame(shift: dict[str, float], rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.normal(shift.get(c, 0.0), 1.0, rows) for c in COLUMNS})


def test_same_distribution_does_not_drift() -> None:
    result, _ = detect_drift(frame({}), frame({}, seed=1), COLUMNS, DriftConfig())
    assert not result.dataset_drift
    assert result.drift_share < 0.5


def test_shifted_columns_drift_and_are_named() -> None:
    result, _ = detect_drift(frame({}), frame({"a": 2.0, "b": 2.0}, seed=1), COLUMNS, DriftConfig())
    assert result.dataset_drift
    assert set(result.drifted_columns) == {"a", "b"}
    assert "DRIFT" in result.verdict()


def test_too_few_current_rows_refuses_to_decide() -> None:
    with pytest.raises(DataValidationError, match="at least 30"):
        detect_drift(frame({}), frame({}, rows=10), COLUMNS, DriftConfig())


def test_missing_column_is_named() -> None:
    with pytest.raises(DataValidationError, match="misses columns: d"):
        detect_drift(frame({}), frame({}).drop(columns=["d"]), COLUMNS, DriftConfig())


def test_reports_are_written_with_a_timestamp(tmp_path: Path) -> None:
    result, snapshot = detect_drift(frame({}), frame({"a": 3.0}, seed=2), COLUMNS, DriftConfig())
    paths = write_reports(result, snapshot, tmp_path, datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert [path.name for path in paths] == [
        "drift_20250102T030405Z.json",
        "drift_20250102T030405Z.html",
    ]
    assert '"drifted_columns"' in paths[0].read_text()
    assert "<html" in paths[1].read_text().lower()
