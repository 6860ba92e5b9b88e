"""Bronze: raw files as received, plus ingestion metadata. A file is ingested once.

Raw files land under `<raw_prefix>/<dataset>/ingest_date=YYYY-MM-DD/`, as CSV, Parquet or
JSON Lines (`.csv`, `.parquet`, `.jsonl`/`.ndjson`; `.gz` for the text formats). Every row
of a readable file reaches bronze as text columns (typing is silver's job, whatever the
format): for CSV and JSON Lines, malformed lines (a wrong number of fields, a line that
is not a JSON object) whole in `_raw_line`, for silver to quarantine. A file whose
content was already ingested (same checksum, whatever its name) is skipped. A file that
cannot be read, or misses contract columns, is refused as a whole under the schema rule:
a copy of it goes to `<quality_prefix>/<dataset>/refused/ingest_date=<day>/` next to a
`.reason.json` naming the rule and the reason, and the original stays in the raw zone.

Raw files are files, not tables: the worker reads them, one at a time. A day's new files
are appended in one PyIceberg transaction, file after file (`Lake.append_parts`), so
memory holds one file, never the day, and readers see the whole day or none of it.
Whether a file's content is already in bronze is asked of the lake's engine
(`SELECT count(*) ... WHERE _source_checksum = ...`): DuckDB reads only the data files
whose checksum statistics can match, Athena runs it on AWS.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from src.data.aws_integration import ObjectStore
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.quality import (
    INGESTED_AT,
    RAW_LINE,
    SOURCE_FILE,
    SOURCE_ROW,
    CheckResult,
    QualityConfig,
    QualityReport,
    check_raw_columns,
    contract_names,
)
from src.errors import ProjectError
from src.names import bronze_table

SOURCE_CHECKSUM = "_source_checksum"
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
RAW_SUFFIXES = (*CSV_SUFFIXES, *PARQUET_SUFFIXES, *JSON_LINES_SUFFIXES)

__all__ = ["INGESTED_AT", "RAW_LINE", "SOURCE_CHECKSUM", "SOURCE_FILE", "SOURCE_ROW"]


@dataclass
class BronzeResult:
    report: QualityReport
    files_ingested: int = 0
    files_skipped: int = 0
    rows: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    # Refused file (URI) -> its quarantined copy (URI).
    quarantined_files: dict[str, str] = field(default_factory=dict)

    @property
    def files_rejected(self) -> int:
        return len(self.rejected)


class RejectedFileError(Exception):
    """A raw file that cannot enter bronze; the message is the reason."""


def contract_columns(view: FeatureView) -> list[str]:
    """The columns raw files must carry: keys, measured features, source columns, label
    (derived features are computed in gold)."""
    return contract_names(view)


def bronze_schema(view: FeatureView) -> pa.Schema:
    """Raw columns stay text in bronze: typing is silver's job, so nothing is lost here."""
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in contract_columns(view)),
            pa.field(SOURCE_FILE, pa.string(), nullable=False),
            pa.field(SOURCE_CHECKSUM, pa.string()),
            # The row's position in its file: the later of two copies of a key wins.
            pa.field(SOURCE_ROW, pa.int64()),
            pa.field(RAW_LINE, pa.string()),
            pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field(INGEST_DATE, pa.date32(), nullable=False),
        ]
    )


def raw_prefix_for_day(raw_prefix: str, dataset: str, day: date) -> str:
    return f"{raw_prefix}/{dataset}/ingest_date={day.isoformat()}/"


def list_raw_days(store: ObjectStore, raw_prefix: str, dataset: str) -> list[date]:
    """The days that have an `ingest_date=YYYY-MM-DD/` folder with files in the raw zone."""
    days = set()
    for key in store.list_keys(f"{raw_prefix}/{dataset}/"):
        for part in key.split("/"):
            if part.startswith(f"{INGEST_DATE}="):
                try:
                    days.add(date.fromisoformat(part.split("=", 1)[1]))
                except ValueError:
                    continue
    return sorted(days)


def is_raw_data_file(key: str) -> bool:
    """Hidden and marker files (`.x`, `_SUCCESS`) are not data."""
    name = key.rsplit("/", 1)[-1]
    return not name.startswith((".", "_"))


