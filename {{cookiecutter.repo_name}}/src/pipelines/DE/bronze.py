"""Bronze: a day's raw files (CSV, Parquet, JSON Lines under `<raw>/<dataset>/ingest_date=<day>/`)
as received, every value as text, with lineage; a line that does not parse is kept whole in
`_raw_line` for silver to quarantine, a file that cannot be read is refused and reported.
"""

import contextlib
import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyiceberg.expressions import EqualTo

from src.data.aws_integration import list_keys, read_bytes
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.quality import (
    INGESTED_AT,
    RAW_LINE,
    RAW_SUFFIXES,
    SOURCE_FILE,
    SOURCE_ROW,
    QualityConfig,
    QualityReport,
    check_raw_header,
    raw_columns,
)
from src.errors import ProjectError
from src.names import bronze_table


class RefusedFileError(Exception):
    """A raw file that cannot enter bronze; the message says why."""


def bronze_schema(view: FeatureView) -> pa.Schema:
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in raw_columns(view)),
            pa.field(SOURCE_FILE, pa.string()),
            pa.field(SOURCE_ROW, pa.int64()),
            pa.field(RAW_LINE, pa.string()),
            pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC")),
            pa.field(INGEST_DATE, pa.date32()),
        ]
    )


def raw_day_prefix(raw_prefix: str, dataset: str, day: date) -> str:
    return f"{raw_prefix}/{dataset}/{INGEST_DATE}={day.isoformat()}"


def raw_interval(store: pafs.FileSystem, raw_prefix: str, dataset: str) -> DataInterval:
    """From the first to the last day with an `ingest_date=YYYY-MM-DD` folder of raw files."""
    days = set()
    for key in list_keys(store, f"{raw_prefix}/{dataset}"):
        for value in re.findall(rf"(?:^|/){INGEST_DATE}=([^/]*)", key):
            with contextlib.suppress(ValueError):
                days.add(date.fromisoformat(value))
    if not days:
        raise ProjectError("the raw zone holds no ingest_date= folders; run `make setup`")
    return DataInterval(min(days), max(days) + timedelta(days=1))


def parse_csv(content: bytes) -> pa.Table:
    """Every column as text; lines of the wrong width go whole to `_raw_line`."""
    header = next(csv.reader([content.split(b"\n", 1)[0].decode("utf-8-sig")]), [])
    malformed: list[str] = []

    def keep_malformed(row: pa_csv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    table = pa_csv.read_csv(
        io.BytesIO(content),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=keep_malformed),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )
    lines = pa.table({RAW_LINE: pa.array(malformed, pa.string())})
    return pa.concat_tables([table, lines], promote_options="default")


def parse_json_lines(content: bytes) -> pa.Table:
    """Every key of the lines' objects as text; a line that is not an object goes to `_raw_line`."""
    rows: list[dict[str, str | None]] = []
    for line in content.decode("utf-8-sig", errors="replace").splitlines():
        try:
            record = json.loads(line) if line.strip() else {}
        except ValueError:
            record = None
        if not isinstance(record, dict):
            rows.append({RAW_LINE: line})
        elif record:
            rows.append({name: _as_text(value) for name, value in record.items()})
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pa.Table.from_pylist(rows, schema=pa.schema([(name, pa.string()) for name in names]))


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)  # true/false, numbers as JSON writes them


def parse_raw_file(key: str, content: bytes, view: FeatureView, config: QualityConfig) -> pa.Table:
    """A raw file's rows (its columns as read, `_raw_line`); RefusedFileError says why not."""
    if not key.endswith(RAW_SUFFIXES):
        raise RefusedFileError(f"is not a CSV, Parquet or JSON Lines file: {RAW_SUFFIXES}")
    try:
        content = gzip.decompress(content) if key.endswith(".gz") else content
        if key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(content))
        elif key.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
            table = parse_json_lines(content)
        else:
            table = parse_csv(content)
    except (OSError, EOFError, UnicodeDecodeError, pa.ArrowException) as error:
        raise RefusedFileError(f"cannot be read: {error}") from error
    header = [name for name in table.column_names if name != RAW_LINE]
    if why := check_raw_header(header, view, config):
        raise RefusedFileError(why)
    return table


def _bronze_rows(table: pa.Table, view: FeatureView, source: str, day: date) -> pa.Table:
    """The file's rows in bronze's schema: its columns as text (Parquet's typed ones too),
    null where it has none, and their lineage."""
    rows, present = table.num_rows, set(table.column_names)
    values = {
        name: pc.cast(table[name], pa.string()) if name in present else pa.nulls(rows, pa.string())
        for name in [*raw_columns(view), RAW_LINE]
    }
    lineage = {SOURCE_FILE: source, INGESTED_AT: datetime.now(UTC), INGEST_DATE: day}
    values |= {name: [value] * rows for name, value in lineage.items()}
    values[SOURCE_ROW] = list(range(rows))
    return pa.table(values, schema=bronze_schema(view))


def ingest_bronze(
    lake: Lake, store: pafs.FileSystem, view: FeatureView, config: QualityConfig,
    raw_prefix: str, interval: DataInterval, report: QualityReport,
) -> int:  # fmt: skip
    """Replace bronze's days of `interval` with the raw files of those days; returns rows."""
    table = bronze_table(view.dataset)
    lake.create_table(table, bronze_schema(view), partition_by=INGEST_DATE)

    def day_files(day: date) -> Iterator[pa.Table]:
        for key in list_keys(store, raw_day_prefix(raw_prefix, view.dataset, day)):
            try:
                parsed = parse_raw_file(key, read_bytes(store, key), view, config)
            except RefusedFileError as why:
                report.files_refused[key] = str(why)
                continue
            if key not in report.files_ingested:
                report.files_ingested.append(key)
            yield _bronze_rows(parsed, view, key, day)

    rows = 0
    for day in interval.days():
        where = EqualTo(term=INGEST_DATE, value=day.isoformat())
        rows += lake.replace(table, where, partial(day_files, day))
    return rows
