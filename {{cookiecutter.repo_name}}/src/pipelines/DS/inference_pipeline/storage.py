"""Step 5: predictions to the object store and the Iceberg table, replacing the model's day."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from src.data.aws_integration import ObjectStore
from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import (
    ScoredRows,
    batch_files_prefix,
    replace_batch_predictions,
    scored_rows_table,
)


def predictions_key(processed_prefix: str, day: date, model_name: str) -> str:
    return (
        f"{batch_files_prefix(processed_prefix)}/prediction_date={day.isoformat()}/"
        f"model_name={model_name}/predictions.parquet"
    )


def store_predictions(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    scored: ScoredRows,
    processed_prefix: str,
    day: date,
) -> tuple[str, pa.Table]:
    """Write the day's file (overwritten on a rerun) and replace its rows in the table.

    The two writes run side by side: Parquet encoding releases the GIL, and each is about
    as long as the model call itself.
    """
    table = scored_rows_table([scored], view)
    key = predictions_key(processed_prefix, day, scored.model_name)
    with ThreadPoolExecutor(max_workers=1) as executor:
        file_written = executor.submit(put_parquet, store, key, table)
        replace_batch_predictions(lake, view, table, day, scored.model_name)
        file_written.result()
    return store.uri(key), table


def put_parquet(store: ObjectStore, key: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    store.put_bytes(key, buffer.getvalue())