def parse_raw_csv(content: bytes, view: FeatureView, config: QualityConfig) -> pa.Table:
    """The contract's columns as text, plus `_raw_line` for lines that do not parse."""
    if not content.strip():
        raise RejectedFileError("is empty (not even a header line)")
    header = _read_header(content)
    problem = check_raw_columns(header, view, config.schema_rule())
    if problem:
        raise RejectedFileError(problem)
    malformed: list[str] = []

    def keep_malformed(row: pa_csv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(content),
            parse_options=pa_csv.ParseOptions(
                invalid_row_handler=keep_malformed, newlines_in_values=True
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                include_columns=contract_columns(view),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise RejectedFileError(f"is not readable CSV: {error}") from error
    table = table.append_column(RAW_LINE, pa.nulls(table.num_rows, pa.string()))
    if malformed:
        columns = {name: pa.nulls(len(malformed), pa.string()) for name in contract_columns(view)}
        extra = pa.table({**columns, RAW_LINE: pa.array(malformed, pa.string())})
        table = pa.concat_tables([table, extra])
    return table


def parse_raw_parquet(content: bytes, view: FeatureView, config: QualityConfig) -> pa.Table:
    """The contract's columns of a Parquet file, as text like a CSV file's."""
    try:
        table = pq.read_table(io.BytesIO(content))
    except (pa.ArrowInvalid, OSError) as error:
        raise RejectedFileError(f"is not readable Parquet: {error}") from error
    problem = check_raw_columns(table.column_names, view, config.schema_rule())
    if problem:
        raise RejectedFileError(problem)
    columns = {name: _as_text(table.column(name)) for name in contract_columns(view)}
    columns[RAW_LINE] = pa.nulls(table.num_rows, pa.string())
    return pa.table(columns)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise RejectedFileError(f"has a column of type {column.type} without text form") from error


def parse_raw_json_lines(content: bytes, view: FeatureView, config: QualityConfig) -> pa.Table:
    """The contract's columns of a JSON Lines file as text; a line that is not a JSON
    object is kept whole in `_raw_line`. A key missing from a line is a missing value."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RejectedFileError(f"is not UTF-8 text: {error}") from error
    names = contract_columns(view)
    rows: list[dict[str, str | None]] = []
    seen: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            rows.append({RAW_LINE: line})
            continue
        seen.update(record)
        rows.append({name: _json_text(record.get(name)) for name in names})
    if not rows:
        raise RejectedFileError("is empty (no JSON lines)")
    problem = check_raw_columns(sorted(seen), view, config.schema_rule())
    if problem:
        raise RejectedFileError(problem)
    return pa.table(
        {
            name: pa.array([row.get(name) for row in rows], pa.string())
            for name in [*names, RAW_LINE]
        }
    )


def _json_text(value: object) -> str | None:
    """A JSON value as the text a CSV file would hold (true/false for booleans)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def parse_raw_file(key: str, content: bytes, view: FeatureView, config: QualityConfig) -> pa.Table:
    if key.endswith(PARQUET_SUFFIXES):
        return parse_raw_parquet(content, view, config)
    if key.endswith(JSON_LINES_SUFFIXES):
        return parse_raw_json_lines(content, view, config)
    return parse_raw_csv(content, view, config)


def _read_header(content: bytes) -> list[str]:
    first_line = content.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RejectedFileError(f"has a header that is not UTF-8 text: {error}") from error
    return [name.strip() for name in next(csv.reader([text]))]


def read_raw_file(store: ObjectStore, key: str) -> bytes:
    content = store.get_bytes(key)
    if key.endswith(".gz"):
        try:
            return gzip.decompress(content)
        except (OSError, EOFError) as error:
            raise RejectedFileError(f"is not valid gzip: {error}") from error
    return content


def already_ingested(lake: Lake, view: FeatureView, checksum: str) -> bool:
    """Whether bronze holds rows of a file with this content."""
    if any(c not in "0123456789abcdef" for c in checksum):
        raise ProjectError(f"not a hex checksum: {checksum!r}")
    bronze = lake.identifier(bronze_table(view.dataset))
    found = lake.sql(
        f"SELECT count(*) AS n FROM {bronze} WHERE {SOURCE_CHECKSUM} = '{checksum}'"  # noqa: S608  # nosec B608
    ).to_pylist()
    if len(found) != 1 or found[0].get("n") is None:
        raise ProjectError(
            f"counting the rows of {bronze} with checksum {checksum} returned {found}"
        )
    return int(found[0]["n"]) > 0


def _with_metadata(
    table: pa.Table, schema: pa.Schema, source: str, checksum: str, day: date
) -> pa.Table:
    rows = table.num_rows
    metadata = {
        SOURCE_FILE: pa.repeat(pa.scalar(source, pa.string()), rows),
        SOURCE_CHECKSUM: pa.repeat(pa.scalar(checksum, pa.string()), rows),
        SOURCE_ROW: pa.array(range(rows), pa.int64()),
        INGESTED_AT: pa.repeat(pa.scalar(datetime.now(UTC), schema.field(INGESTED_AT).type), rows),
        INGEST_DATE: pa.repeat(pa.scalar(day, pa.date32()), rows),
    }
    for name, values in metadata.items():
        table = table.append_column(name, values)
    return table.select(schema.names).cast(schema)


REFUSED_DIR = "refused"
REASON_SUFFIX = ".reason.json"


def refused_file_key(quality_prefix: str, dataset: str, day: date, key: str) -> str:
    name = posixpath.basename(key)
    return f"{quality_prefix}/{dataset}/{REFUSED_DIR}/ingest_date={day.isoformat()}/{name}"


def quarantine_raw_file(store: ObjectStore, key: str, reason: str, rule: str, target: str) -> str:
    """Copy a refused raw file whole to `target`, with its reason beside it; idempotent."""
    store.put_bytes(target, store.get_bytes(key))
    note = {"source": store.uri(key), "rule": rule, "reason": reason}
    store.put_bytes(target + REASON_SUFFIX, (json.dumps(note, indent=2) + "\n").encode())
    return store.uri(target)


def ingest_day(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    config: QualityConfig,
    raw_prefix: str,
    day: date,
    result: BronzeResult,
    quality_prefix: str | None = None,
) -> None:
    """Append the day's new raw files to bronze in one commit, one file in memory at a time."""
    lake.append_parts(
        bronze_table(view.dataset),
        _new_files(lake, store, view, config, raw_prefix, day, result, quality_prefix),
    )


def _new_files(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    config: QualityConfig,
    raw_prefix: str,
    day: date,
    result: BronzeResult,
    quality_prefix: str | None,
) -> Iterator[pa.Table]:
    """The day's raw files not yet in bronze, parsed, one after the other."""
    schema = bronze_schema(view)
    seen: set[str] = set()
    for key in store.list_keys(raw_prefix_for_day(raw_prefix, view.dataset, day)):
        if not is_raw_data_file(key):
            continue
        source = store.uri(key)
        try:
            if not key.endswith(RAW_SUFFIXES):
                raise RejectedFileError(
                    f"is not a CSV, Parquet or JSON Lines file (expected {', '.join(RAW_SUFFIXES)})"
                )
            content = read_raw_file(store, key)
            checksum = hashlib.sha256(content).hexdigest()
            if checksum in seen or already_ingested(lake, view, checksum):
                result.files_skipped += 1
                result.report.files_skipped.append(source)
                continue
            table = parse_raw_file(key, content, view, config)
        except RejectedFileError as reason:
            result.rejected[source] = f"raw file {source} {reason}"
            if quality_prefix is not None:
                target = refused_file_key(quality_prefix, view.dataset, day, key)
                result.quarantined_files[source] = quarantine_raw_file(
                    store, key, result.rejected[source], config.schema_rule().name, target
                )
            continue
        del content  # parsed: only the table is needed from here on
        seen.add(checksum)
        result.files_ingested += 1
        result.rows += table.num_rows
        result.report.files_ingested.append(source)
        yield _with_metadata(table, schema, source, checksum, day)


def ingest_bronze(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    raw_prefix: str,
    interval: DataInterval,
    config: QualityConfig | None = None,
    quality_prefix: str | None = None,
) -> BronzeResult:
    """New raw files of `interval` into bronze; refused ones copied under `quality_prefix`."""
    config = config or QualityConfig()
    lake.create_table(bronze_table(view.dataset), bronze_schema(view), partition_by=INGEST_DATE)
    report = QualityReport(
        dataset=view.dataset,
        step="bronze",
        interval_start=interval.start.isoformat(),
        interval_end=interval.end.isoformat(),
    )
    result = BronzeResult(report=report)
    for day in interval.days():
        ingest_day(lake, store, view, config, raw_prefix, day, result, quality_prefix)
    report.rows_in = report.rows_valid = result.rows
    report.files_rejected = dict(result.rejected)
    report.checks.append(_schema_check(config, result.rejected))
    return result


def _schema_check(config: QualityConfig, rejected: dict[str, str]) -> CheckResult:
    rule = config.schema_rule()
    check = CheckResult(rule.name, rule.type, rule.action, failed=len(rejected))
    if rejected:
        check.columns["files"] = len(rejected)
        reasons = "; ".join(rejected.values())
        check.message = f"rule {rule.name!r} (schema) refused {len(rejected)} file(s): {reasons}"
    return check
