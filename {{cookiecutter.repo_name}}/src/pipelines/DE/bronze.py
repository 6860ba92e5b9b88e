"""Bronze: raw files as received, plus ingestion metadata. A file is ingested once."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa

from src.data.aws_integration import ObjectStore
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.tables import bronze_table
from src.errors import DataValidationError

SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"


@dataclass(frozen=True)
class BronzeResult:
    files_ingested: int
    files_skipped: int
    rows: int


def bronze_schema(view: FeatureView) -> pa.Schema:
    """Raw columns stay text in bronze: typing is silver's job, so nothing is lost here."""
    raw_columns = [*view.key_columns, *view.feature_names, view.label.name]
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in raw_columns),
            pa.field(SOURCE_FILE, pa.string(), nullable=False),
            pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field(INGEST_DATE, pa.date32(), nullable=False),
        ]
    )


def raw_prefix_for_day(raw_prefix: str, dataset: str, day: date) -> str:
    return f"{raw_prefix}/{dataset}/ingest_date={day.isoformat()}/"


def read_raw_file(store: ObjectStore, key: str, view: FeatureView) -> pd.DataFrame:
    """Read one raw CSV as text columns, refusing a file that misses contract columns."""
    try:
        frame = pd.read_csv(io.BytesIO(store.get_bytes(key)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataValidationError(
            f"raw file {store.uri(key)} is not readable CSV: {error}"
        ) from error
    expected = [*view.key_columns, *view.feature_names, view.label.name]
    missing = [column for column in expected if column not in frame.columns]
    if missing:
        raise DataValidationError(f"raw file {store.uri(key)} misses columns: {', '.join(missing)}")
    return frame[expected]


def ingest_bronze(
    lake: Lake, store: ObjectStore, view: FeatureView, raw_prefix: str, interval: DataInterval
) -> BronzeResult:
    table = bronze_table(view.dataset)
    schema = bronze_schema(view)
    lake.create_table(table, schema, partition_by=INGEST_DATE)
    already = set(
        lake.read(table, where=interval.filter(INGEST_DATE), columns=[SOURCE_FILE])
        .column(SOURCE_FILE)
        .to_pylist()
    )
    ingested = skipped = rows = 0
    for day in interval.days():
        for key in store.list_keys(raw_prefix_for_day(raw_prefix, view.dataset, day)):
            source = store.uri(key)
            if source in already:
                skipped += 1
                continue
            frame = read_raw_file(store, key, view)
            frame[SOURCE_FILE] = source
            frame[INGESTED_AT] = datetime.now(UTC)
            frame[INGEST_DATE] = day
            lake.append(table, pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            ingested += 1
            rows += len(frame)
    return BronzeResult(files_ingested=ingested, files_skipped=skipped, rows=rows)
