"""Drift detection with Evidently's statistical tests: current data against the reference set.

Each column gets the test Evidently itself would choose (or the configured one) with
Evidently's threshold, so the per-column decisions are Evidently's. What is left out is
what a plain `DataDriftPreset` run adds around them: it tests every column three times
(dataset summary, per-column metric, table widget), counts the distinct values of every
column four times and draws every histogram whether or not a report is wanted. Here each
column is tested once, the distinct-value count stops as soon as the answer is known, the
normed Wasserstein distance (the test of large numerical columns) is computed by one
merge of two sorted arrays instead of SciPy's sort + two binary searches per value, and
the HTML report is built only when asked. `benchmarks/drift/` shows the decisions agree.

The dataset drifts when the share of drifted columns reaches `drift_share`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from src.errors import ConfigError, DataValidationError
from src.monitoring.config import DriftConfig

# Exit codes of `drift-check`, documented in docs/monitoring.md.
EXIT_NO_DRIFT = 0
EXIT_DRIFT = 3

ColumnKind = Literal["numerical", "categorical"]

# Evidently's default choice of test: K-S/chi-square/z up to this many reference rows,
# Wasserstein/Jensen-Shannon above; columns with at most 5 distinct values count as discrete.
SMALL_REFERENCE_ROWS = 1000
MAX_DISCRETE_VALUES = 5
# Distinct values are first counted on this many leading rows: finding more than
# MAX_DISCRETE_VALUES there proves the whole column has more, so the full count is skipped.
DISTINCT_PROBE_ROWS = 10_000
WASSERSTEIN = "wasserstein"
# All terms of the Wasserstein sum are non-negative, so a different summation order moves the
# score by at most (terms x machine epsilon) relative to it, far below this margin. Scores
# this close to the threshold are recomputed with Evidently's own function all the same.
DECISION_MARGIN = 1e-8


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    columns: list[ColumnDrift]
    drift_share: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int

    @property
    def drifted_columns(self) -> list[str]:
        return [column.column for column in self.columns if column.drifted]

    def verdict(self) -> str:
        state = "DRIFT" if self.dataset_drift else "no drift"
        drifted = ", ".join(self.drifted_columns) or "none"
        return (
            f"{state}: {len(self.drifted_columns)}/{len(self.columns)} columns drifted "
            f"(share {self.drift_share:.2f}) over {self.current_rows} current rows; "
            f"drifted: {drifted}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted_columns": self.drifted_columns}


@dataclass(frozen=True)
class DriftEvidence:
    """What the Evidently HTML report needs; it is built only when `save_html` is called."""

    reference: pd.DataFrame
    current: pd.DataFrame
    # Each tested column with its kind and the configured method (None: Evidently's default).
    tested: list[tuple[ColumnDrift, ColumnKind, str | None]] = field(default_factory=list)

    def with_column(
        self, drift: ColumnDrift, kind: ColumnKind, method: str | None
    ) -> DriftEvidence:
        return DriftEvidence(self.reference, self.current, [*self.tested, (drift, kind, method)])

    def save_html(self, path: Path) -> None:
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import ValueDrift
        from evidently.presets import DataSummaryPreset

        names = [drift.column for drift, _, _ in self.tested]
        definition = DataDefinition(
            numerical_columns=[d.column for d, kind, _ in self.tested if kind == "numerical"],
            categorical_columns=[d.column for d, kind, _ in self.tested if kind == "categorical"],
        )
        # The same methods (configured, or Evidently's default choice) and thresholds.
        metrics: list[Any] = [
            ValueDrift(column=drift.column, method=method, threshold=drift.threshold)
            for drift, _, method in self.tested
        ]
        report = Report([*metrics, DataSummaryPreset(columns=names)])
        snapshot = report.run(
            current_data=Dataset.from_pandas(self.current[names], data_definition=definition),
            reference_data=Dataset.from_pandas(self.reference[names], data_definition=definition),
        )
        snapshot.save_html(str(path))


def check_columns(
    frame: pd.DataFrame, columns: Sequence[str], name: str, categorical: Collection[str] = ()
) -> None:
    """The columns must be there, numbers where they are not categorical."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataValidationError(f"{name} data misses columns: {', '.join(missing)}")
    non_numeric = [
        c for c in columns if c not in categorical and not pd.api.types.is_numeric_dtype(frame[c])
    ]
    if non_numeric:
        raise DataValidationError(f"{name} data has non-numeric columns: {', '.join(non_numeric)}")


