"""Step 5: predictions to the object store and the Iceberg table, replacing the day's batch."""

from __future__ import annotations

import io
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from src.data.aws_integration import ObjectStore
from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import ScoredRows, replace_batch_predictions, scored_rows_table


def predictions_key(processed_prefix: str, day: date) -> str:
    return f"{processed_prefix}/predictions/prediction_date={day.isoformat()}/predictions.parquet"


def store_predictions(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    scored: ScoredRows,
    processed_prefix: str,
    day: date,
) -> tuple[str, pa.Table]:
    """Write the day's file (overwritten on a rerun) and replace its rows in the table."""
    table = scored_rows_table([scored], view)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = predictions_key(processed_prefix, day)
    store.put_bytes(key, buffer.getvalue())
    replace_batch_predictions(lake, view, table, day)
    return store.uri(key), table
