"""Drift and data quality of current data against the reference set: one Evidently report.

Each feature of config/features.yaml (categorical ones like numbers) and the model's output
get a `ValueDrift`, Evidently's test for the column or the configured one; quality is the
share of values missing or outside the reference. A column drifted when its test failed, the
dataset when the share of drifted features reaches `drift_share`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report, Run
from evidently.metrics import MissingValueCount, OutListValueCount, OutRangeValueCount, ValueDrift

from src.data.feature_store import FeatureView
from src.data.predictions import PREDICTION
from src.errors import ConfigError, DataValidationError
from src.model.train import Task
from src.monitoring.config import MonitoringConfig

# Exit code of `drift-check` when it finds a problem (docs/monitoring.md).
EXIT_DRIFT = 3


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
    prediction: ColumnDrift | None
    # Per feature: (share missing, share outside the reference).
    quality: dict[str, tuple[float, float]]
    failed_checks: list[str]
    drift_share: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int

    @property
    def drifted_columns(self) -> list[str]:
        return [column.column for column in self.columns if column.drifted]

    def verdict(self) -> str:
        drifted, state = self.drifted_columns, "DRIFT" if self.dataset_drift else "no drift"
        text = (
            f"{state}: {len(drifted)}/{len(self.columns)} columns drifted (share "
            f"{self.drift_share:.2f}) over {self.current_rows} current rows; drifted: "
            f"{', '.join(drifted) or 'none'}"
        )
        if self.prediction is not None:
            moved = "DRIFT" if self.prediction.drifted else "no drift"
            text += f"; prediction {moved} ({self.prediction.method} {self.prediction.score:.3g})"
        failed = "; ".join(self.failed_checks[:3]) + (
            "; ..." if len(self.failed_checks) > 3 else ""
        )
        return text + (f"; QUALITY FAILED: {failed}" if failed else "; quality ok")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted_columns": self.drifted_columns}


def check_frames(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], min_rows: int
) -> None:
    for frame, name in ((reference, "reference"), (current, "current")):
        missing = [c for c in columns if c not in frame.columns or frame[c].isna().all()]
        if missing:
            raise DataValidationError(f"{name} data has no values of: {', '.join(missing)}")
    if len(current) < min_rows:
        raise DataValidationError(
            f"current data has {len(current)} rows; a drift decision needs at least "
            f"{min_rows} (config/monitoring.yaml drift.min_rows)"
        )


def build_report(
    reference: pd.DataFrame, view: FeatureView, predicted: bool, config: MonitoringConfig
) -> Report:
    drift, tolerance = config.drift, config.quality.range_tolerance
    metrics: list[Any] = []
    for column in view.feature_names:
        known = reference[column].dropna()
        if column in view.categorical_features:
            method, threshold = drift.categorical_method, drift.categorical_threshold
            outside: Any = OutListValueCount(column=column, values=known.unique().tolist())
        else:
            method, threshold = drift.method, drift.column_threshold
            low, high = float(known.min()), float(known.max())
            margin = (high - low) * tolerance
            outside = OutRangeValueCount(column=column, left=low - margin, right=high + margin)
        metrics += [
            ValueDrift(column=column, method=method, threshold=threshold),
            MissingValueCount(column=column),
            outside,
        ]
    if predicted:
        method, threshold = drift.prediction_method, drift.prediction_threshold
        metrics.append(ValueDrift(column=PREDICTION, method=method, threshold=threshold))
    return Report(metrics, include_tests=True)


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    view: FeatureView,
    task: Task,
    config: MonitoringConfig,
) -> tuple[DriftResult, Run]:
    """The report of `current` against `reference` and the decisions read from it. The
    model's output is checked when both hold it: classes as categories, values as numbers."""
    columns = view.feature_names
    check_frames(reference, current, columns, config.drift.min_rows)
    predicted = PREDICTION in reference.columns and PREDICTION in current.columns
    selected = [*columns, PREDICTION] if predicted else columns
    classes = [PREDICTION] if predicted and task == "classification" else []
    categorical = [*view.categorical_features, *classes]
    numerical = [column for column in selected if column not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    try:
        report = build_report(reference, view, predicted, config).run(
            current_data=Dataset.from_pandas(current[selected], data_definition=definition),
            reference_data=Dataset.from_pandas(reference[selected], data_definition=definition),
        )
    except ValueError as error:  # e.g. a test name Evidently does not know
        raise ConfigError(f"config/monitoring.yaml drift: {error}") from error
    return read_decisions(report.dict(), reference, columns, len(current), config), report


def read_decisions(
    content: dict[str, Any],
    reference: pd.DataFrame,
    columns: list[str],
    rows: int,
    config: MonitoringConfig,
) -> DriftResult:
    """The decisions in a report's results (`Run.dict()`)."""
    failed = {
        test["metric_config"]["metric_id"] for test in content["tests"] if test["status"] == "FAIL"
    }
    drifts: dict[str, ColumnDrift] = {}
    shares: dict[tuple[str, str], float] = {}
    for metric in content["metrics"]:
        kind, column = metric["config"]["type"].rsplit(":", 1)[-1], metric["config"]["column"]
        if kind == "ValueDrift":
            test = metric["config"]["method"], float(metric["config"]["threshold"])
            drifts[column] = ColumnDrift(
                column, *test, float(metric["value"]), metric["id"] in failed
            )
        else:
            shares[("missing" if kind == "MissingValueCount" else "outside", column)] = metric[
                "value"
            ]["share"]
    quality = {c: (float(shares["missing", c]), float(shares["outside", c])) for c in columns}
    share = sum(drifts[c].drifted for c in columns) / len(columns)
    return DriftResult(
        [drifts[c] for c in columns], drifts.get(PREDICTION), quality,
        failed_quality_checks(quality, reference, config), share,
        share >= config.drift.drift_share, len(reference), rows,
    )  # fmt: skip


def failed_quality_checks(
    quality: dict[str, tuple[float, float]], reference: pd.DataFrame, config: MonitoringConfig
) -> list[str]:
    """A feature often missing in the reference (nullable) may be missing that much more."""
    limits, failed = config.quality, []
    for column, (missing, outside) in quality.items():
        allowed = float(reference[column].isna().mean()) + limits.max_missing_share
        if missing > allowed:
            failed.append(f"{column} missing {missing:.1%} > {allowed:.1%}")
        if outside > limits.max_out_of_range_share:
            failed.append(
                f"{column} out of range {outside:.1%} > {limits.max_out_of_range_share:.1%}"
            )
    return failed


def write_reports(
    report: Run, summary: dict[str, Any], reports_dir: Path, stamp: datetime
) -> list[Path]:
    """`drift_<stamp>.json` (the decisions, then Evidently's results) and `.html`; the JSON
    is written last through a temporary name, so a report with a JSON file is complete."""
    stem = reports_dir / f"drift_{stamp.strftime('%Y%m%dT%H%M%SZ')}"
    reports_dir.mkdir(parents=True, exist_ok=True)
    report.save_html(str(stem.with_suffix(".html")))
    content = {**summary, "checked_at": stamp.isoformat(), "evidently": report.dict()}
    stem.with_suffix(".tmp").write_text(json.dumps(content, indent=2, default=str))
    stem.with_suffix(".tmp").replace(stem.with_suffix(".json"))
    return [stem.with_suffix(".json"), stem.with_suffix(".html")]