def finite_values(values: pd.Series, column: str, name: str) -> pd.Series:
    """The values Evidently tests: infinities and missing values dropped."""
    kept: pd.Series = (
        values[np.isfinite(values.to_numpy())]
        if pd.api.types.is_float_dtype(values)
        else values.dropna()
    )
    if not pd.api.types.is_numeric_dtype(kept) or pd.api.types.is_bool_dtype(kept):
        # Categories as text: a column read back with missing values holds objects, and
        # True and "True" must count as the same category on both sides.
        kept = kept.astype(str)
    if kept.empty:
        raise DataValidationError(f"{name} column {column!r} holds no finite values")
    return kept


def has_more_distinct_values(reference: pd.Series, current: pd.Series, limit: int) -> bool:
    """Whether the two columns together hold more than `limit` distinct values."""
    probe = pd.concat([reference.iloc[:DISTINCT_PROBE_ROWS], current.iloc[:DISTINCT_PROBE_ROWS]])
    if probe.nunique() > limit:
        return True
    return bool(pd.concat([reference, current]).nunique() > limit)


def default_stattest(reference: pd.Series, current: pd.Series, kind: ColumnKind) -> Any:
    """Evidently's default test for a column (its `_get_default_stattest` rule)."""
    from evidently.legacy.calculations import stattests

    many_values = has_more_distinct_values(reference, current, MAX_DISCRETE_VALUES)
    binary = not has_more_distinct_values(reference, current, 2)
    if len(reference) <= SMALL_REFERENCE_ROWS:
        if kind == "numerical" and many_values:
            return stattests.ks_stat_test
        return stattests.z_stat_test if binary else stattests.chi_stat_test
    if kind == "numerical" and many_values:
        return stattests.wasserstein_stat_test
    return stattests.jensenshannon_stat_test


def configured_stattest(method: str, kind: ColumnKind) -> Any:
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest

    try:
        return get_registered_stattest(method, column_type(kind))
    except ValueError as error:
        raise ConfigError(
            f"drift method {method!r} does not apply to {kind} columns: {error}"
        ) from error


def column_type(kind: ColumnKind) -> Any:
    from evidently.legacy.core import ColumnType

    return ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical


def wasserstein_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """SciPy's `wasserstein_distance` (first Wasserstein distance), term for term.

    SciPy sorts both samples and their union, then finds each union value's position in
    both samples by binary search. Merging the two sorted samples gives the same
    positions in one pass: a stable sort of two sorted runs is a single merge, and the
    running count of reference values is the reference CDF wherever the next value
    differs (where it does not, the interval is empty and the term is zero).
    """
    ordered_reference = np.sort(reference)
    ordered_current = np.sort(current)
    merged = np.concatenate((ordered_reference, ordered_current))
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    deltas = np.diff(values)
    reference_counts = np.cumsum(order < len(ordered_reference))[:-1]
    current_counts = np.arange(1, len(values)) - reference_counts
    gaps = np.abs(reference_counts / len(reference) - current_counts / len(current))
    vecdot = getattr(np, "vecdot", None)
    total = vecdot(gaps, deltas) if vecdot is not None else np.sum(gaps * deltas)
    return float(total)


def normed_wasserstein(reference: pd.Series, current: pd.Series) -> float:
    """Evidently's "wasserstein" score: the distance divided by the reference's spread."""
    norm = max(float(np.std(reference)), 0.001)
    return wasserstein_distance(reference.to_numpy(), current.to_numpy()) / norm


