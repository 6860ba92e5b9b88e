"""The labels table: ground truth that arrives after a prediction, upserted by its
prediction id (a label sent twice, or corrected, leaves one row) and joined to the
predictions window for the live performance check."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import GreaterThanOrEqual

from src.data.feature_store import ARROW_TYPES, EVENT_TIME_TYPE, FeatureView
from src.data.lake import Lake
from src.data.predictions import PREDICTION_DATE, PREDICTION_ID
from src.errors import DataValidationError
from src.names import LABELS_TABLE

LABELED_AT = "labeled_at"
LABEL_DATE = "label_date"


def read_labels_file(path: Path, view: FeatureView) -> pd.DataFrame:
    """A CSV/Parquet file of `prediction_id` and the label column, checked row by row."""
    if not path.is_file():
        raise DataValidationError(f"labels file {path} does not exist")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataValidationError(f"labels file {path} is not readable: {error}") from error
    label = view.label.name
    if frame.empty or {PREDICTION_ID, label} - set(frame.columns):
        raise DataValidationError(f"{path} holds no columns {PREDICTION_ID} and {label}")
    invalid = frame[PREDICTION_ID].isna() | frame[label].isna() | frame[PREDICTION_ID].duplicated()
    if invalid.any():
        raise DataValidationError(
            f"{path} has {int(invalid.sum())} rows without {label} or with a missing or "
            f"repeated {PREDICTION_ID}"
        )
    return frame[[PREDICTION_ID, label]].astype({PREDICTION_ID: str})


def record_labels(lake: Lake, view: FeatureView, labels: pd.DataFrame, now: datetime) -> int:
    """Upsert the labels by prediction id; returns the number of rows written."""
    schema = pa.schema(
        [
            pa.field(PREDICTION_ID, pa.string(), nullable=False),
            pa.field(view.label.name, ARROW_TYPES[view.label.dtype], nullable=False),
            pa.field(LABELED_AT, EVENT_TIME_TYPE, nullable=False),
            pa.field(LABEL_DATE, pa.date32(), nullable=False),
        ]
    )
    lake.create_table(LABELS_TABLE, schema, partition_by=LABEL_DATE)
    rows = labels.assign(**{LABELED_AT: now, LABEL_DATE: now.date()})
    try:
        table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DataValidationError(f"labels are not of type {view.label.dtype}: {error}") from error
    lake.load(LABELS_TABLE).upsert(table, join_cols=[PREDICTION_ID])
    return len(rows)


def join_labels(lake: Lake, view: FeatureView, predictions: pd.DataFrame) -> pd.DataFrame:
    """`predictions` with the label column filled where a label has arrived (else missing)."""
    label = view.label.name
    joined = predictions.drop(columns=[label], errors="ignore")
    if predictions.empty or not lake.exists(LABELS_TABLE):
        return joined.assign(**{label: pd.Series(dtype="float64", index=joined.index)})
    # Labels never arrive before their prediction: older label partitions are skipped, and
    # the rest is streamed, keeping only the labels of these predictions.
    first_day = pd.to_datetime(predictions[PREDICTION_DATE]).min().date().isoformat()
    since = GreaterThanOrEqual(term=LABEL_DATE, value=first_day)
    scan = lake.load(LABELS_TABLE).scan(row_filter=since, selected_fields=(PREDICTION_ID, label))
    ids = pa.array(predictions[PREDICTION_ID].astype(str).unique(), pa.string())
    reader = scan.to_arrow_batch_reader()
    kept = [batch.filter(pc.is_in(batch[PREDICTION_ID], value_set=ids)) for batch in reader]
    labels = pa.Table.from_batches(kept, reader.schema).to_pandas()
    return joined.merge(labels, on=PREDICTION_ID, how="left")
