"""Step 1: the rows to score for a run date (gold layer) or from a file, schema-checked.

Rows stay in Arrow: a day of the feature store can hold millions of rows, and pandas
would copy them twice before the model sees them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.lake import Lake
from src.errors import DataValidationError


def load_scoring_rows(lake: Lake, view: FeatureView, day: date) -> pa.Table:
    columns = [*view.key_columns, *view.feature_names]
    table = lake.read(view.table, where=f"{INGEST_DATE} = '{day.isoformat()}'", columns=columns)
    if table.num_rows == 0:
        raise DataValidationError(f"{view.table} has no rows for {day}; nothing to score")
    return table


def load_scoring_file(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file of rows, as a DataFrame (also what `drift-check --current` reads)."""
    if not path.is_file():
        raise DataValidationError(f"input file {path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataValidationError(f"input file {path} is not readable: {error}") from error


def load_scoring_table(path: Path) -> pa.Table:
    frame = load_scoring_file(path)
    if frame.empty:
        raise DataValidationError(f"input file {path} has no rows to score")
    return pa.Table.from_pandas(frame, preserve_index=False)


def validate_schema(table: pa.Table, feature_names: list[str]) -> None:
    """Every feature must be present and numeric, with no missing or infinite values."""
    missing = [name for name in feature_names if name not in table.column_names]
    if missing:
        raise DataValidationError(f"input misses feature columns: {', '.join(missing)}")
    problems = []
    for name in feature_names:
        column = table.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            problems.append(f"{name} (type {column.type}, not a number)")
            continue
        bad = column.null_count
        if pa.types.is_floating(column.type):
            # The sum of an all-null column is null, not 0.
            finite = pc.sum(pc.is_finite(column)).as_py() or 0
            bad += len(column) - column.null_count - finite
        if bad:
            problems.append(f"{name} ({bad} rows not finite numbers)")
    if problems:
        raise DataValidationError(f"input has invalid feature values: {', '.join(problems)}")