def decide_column_drift(
    reference: pd.Series,
    current: pd.Series,
    column: str,
    kind: ColumnKind,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    """One column's drift score and decision, by the test Evidently would run."""
    reference = finite_values(reference, column, "reference")
    current = finite_values(current, column, "current")
    if method is None:
        stattest = default_stattest(reference, current, kind)
    else:
        stattest = configured_stattest(method, kind)
    limit = float(stattest.default_threshold if threshold is None else threshold)
    if stattest.name == WASSERSTEIN:
        score = normed_wasserstein(reference, current)
        if abs(score - limit) > DECISION_MARGIN * max(abs(score), abs(limit)):
            return ColumnDrift(column, stattest.name, limit, score, score >= limit)
    result = stattest(reference, current, column_type(kind), limit)
    return ColumnDrift(
        column, stattest.name, limit, float(result.drift_score), bool(result.drifted)
    )


def check_enough_rows(current: pd.DataFrame, config: DriftConfig) -> None:
    if len(current) < config.min_rows:
        raise DataValidationError(
            f"current data has {len(current)} rows; a drift decision needs at least "
            f"{config.min_rows} (config/monitoring.yaml drift.min_rows)"
        )


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    config: DriftConfig,
    categorical: Collection[str] = (),
) -> tuple[DriftResult, DriftEvidence]:
    """Per-column drift decisions for `columns`; returns the result and the report evidence.

    Columns in `categorical` (strings, booleans) get Evidently's categorical tests
    (chi-square or z-test on small references, Jensen-Shannon above), the others its
    numerical ones."""
    check_columns(reference, columns, "reference", categorical)
    check_columns(current, columns, "current", categorical)
    check_enough_rows(current, config)
    evidence = DriftEvidence(reference, current)
    results = []
    for column in columns:
        kind: ColumnKind = "categorical" if column in categorical else "numerical"
        drift = decide_column_drift(
            reference[column],
            current[column],
            column,
            kind,
            config.method if kind == "numerical" else config.categorical_method,
            config.column_threshold if kind == "numerical" else config.categorical_threshold,
        )
        results.append(drift)
        evidence = evidence.with_column(
            drift, kind, config.method if kind == "numerical" else config.categorical_method
        )
    share = sum(drift.drifted for drift in results) / len(columns)
    result = DriftResult(
        columns=results,
        drift_share=share,
        dataset_drift=share >= config.drift_share,
        reference_rows=len(reference),
        current_rows=len(current),
    )
    return result, evidence


def detect_prediction_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    column: str,
    kind: ColumnKind,
    config: DriftConfig,
    evidence: DriftEvidence | None = None,
) -> tuple[ColumnDrift, DriftEvidence]:
    """Drift of the model's output: classes are categorical, regression values numerical."""
    for frame, name in ((reference, "reference"), (current, "current")):
        if column not in frame.columns:
            raise DataValidationError(f"{name} data has no {column!r} column")
    drift = decide_column_drift(
        reference[column],
        current[column],
        column,
        kind,
        config.prediction_method,
        config.prediction_threshold,
    )
    base = evidence or DriftEvidence(reference, current)
    return drift, base.with_column(drift, kind, config.prediction_method)


def write_reports(
    result: DriftResult,
    snapshot: DriftEvidence,
    reports_dir: Path,
    now: datetime,
    html: bool = True,
    sections: dict[str, Any] | None = None,
) -> list[Path]:
    """Timestamped JSON (always) and HTML (when asked) reports; returns the paths written.

    `sections` adds further parts (prediction drift, quality, performance) to the JSON.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = f"drift_{now.strftime('%Y%m%dT%H%M%SZ')}"
    json_path = reports_dir / f"{stem}.json"
    content = {**result.to_dict(), **(sections or {}), "checked_at": now.isoformat()}
    written = []
    if html:
        html_path = reports_dir / f"{stem}.html"
        snapshot.save_html(html_path)
        written.append(html_path)
    # The JSON goes last: a report that has a JSON file is complete.
    temporary = json_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(content, indent=2, default=str))
    temporary.replace(json_path)
    return [json_path, *written]
