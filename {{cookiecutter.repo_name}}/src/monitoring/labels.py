"""The labels table: ground truth that arrives after a prediction, keyed by its prediction id.

Joined to the predictions table, it gives the live performance and the concept drift
checks their labelled rows. Writing is an upsert by prediction id, so sending the same
labels twice (or a corrected label) leaves one row per prediction.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from src.data.feature_store import ARROW_TYPES, EVENT_TIME_TYPE, FeatureView
from src.data.lake import Lake
from src.data.predictions import PREDICTION_DATE, PREDICTION_ID
from src.data.sampling import filter_stream_by_keys
from src.errors import DataValidationError
from src.names import LABELS_TABLE

LABELED_AT = "labeled_at"
LABEL_DATE = "label_date"


def labels_schema(view: FeatureView) -> pa.Schema:
    return pa.schema(
        [
            pa.field(PREDICTION_ID, pa.string(), nullable=False),
            pa.field(view.label.name, ARROW_TYPES[view.label.dtype], nullable=False),
            pa.field(LABELED_AT, EVENT_TIME_TYPE, nullable=False),
            pa.field(LABEL_DATE, pa.date32(), nullable=False),
        ]
    )


def read_labels_file(path: Path, view: FeatureView) -> pd.DataFrame:
    """A CSV/Parquet file of `prediction_id` and the label column, checked row by row."""
    if not path.is_file():
        raise DataValidationError(f"labels file {path} does not exist")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataValidationError(f"labels file {path} is not readable: {error}") from error
    return validate_labels(frame, view, str(path))


def validate_labels(frame: pd.DataFrame, view: FeatureView, source: str) -> pd.DataFrame:
    label = view.label.name
    missing = [column for column in (PREDICTION_ID, label) if column not in frame.columns]
    if missing:
        raise DataValidationError(f"{source} misses columns: {', '.join(missing)}")
    if frame.empty:
        raise DataValidationError(f"{source} holds no labels")
    problems = []
    if frame[PREDICTION_ID].isna().any():
        problems.append(f"{int(frame[PREDICTION_ID].isna().sum())} rows without {PREDICTION_ID}")
    duplicated = frame[PREDICTION_ID].dropna().duplicated()
    if duplicated.any():
        problems.append(f"{int(duplicated.sum())} repeated {PREDICTION_ID}s")
    values = pd.to_numeric(frame[label], errors="coerce") if view.label.dtype != "string" else None
    if values is not None and values.isna().any():
        problems.append(f"{int(values.isna().sum())} rows whose {label} is not a number")
    if problems:
        raise DataValidationError(f"{source} has invalid rows: {'; '.join(problems)}")
    labels = frame[[PREDICTION_ID, label]].copy()
    labels[PREDICTION_ID] = labels[PREDICTION_ID].astype(str)
    if values is not None:
        labels[label] = values.astype(view.label.dtype)
    return labels


def record_labels(lake: Lake, view: FeatureView, labels: pd.DataFrame, now: datetime) -> int:
    """Upsert the labels by prediction id; returns the number of rows written."""
    schema = labels_schema(view)
    lake.create_table(LABELS_TABLE, schema, partition_by=LABEL_DATE)
    rows = labels.assign(**{LABELED_AT: now, LABEL_DATE: now.date()})
    table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    lake.upsert(LABELS_TABLE, table, keys=[PREDICTION_ID])
    return len(rows)


def join_labels(lake: Lake, view: FeatureView, predictions: pd.DataFrame) -> pd.DataFrame:
    """`predictions` with the label column filled where a label has arrived (else missing)."""
    label = view.label.name
    joined = predictions.drop(columns=[label], errors="ignore")
    if predictions.empty or not lake.table_exists(LABELS_TABLE):
        return joined.assign(**{label: pd.Series(dtype="float64", index=joined.index)})
    # Labels never arrive before their prediction: older label partitions are skipped.
    first_day: date = pd.to_datetime(predictions[PREDICTION_DATE]).min().date()
    # Streamed and matched against the predictions' ids: only their labels are held.
    stream = lake.read_batches(
        LABELS_TABLE,
        where=f"{LABEL_DATE} >= '{first_day.isoformat()}'",
        columns=[PREDICTION_ID, label],
    )
    ids = pa.array(predictions[PREDICTION_ID].astype(str).unique(), pa.string())
    labels = filter_stream_by_keys(stream, PREDICTION_ID, ids).to_pandas()
    return joined.merge(labels, on=PREDICTION_ID, how="left")
