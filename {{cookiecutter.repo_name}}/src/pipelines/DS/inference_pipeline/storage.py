"""Step 5: predictions to the object store and the Iceberg table, replacing the model's day.

The scored batches go to a local Parquet file as they come (`PredictionFile`); that file
is then uploaded whole and appended to the table in chunks, so neither write holds the
day in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from src.data.aws_integration import upload_file
from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import predictions_schema, replace_batch_prediction_chunks
from src.names import batch_files_prefix

# Rows per chunk appended to the predictions table: the memory of the table write.
APPEND_CHUNK_ROWS = 500_000


def predictions_key(processed_prefix: str, day: date, model_name: str) -> str:
    return (
        f"{batch_files_prefix(processed_prefix)}/prediction_date={day.isoformat()}/"
        f"model_name={model_name}/predictions.parquet"
    )


class PredictionFile:
    """A Parquet file in the predictions schema, written batch by batch."""

    def __init__(self, path: Path, view: FeatureView) -> None:
        self.path = path
        self.rows = 0
        self._writer = pq.ParquetWriter(path, predictions_schema(view))

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> PredictionFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def read_chunks(path: Path, rows: int = APPEND_CHUNK_ROWS) -> Iterator[pa.Table]:
    # Without pre-buffering: PyArrow keeps every pre-buffered row group of the file until
    # the iteration ends, so memory would follow the day instead of the chunk.
    parquet = pq.ParquetFile(path, pre_buffer=False)
    for batch in parquet.iter_batches(batch_size=rows):
        yield pa.Table.from_batches([batch])


def store_predictions(
    lake: Lake,
    store: pafs.FileSystem,
    view: FeatureView,
    path: Path,
    processed_prefix: str,
    day: date,
    model_name: str,
) -> str:
    """Upload the day's file (overwritten on a rerun) and replace the model's rows of the
    day in the table with its rows, in one snapshot. The two run side by side."""
    key = predictions_key(processed_prefix, day, model_name)
    with ThreadPoolExecutor(max_workers=1) as executor:
        uploaded = executor.submit(upload_file, store, path, key)
        replace_batch_prediction_chunks(lake, view, read_chunks(path), day, model_name)
        uploaded.result()
    return key
