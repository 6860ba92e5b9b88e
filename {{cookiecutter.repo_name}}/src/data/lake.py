"""The lake: Iceberg tables through PyIceberg, SQL in DuckDB's dialect naming `<database>.<table>`.

DuckDB runs it locally and on compose; on AWS SQLGlot transpiles it and Athena runs it. An
interval's rows are replaced in one snapshot (on Athena: DELETE then INSERT, a rerun repairs).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import sqlglot
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo
from pyiceberg.table import Table
from sqlglot.errors import ErrorLevel, SqlglotError

from src.data.aws_integration import Athena, build_catalog, build_filesystem, locate
from src.data.intervals import DataInterval
from src.errors import ProjectError
from src.names import OWNER_PROPERTY, PROJECT

if TYPE_CHECKING:
    from src.settings import Settings

# A row filter: PyIceberg parses a string itself; None is every row.
Where = str | BooleanExpression | None
# A commit that lost a race with another writer of the same table is tried again this often.
COMMIT_ATTEMPTS = 3
APPEND_KEY = "project.append-key"  # the snapshot summary property of Lake.append's key
# Rows per chunk a DuckDB result is appended in: memory holds one chunk, not the interval.
CHUNK_ROWS = 500_000
# Old metadata files are deleted as commits go by (the last few kept for time travel).
TABLE_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
}


def transpile_to_athena(sql: str) -> str:
    """The project's DuckDB SQL in Athena's dialect (Trino); what has no Trino form raises."""
    try:
        (statement,) = sqlglot.transpile(
            sql, read="duckdb", write="trino", unsupported_level=ErrorLevel.RAISE
        )
    except (SqlglotError, ValueError) as error:
        raise ProjectError(f"SQL does not translate to Athena's dialect: {error}") from error
    return statement


@dataclass(eq=False)
class Lake:
    catalog: Catalog
    database: str
    filesystem: pafs.FileSystem
    athena: Athena | None = None
    memory_limit: str = "2GB"
    spill_parent: Path | None = None

    def identifier(self, table: str) -> str:
        return f"{self.database}.{table}"

    def exists(self, table: str) -> bool:
        return bool(self.catalog.table_exists(self.identifier(table)))

    def load(self, table: str) -> Table:
        try:
            return self.catalog.load_table(self.identifier(table))
        except NoSuchTableError as error:
            raise ProjectError(
                f"table {self.identifier(table)} does not exist; run the pipeline that builds it"
            ) from error

    def create_table(self, table: str, schema: pa.Schema, partition_by: str | None = None) -> None:
        """Create the table or add the columns it lacks; a table another project owns is refused."""
        if not self.exists(table):
            if not self.catalog.namespace_exists(self.database):
                with contextlib.suppress(Exception):  # created meanwhile, or by the stack
                    self.catalog.create_namespace(self.database)
            properties = {OWNER_PROPERTY: PROJECT, **TABLE_PROPERTIES}
            create = self.catalog.create_table_transaction
            # Created meanwhile by another writer (the SQL catalog says so with a failed commit).
            with (
                contextlib.suppress(TableAlreadyExistsError, CommitFailedException),
                create(self.identifier(table), schema=schema, properties=properties) as created,
            ):
                if partition_by:
                    with created.update_spec() as spec:
                        spec.add_identity(partition_by)
        loaded = self.load(table)
        owner = loaded.properties.get(OWNER_PROPERTY)
        if owner != PROJECT:
            raise ProjectError(
                f"table {self.identifier(table)} belongs to {owner!r}, not {PROJECT!r}: refusing "
                "to write into it; use another database (AWS__ATHENA__DATABASE)"
            )
        if set(schema.names) - set(loaded.schema().column_names):
            with loaded.update_schema() as update:
                update.union_by_name(schema)

    def append(self, table: str, data: pa.Table, key: str = "") -> None:
        """One snapshot, or none if one carries `key` already: the retry of an append whose
        commit landed although the writer saw it fail (the catalog's reply was lost)."""
        loaded = self.load(table)
        keys = {snapshot.summary[APPEND_KEY] for snapshot in loaded.snapshots() if snapshot.summary}
        if data.num_rows and not (key and key in keys):
            loaded.append(data, snapshot_properties={APPEND_KEY: key} if key else {})

    def replace(self, table: str, where: Where, parts: Callable[[], Iterable[pa.Table]]) -> int:
        """Delete `where` and append `parts()` in one snapshot, one part in memory at a time;
        a commit that lost a race is made again from `parts()`. Returns the rows appended."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            rows = 0
            try:
                with self.load(table).transaction() as transaction, warnings.catch_warnings():
                    # A first write of an interval has nothing to delete; PyIceberg warns.
                    warnings.filterwarnings("ignore", "Delete operation did not match any")
                    transaction.delete(where or AlwaysTrue())
                    for part in parts():
                        if part.num_rows:
                            transaction.append(part)
                            rows += part.num_rows
                return rows
            except (CommitFailedException, ValidationException):
                # Another writer committed meanwhile (PyIceberg found its files conflict).
                if attempt == COMMIT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def read(
        self,
        table: str,
        where: Where = None,
        columns: list[str] | None = None,
        snapshot_id: int | None = None,
    ) -> pa.Table:
        """Rows matching `where`, only `columns`; `snapshot_id` reads the table's past."""
        fields = tuple(columns) if columns else ("*",)
        scan = self.load(table).scan(where or AlwaysTrue(), fields, snapshot_id=snapshot_id)
        return scan.to_arrow()

    def stream(
        self, table: str, where: Where = None, columns: list[str] | None = None
    ) -> pa.RecordBatchReader:
        """Rows matching `where`, only `columns`, as record batches (bounded memory)."""
        fields = tuple(columns) if columns else ("*",)
        return self.load(table).scan(where or AlwaysTrue(), fields).to_arrow_batch_reader()

    def count(self, table: str, where: Where = None) -> int:
        return int(self.load(table).scan(where or AlwaysTrue()).count())

    def sql(self, query: str) -> pa.Table:
        if self.athena is not None:
            return self.athena.query(transpile_to_athena(query))
        with self._duckdb(query) as relation:
            return relation.to_arrow_table()

    def replace_from_query(
        self, table: str, query: str, interval: DataInterval, column: str
    ) -> int:
        """Replace the rows of `interval` (on the DATE `column`) with what `query` selects
        (the table's columns in its order); returns the rows the interval now holds."""
        if self.athena is not None:
            target, where = self.identifier(table), interval.sql(column)
            columns = ", ".join(self.load(table).schema().column_names)
            self.athena.execute(transpile_to_athena(f"DELETE FROM {target} WHERE {where}"))  # noqa: S608  # nosec B608
            self.athena.execute(transpile_to_athena(f"INSERT INTO {target} ({columns}) {query}"))
            counted = self.sql(f"SELECT count(*) AS n FROM {target} WHERE {where}")  # noqa: S608  # nosec B608
            return int(counted.column(0)[0].as_py())
        schema = self.load(table).schema().as_arrow()

        def parts() -> Iterator[pa.Table]:
            with self._duckdb(query) as relation:
                for batch in relation.fetch_record_batch(CHUNK_ROWS):
                    yield pa.Table.from_batches([batch]).cast(schema, safe=False)

        return self.replace(table, interval.row_filter(column), parts)

    def maintain(self, table: str, retention: timedelta, orphan_age: timedelta) -> str:
        """Compact closed days, expire snapshots older than `retention`, delete unreferenced
        files older than `orphan_age`; on AWS Athena's OPTIMIZE and VACUUM do it."""
        if self.athena is not None:
            target = self.identifier(table)
            self.athena.execute(f"OPTIMIZE {target} REWRITE DATA USING BIN_PACK")
            self.athena.execute(f"VACUUM {target}")
            return f"{table}: optimized and vacuumed by Athena"
        compacted = self._compact_closed_days(table)
        now, loaded = datetime.now(UTC), self.load(table)
        before = len(loaded.snapshots())
        loaded.maintenance.expire_snapshots().older_than(now - retention).commit()
        loaded = self.load(table)
        files = loaded.inspect.all_files().column("file_path").to_pylist()
        referenced = {locate(self.filesystem, location) for location in files}
        folder = locate(self.filesystem, f"{loaded.location()}/data")
        found = self.filesystem.get_file_info(pafs.FileSelector(folder, True, True))
        orphans = [
            info.path
            for info in found
            if info.type == pafs.FileType.File and info.path not in referenced
            and info.mtime is not None and info.mtime.replace(tzinfo=UTC) < now - orphan_age
        ]  # fmt: skip
        for path in orphans:
            self.filesystem.delete_file(path)
        expired = before - len(loaded.snapshots())
        return (
            f"{table}: {compacted} days compacted, {expired} snapshots expired, "
            f"{len(orphans)} unreferenced files deleted"
        )

    def _compact_closed_days(self, table: str) -> int:
        """Rewrite each partition before today of several files (the prediction log appends
        one per flush) as one; returns the partitions rewritten."""
        loaded = self.load(table)
        if not loaded.spec().fields:
            return 0
        column = loaded.schema().find_field(loaded.spec().fields[0].source_id).name
        days = [row["partition"][column] for row in loaded.inspect.files().to_pylist()]
        crowded = sorted({day for day in days if days.count(day) > 1 and day < date.today()})
        for day in crowded:
            where = EqualTo(term=column, value=day.isoformat())
            self.replace(table, where, partial(list, [self.read(table, where)]))
        return len(crowded)

    @contextlib.contextmanager
    def _duckdb(self, query: str) -> Iterator[duckdb.DuckDBPyRelation]:
        """`query` in a DuckDB connection of its own, each table it names a view over its files."""
        if self.spill_parent is not None:
            self.spill_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="duckdb-", dir=self.spill_parent) as scratch:
            # A database file, not an in-memory one: what DuckDB holds can spill to disk.
            connection = duckdb.connect(
                str(Path(scratch) / "query.duckdb"),
                config={"memory_limit": self.memory_limit, "temp_directory": scratch},
            )
            try:
                connection.execute("SET TimeZone = 'UTC'")
                connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.database}"')
                named = re.findall(rf"\b{re.escape(self.database)}\.(\w+)", query)
                for table in sorted(name for name in set(named) if self.exists(name)):
                    connection.register(f"files_{table}", self._data_files(table))
                    view = f'"{self.database}"."{table}"'
                    connection.execute(f'CREATE VIEW {view} AS SELECT * FROM "files_{table}"')  # noqa: S608  # nosec B608
                yield connection.sql(query)
            except duckdb.Error as error:
                raise ProjectError(f"SQL failed: {error}") from error
            finally:
                connection.close()

    def _data_files(self, table: str) -> ds.Dataset | pa.Table:
        """The current data files as one dataset (old files read added columns as null); a
        table with delete files (Athena's row-level deletes) is read through PyIceberg."""
        loaded = self.load(table)
        schema = loaded.schema().as_arrow()
        tasks = list(loaded.scan().plan_files())
        if any(task.delete_files for task in tasks):
            return loaded.scan().to_arrow()
        paths = [locate(self.filesystem, task.file.file_path) for task in tasks]
        return ds.dataset(paths, schema=schema, format="parquet", filesystem=self.filesystem)


def build_lake(settings: Settings) -> Lake:
    return Lake(
        build_catalog(settings),
        settings.lake_database,
        build_filesystem(settings),
        athena=Athena(settings) if settings.app_env == "aws" else None,
        memory_limit=settings.duckdb.memory_limit,
        spill_parent=settings.duckdb.temp_directory,
    )
