"""Step 1: the rows to score for a run date (gold layer) or from a file, schema-checked.

Rows stay in Arrow and come as a stream of record batches: a day of the feature store can
hold tens of millions of rows, and only one batch of them is in memory at a time. A
scoring file is read whole (it is one batch).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.lake import Lake
from src.errors import DataValidationError


def stream_scoring_rows(lake: Lake, view: FeatureView, day: date) -> Iterator[pa.Table]:
    """The day's gold rows (keys and features), batch by batch; an empty day is an error
    at once, found from the table's metadata before any row is read."""
    where = f"{INGEST_DATE} = '{day.isoformat()}'"
    if lake.count(view.table, where=where) == 0:
        raise DataValidationError(f"{view.table} has no rows for {day}; nothing to score")
    reader = lake.stream(view.table, where=where, columns=[*view.key_columns, *view.feature_names])
    return (pa.Table.from_batches([batch]) for batch in reader if batch.num_rows)


def load_scoring_file(path: Path) -> pd.DataFrame:
    """A CSV, Parquet or JSON Lines file of rows, as a DataFrame (also what `drift-check
    --current` reads)."""
    if not path.is_file():
        raise DataValidationError(f"input file {path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix in {".jsonl", ".ndjson"}:
            return pd.read_json(path, lines=True)
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataValidationError(f"input file {path} is not readable: {error}") from error


def load_scoring_table(path: Path) -> pa.Table:
    frame = load_scoring_file(path)
    if frame.empty:
        raise DataValidationError(f"input file {path} has no rows to score")
    return pa.Table.from_pandas(frame, preserve_index=False)


def validate_schema(
    table: pa.Table,
    feature_names: list[str],
    categorical: Collection[str] = (),
    nullable: Collection[str] = (),
) -> None:
    """Every feature must be present: numbers finite, categories strings or booleans, and
    missing values only in the nullable features."""
    missing = [name for name in feature_names if name not in table.column_names]
    if missing:
        raise DataValidationError(f"input misses feature columns: {', '.join(missing)}")
    problems = []
    for name in feature_names:
        column = table.column(name)
        if name in categorical:
            if not (
                pa.types.is_string(column.type)
                or pa.types.is_large_string(column.type)
                or pa.types.is_boolean(column.type)
                or pa.types.is_null(column.type)
            ):
                problems.append(f"{name} (type {column.type}, not a category)")
            elif column.null_count and name not in nullable:
                problems.append(f"{name} ({column.null_count} rows missing)")
            continue
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            problems.append(f"{name} (type {column.type}, not a number)")
            continue
        bad = 0 if name in nullable else column.null_count
        if pa.types.is_floating(column.type):
            # The sum of an all-null column is null, not 0; NaN is missing, infinity bad.
            finite = pc.sum(pc.is_finite(column)).as_py() or 0
            nan = pc.sum(pc.is_nan(column)).as_py() or 0
            bad += len(column) - column.null_count - finite - (nan if name in nullable else 0)
        if bad:
            problems.append(f"{name} ({bad} rows not finite numbers)")
    if problems:
        raise DataValidationError(f"input has invalid feature values: {', '.join(problems)}")
