"""Step 1: the rows to score for a run date, read from the gold layer or a given file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.lake import Lake
from src.errors import DataValidationError


def load_scoring_rows(lake: Lake, view: FeatureView, day: date) -> pd.DataFrame:
    columns = [*view.key_columns, *view.feature_names]
    frame: pd.DataFrame = lake.read(
        view.table, where=f"{INGEST_DATE} = '{day.isoformat()}'", columns=columns
    ).to_pandas()
    if frame.empty:
        raise DataValidationError(f"{view.table} has no rows for {day}; nothing to score")
    return frame


def load_scoring_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataValidationError(f"input file {path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataValidationError(f"input file {path} is not readable: {error}") from error


def validate_schema(frame: pd.DataFrame, feature_names: list[str]) -> None:
    """Every feature must be present and numeric with no missing or infinite values."""
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise DataValidationError(f"input misses feature columns: {', '.join(missing)}")
    problems = []
    for name in feature_names:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = int((values.isna() | ~values.between(-float("inf"), float("inf"))).sum())
        if bad:
            problems.append(f"{name} ({bad} rows not finite numbers)")
    if problems:
        raise DataValidationError(f"input has invalid feature values: {', '.join(problems)}")
