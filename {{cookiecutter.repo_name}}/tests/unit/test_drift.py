import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.errors import ConfigError, DataValidationError
from src.monitoring.config import DriftConfig
from src.monitoring.drift import ColumnKind, detect_drift, write_reports
from tests.drift_reference import run_plain_preset

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


@pytest.mark.parametrize("rows", [400, 1500])
def test_scores_and_decisions_equal_a_plain_evidently_run(rows: int) -> None:
    rng = np.random.default_rng(7)
    names = [f"x{i}" for i in range(6)]
    reference = pd.DataFrame(rng.normal(0, 1, (rows, 6)), columns=names)
    current = pd.DataFrame(rng.normal(0, 1, (rows, 6)), columns=names)
    current += [0.0, 0.0, 0.0, 0.5, 1.0, 0.0]
    # A discrete column (chi-square / Jensen-Shannon) and one with NaN and infinities.
    reference["x5"] = rng.integers(0, 4, rows).astype(float)
    current["x5"] = rng.integers(0, 3, rows).astype(float)
    current.loc[:20, "x0"] = np.nan
    current.loc[21:25, "x0"] = np.inf
    result, _ = detect_drift(reference, current, names, DriftConfig())
    plain = run_plain_preset(reference, current)
    assert {c.column: (c.score, c.drifted) for c in result.columns} == plain
    assert 0 < len(result.drifted_columns) < len(names)


def test_wasserstein_distance_equals_scipy_with_ties_and_unequal_sizes() -> None:
    from scipy import stats  # type: ignore[import-untyped]

    from src.monitoring.drift import wasserstein_distance

    rng = np.random.default_rng(3)
    for size in (1, 2, 50, 20_000):
        reference = np.round(rng.normal(0, 1, size), 1)
        current = np.round(rng.normal(0.3, 2, size * 3 + 1), 1)
        ours = wasserstein_distance(reference, current)
        assert ours == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-12)


@pytest.mark.parametrize("reference_rows", [1000, 1001])
@pytest.mark.parametrize("distinct", [1, 2, 3, 5, 6, 40])
@pytest.mark.parametrize("kind", ["numerical", "categorical"])
def test_default_test_is_the_one_evidently_chooses(
    reference_rows: int, distinct: int, kind: ColumnKind
) -> None:
    from evidently.legacy.calculations.stattests.registry import get_stattest

    from src.monitoring.drift import column_type, default_stattest

    # The values past the probe rows decide the count, so the full count is exercised too.
    values = np.zeros(reference_rows)
    values[-distinct:] = np.arange(distinct)
    reference = pd.Series(values)
    current = pd.Series(np.zeros(50))
    expected = get_stattest(reference, current, column_type(kind), None)
    assert default_stattest(reference, current, kind).name == expected.name


def test_predicted_classes_drift_as_a_categorical_column() -> None:
    from src.monitoring.drift import detect_prediction_drift

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"prediction": rng.choice([0, 1], 300, p=[0.4, 0.6])})
    same = pd.DataFrame({"prediction": rng.choice([0, 1], 300, p=[0.4, 0.6])})
    flipped = pd.DataFrame({"prediction": rng.choice([0, 1], 300, p=[0.8, 0.2])})
    config = DriftConfig()
    stable, _ = detect_prediction_drift(reference, same, "prediction", "categorical", config)
    moved, evidence = detect_prediction_drift(
        reference, flipped, "prediction", "categorical", config
    )
    assert stable.method == moved.method == "z"
    assert not stable.drifted
    assert moved.drifted
    assert evidence.tested[0][1] == "categorical"


def test_configured_method_and_threshold_are_used() -> None:
    config = DriftConfig(method="psi", column_threshold=0.5)
    result, _ = detect_drift(frame({}), frame({"a": 0.4}, seed=1), COLUMNS, config)
    assert {c.method for c in result.columns} == {"psi"}
    assert {c.threshold for c in result.columns} == {0.5}


def test_an_unknown_method_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'not-a-test'"):
        detect_drift(frame({}), frame({}, seed=1), COLUMNS, DriftConfig(method="not-a-test"))


def test_a_column_without_finite_values_is_named() -> None:
    current = frame({}, seed=1)
    current["c"] = np.nan
    with pytest.raises(DataValidationError, match="current column 'c' holds no finite values"):
        detect_drift(frame({}), current, COLUMNS, DriftConfig())


def test_json_report_holds_extra_sections_and_html_is_optional(tmp_path: Path) -> None:
    result, evidence = detect_drift(frame({}), frame({}, seed=1), COLUMNS, DriftConfig())
    now = datetime(2025, 1, 2, tzinfo=UTC)
    paths = write_reports(result, evidence, tmp_path, now, html=False, sections={"quality": "ok"})
    assert [path.name for path in paths] == ["drift_20250102T000000Z.json"]
    content = json.loads(paths[0].read_text())
    assert content["quality"] == "ok"
    assert content["checked_at"] == now.isoformat()
    assert not list(tmp_path.glob("*.tmp"))
