"""Drift and data quality of current data against the reference set in one Evidently report:
a `ValueDrift` per feature and for the model's output, the shares missing and outside the
reference; the dataset drifted when the share of drifted features reaches `drift_share`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report, Run
from evidently.metrics import MissingValueCount, OutListValueCount, OutRangeValueCount, ValueDrift
from pydantic import BaseModel, Field

from src.data.feature_store import FeatureView
from src.data.predictions import PREDICTION
from src.errors import ConfigError, DataValidationError
from src.model.train import Task
from src.monitoring.performance import PerformanceConfig


class DriftConfig(BaseModel):
    # Evidently's test names ("ks", "psi", "chisquare", ...) for numbers and for categories
    # (a classifier's predictions are categories); None: Evidently's choice and threshold.
    method: str | None = None
    threshold: float | None = Field(default=None, gt=0)
    categorical_method: str | None = None
    categorical_threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    window_days: int = Field(default=7, ge=1)
    min_rows: int = Field(default=30, ge=1)
    # Bounded memory: seeded samples of at most this many current and reference rows.
    max_current_rows: int = Field(default=200_000, ge=1)
    max_reference_rows: int = Field(default=100_000, ge=1)
    sample_seed: int = 42


class QualityConfig(BaseModel):
    max_missing_share: float = Field(default=0.05, ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.05, ge=0, le=1)
    # The accepted range is the reference's [min, max] widened by this share of its width.
    range_tolerance: float = Field(default=0.1, ge=0)


class MonitoringConfig(BaseModel):
    drift: DriftConfig = Field(default_factory=DriftConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)


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
    quality: dict[str, tuple[float, float]]  # per feature: (share missing, share outside)
    failed_checks: list[str]
    drift_share: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int

    @property
    def drifted_columns(self) -> list[str]:
        return [column.column for column in self.columns if column.drifted]

    def verdict(self) -> str:
        drifted, prediction, failed = self.drifted_columns, self.prediction, self.failed_checks
        text = (
            f"{'DRIFT' if self.dataset_drift else 'no drift'}: {len(drifted)}/{len(self.columns)}"
            f" columns drifted (share {self.drift_share:.2f}) over {self.current_rows} current"
            f" rows; drifted: {', '.join(drifted) or 'none'}"
        )
        if prediction is not None:
            moved = "DRIFT" if prediction.drifted else "no drift"
            text += f"; prediction {moved} ({prediction.method} {prediction.score:.3g})"
        quality = "; ".join(failed[:3]) + ("; ..." if failed[3:] else "")
        return text + (f"; QUALITY FAILED: {quality}" if failed else "; quality ok")


def build_report(
    reference: pd.DataFrame, view: FeatureView, categorical: list[str], config: MonitoringConfig
) -> Report:
    """Per feature: missing values, values outside the reference, drift; then the output's."""
    drift = config.drift
    metrics: list[Any] = []
    for column in view.feature_names:
        known = reference[column].dropna()
        if column in view.categorical_features:
            outside: Any = OutListValueCount(column=column, values=known.unique().tolist())
        else:
            low, high = float(known.min()), float(known.max())
            margin = (high - low) * config.quality.range_tolerance
            outside = OutRangeValueCount(column=column, left=low - margin, right=high + margin)
        metrics += [MissingValueCount(column=column), outside]
    for column in [name for name in [*view.feature_names, PREDICTION] if name in reference]:
        if column in categorical:
            method, threshold = drift.categorical_method, drift.categorical_threshold
        else:
            method, threshold = drift.method, drift.threshold
        metrics.append(ValueDrift(column=column, method=method, threshold=threshold))
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
    columns, min_rows = view.feature_names, config.drift.min_rows
    for frame, name in ((reference, "reference"), (current, "current")):
        if missing := [c for c in columns if c not in frame or frame[c].isna().all()]:
            raise DataValidationError(f"{name} data has no values of: {', '.join(missing)}")
    if len(current) < min_rows:
        raise DataValidationError(
            f"current data has {len(current)} rows; a drift decision needs at least "
            f"{min_rows} (config/monitoring.yaml drift.min_rows)"
        )
    predicted = PREDICTION in reference and PREDICTION in current
    selected = [*columns, PREDICTION] if predicted else columns
    classes = [PREDICTION] if predicted and task == "classification" else []
    categorical = [*view.categorical_features, *classes]
    numerical = [column for column in selected if column not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    try:
        run = build_report(reference[selected], view, categorical, config).run(
            current_data=Dataset.from_pandas(current[selected], data_definition=definition),
            reference_data=Dataset.from_pandas(reference[selected], data_definition=definition),
        )
    except ValueError as error:  # e.g. a test name Evidently does not know
        raise ConfigError(f"config/monitoring.yaml drift: {error}") from error
    return read_decisions(run.dict(), reference, columns, len(current), config), run


def read_decisions(
    content: dict[str, Any],
    reference: pd.DataFrame,
    columns: list[str],
    rows: int,
    config: MonitoringConfig,
) -> DriftResult:
    """The decisions in a report's results (`Run.dict()`)."""
    failed = {t["metric_config"]["metric_id"] for t in content["tests"] if t["status"] == "FAIL"}
    drifts: dict[str, ColumnDrift] = {}
    shares: dict[tuple[bool, str], float] = {}
    for metric in content["metrics"]:
        kind, column = metric["config"]["type"].rsplit(":", 1)[-1], metric["config"]["column"]
        if kind == "ValueDrift":
            method, threshold = metric["config"]["method"], float(metric["config"]["threshold"])
            score, drifted = float(metric["value"]), metric["id"] in failed
            drifts[column] = ColumnDrift(column, method, threshold, score, drifted)
        else:  # (is the share missing, column): share
            shares[kind == "MissingValueCount", column] = float(metric["value"]["share"])
    quality = {c: (shares[True, c], shares[False, c]) for c in columns}
    checks: list[str] = []
    limit = config.quality.max_out_of_range_share
    for column, (missing, outside) in quality.items():
        # A feature often missing in the reference (nullable) may be missing that much more,
        # plus three standard errors of the share in a window of `rows` (chance, not a fault).
        usual = float(reference[column].isna().mean())
        chance = 3 * (usual * (1 - usual) / max(rows, 1)) ** 0.5
        allowed = usual + config.quality.max_missing_share + chance
        if missing > allowed:
            checks.append(f"{column} missing {missing:.1%} > {allowed:.1%}")
        if outside > limit:
            checks.append(f"{column} out of range {outside:.1%} > {limit:.1%}")
    share = sum(drifts[column].drifted for column in columns) / len(columns)
    features, drifting = [drifts[c] for c in columns], share >= config.drift.drift_share
    prediction = drifts.get(PREDICTION)
    return DriftResult(features, prediction, quality, checks, share, drifting, len(reference), rows)


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
