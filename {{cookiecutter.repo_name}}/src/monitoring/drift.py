"""Drift detection with Evidently: current data against the model's reference set.

The per-column decisions are Evidently's own (its drift tests); the dataset drifts when
the share of drifted columns reaches `drift_share`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

from src.errors import DataValidationError
from src.monitoring.config import DriftConfig

# Exit codes of `drift-check`, documented in the README.
EXIT_NO_DRIFT = 0
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


def check_columns(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataValidationError(f"{name} data misses columns: {', '.join(missing)}")
    non_numeric = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise DataValidationError(f"{name} data has non-numeric columns: {', '.join(non_numeric)}")


def detect_drift(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], config: DriftConfig
) -> tuple[DriftResult, Any]:
    """Evidently's drift decisions for `columns`; returns the result and the Evidently snapshot."""
    check_columns(reference, columns, "reference")
    check_columns(current, columns, "current")
    if len(current) < config.min_rows:
        raise DataValidationError(
            f"current data has {len(current)} rows; a drift decision needs at least "
            f"{config.min_rows} (config/monitoring.yaml drift.min_rows)"
        )
    preset = DataDriftPreset(
        columns=columns,
        drift_share=config.drift_share,
        method=config.method,
        threshold=config.column_threshold,
    )
    snapshot = Report([preset], include_tests=True).run(
        current_data=current[columns], reference_data=reference[columns]
    )
    return _parse_snapshot(snapshot.dict(), columns, config, len(reference), len(current)), snapshot


def _parse_snapshot(
    content: dict[str, Any],
    columns: list[str],
    config: DriftConfig,
    reference_rows: int,
    current_rows: int,
) -> DriftResult:
    scores: dict[str, tuple[str, float, float]] = {}
    for metric in content["metrics"]:
        params = metric["config"]
        if params.get("type", "").endswith("ValueDrift"):
            scores[params["column"]] = (params["method"], params["threshold"], metric["value"])
    drifted = {
        test["metric_config"]["params"]["column"]
        for test in content["tests"]
        if test["id"] == "drift" and test["status"] == "FAIL"
    }
    results = [
        ColumnDrift(
            column=column,
            method=scores[column][0],
            threshold=float(scores[column][1]),
            score=float(scores[column][2]),
            drifted=column in drifted,
        )
        for column in columns
    ]
    share = len(drifted) / len(columns)
    return DriftResult(
        columns=results,
        drift_share=share,
        dataset_drift=share >= config.drift_share,
        reference_rows=reference_rows,
        current_rows=current_rows,
    )


def write_reports(
    result: DriftResult, snapshot: Any, reports_dir: Path, now: datetime, html: bool = True
) -> list[Path]:
    """Timestamped JSON (always) and HTML (when asked) reports; returns the paths written."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = f"drift_{now.strftime('%Y%m%dT%H%M%SZ')}"
    json_path = reports_dir / f"{stem}.json"
    json_path.write_text(json.dumps(result.to_dict(), indent=2))
    written = [json_path]
    if html:
        html_path = reports_dir / f"{stem}.html"
        snapshot.save_html(str(html_path))
        written.append(html_path)
    return written
