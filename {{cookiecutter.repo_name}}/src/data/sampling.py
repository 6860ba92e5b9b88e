"""Seeded samples of streams too large to hold: what the drift checks compare.

The rule, the same everywhere: each row draws md5(seed | key), its key being a column
that identifies it (the prediction id), and the `rows` rows of lowest draw are kept (per
group, when one is named). The draw depends on the row's key and the seed only, so the
same rows and seed give the same sample whatever the order or the batching of the
stream, and a row in the sample of a window stays in it while the window grows. DuckDB
keeps the lowest draws in a heap of `rows` entries while the stream goes by, so memory
follows `rows`, not the size of the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from src.errors import ProjectError

STREAM = "sampled_stream"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sample_stream(
    stream: pa.RecordBatchReader | Path,
    key: str,
    rows: int,
    seed: int,
    group_by: Sequence[str] = (),
) -> pa.Table:
    """At most `rows` rows of `stream` (per distinct value of `group_by`), by the draw above.

    `stream` is a record batch reader (consumed) or a Parquet file. The rows come back
    ordered by draw within each group.
    """
    if rows < 1:
        raise ProjectError(f"a sample needs rows >= 1, not {rows}")
    source = f"read_parquet('{_escape(str(stream))}')" if isinstance(stream, Path) else STREAM
    draw = f"md5(concat_ws('|', '{int(seed)}', CAST({_quote(key)} AS VARCHAR)))"
    groups = ", ".join(_quote(name) for name in group_by)
    query = (
        f"WITH drawn AS (SELECT *, {draw} AS _draw FROM {source}) "  # noqa: S608  # nosec B608
        f"SELECT unnest(picked, recursive := true) FROM (SELECT "
        f"min_by(drawn, _draw, {int(rows)}) AS picked FROM drawn"
        f"{f' GROUP BY {groups}' if groups else ''}) AS groups"
    )
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        if not isinstance(stream, Path):
            connection.register(STREAM, stream)
        result: pa.Table = connection.sql(query).to_arrow_table()
    except duckdb.Error as error:
        raise ProjectError(f"sampling {rows} rows by {key} failed: {error}") from error
    finally:
        connection.close()
    if "_draw" in result.column_names:
        result = result.drop_columns(["_draw"])
    return result


def _escape(text: str) -> str:
    return text.replace("'", "''")


def sample_parquet_file(path: Path, rows: int, seed: int) -> pa.Table:
    """A Parquet file whole when it holds at most `rows` rows, else a reservoir sample of
    `rows` of them drawn with `seed` (for files with no key column, as reference sets)."""
    if rows < 1:
        raise ProjectError(f"a sample needs rows >= 1, not {rows}")
    import pyarrow.parquet as pq

    if pq.ParquetFile(path).metadata.num_rows <= rows:
        return pq.read_table(path)
    query = (
        f"SELECT * FROM read_parquet('{_escape(str(path))}') "  # noqa: S608  # nosec B608
        f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})"
    )
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        result: pa.Table = connection.sql(query).to_arrow_table()
    except duckdb.Error as error:
        raise ProjectError(f"sampling {rows} rows of {path} failed: {error}") from error
    finally:
        connection.close()
    return result


def filter_stream_by_keys(stream: pa.RecordBatchReader, key: str, keys: pa.Array) -> pa.Table:
    """The rows of `stream` whose `key` is one of `keys`, the stream read once: memory
    follows `keys` and the matches, not the stream."""
    wanted = pa.table({"wanted_key": keys})
    query = (
        f"SELECT * FROM {STREAM} WHERE {_quote(key)} IN "  # noqa: S608  # nosec B608
        "(SELECT wanted_key FROM wanted_keys)"
    )
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register(STREAM, stream)
        connection.register("wanted_keys", wanted)
        result: pa.Table = connection.sql(query).to_arrow_table()
    except duckdb.Error as error:
        raise ProjectError(f"selecting rows by {key} failed: {error}") from error
    finally:
        connection.close()
    return result
