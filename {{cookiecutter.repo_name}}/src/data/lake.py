"""The lake facade: every pipeline reads and writes Iceberg tables through `Lake`.

Tables are addressed by short names (see `src.names`) inside the project's
database. SQL is written once, in DuckDB's dialect, naming tables `<database>.<table>`:

- locally and in compose (`DuckDbEngine`), DuckDB runs it over the tables it names.
  Only the files the query's filter can match are listed (the interval filter on
  `ingest_date` prunes by partition); local files are DuckDB's own Parquet scans, files
  in object storage PyArrow datasets or streams. DuckDB works under
  `duckdb.memory_limit` and spills to a temporary folder beyond it, and a transform's
  result goes to its table in chunks, so memory does not grow with the tables.
- on AWS (`AthenaEngine`), SQLGlot transpiles the same text to Athena's dialect (Trino),
  and Athena runs it where the tables are, in the Glue catalog.

`Lake.replace_from_query` is how a transform writes: the rows a query selects replace
an interval of a table. DuckDB computes them and PyIceberg commits them in one snapshot;
Athena runs DELETE FROM and INSERT INTO on the Iceberg table itself, so that no row
passes through the worker (see `AthenaEngine.replace` for what that guarantees).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.dataset
import pyarrow.fs
import sqlglot
from pyiceberg import expressions as iceberg
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationError,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.expressions.parser import parse as parse_filter
from pyiceberg.schema import Schema
from pyiceberg.table import DataScan, Table
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from src.data.aws_integration import AthenaQueryRunner, build_athena_runner, build_catalog
from src.data.intervals import DataInterval
from src.errors import ProjectError
from src.names import OWNER_PROPERTY, PROJECT

if TYPE_CHECKING:
    from src.settings import Settings


# The dialect every query of the project is written in, and the one Athena speaks.
LAKE_DIALECT = "duckdb"
ATHENA_DIALECT = "trino"


@dataclass(frozen=True)
class Replacement:
    """What `Lake.replace_from_query` wrote: rows now in the interval, the table's snapshot."""

    rows: int
    snapshot_id: int | None


# Rows per chunk a DuckDB result is written to a table in (`DuckDbEngine.replace`).
REPLACE_CHUNK_ROWS = 1_000_000

# Batches of a row group read ahead of the consumer (`DataFiles.row_group_reader`).
READ_AHEAD_BATCHES = 2


@dataclass(frozen=True)
class DataFiles:
    """A table's Parquet data files that PyArrow and DuckDB can read without Iceberg's
    reader (`_data_files`): where they are and the table's schema."""

    filesystem: pa.fs.FileSystem
    paths: list[str]
    schema: pa.Schema
    local: bool

    def dataset(self) -> pa.dataset.Dataset:
        return pa.dataset.dataset(
            self.paths, schema=self.schema, format="parquet", filesystem=self.filesystem
        )

    def row_group_reader(
        self,
        table_schema: Schema,
        row_filter: BooleanExpression,
        columns: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        """The rows matching `row_filter`, one file and one row group after the other.

        Pulled one row group at a time: a dataset scanner would read ahead as far as
        the files go while the consumer is slower (scoring, say), holding the table's
        rows instead of a row group's. Row groups the filter rules out by their
        statistics are not read.
        """
        from pyiceberg.expressions.visitors import bind
        from pyiceberg.io.pyarrow import expression_to_pyarrow

        whole = self.dataset()
        names = list(columns) if columns else self.schema.names
        target = pa.schema([self.schema.field(name) for name in names])
        arrow_filter = (
            None
            if row_filter == AlwaysTrue()
            else expression_to_pyarrow(bind(table_schema, row_filter, case_sensitive=True))
        )

        def batches() -> Iterator[pa.RecordBatch]:
            for fragment in whole.get_fragments():
                for group in fragment.split_by_row_group(arrow_filter, schema=self.schema):
                    yield from group.to_batches(
                        schema=self.schema,
                        columns=names,
                        filter=arrow_filter,
                        batch_readahead=READ_AHEAD_BATCHES,
                        fragment_readahead=1,
                    )

        return pa.RecordBatchReader.from_batches(target, batches())


class SqlEngine(Protocol):
    def query(self, lake: Lake, sql: str) -> pa.Table: ...

    def replace(
        self,
        lake: Lake,
        table: str,
        query: str,
        interval: DataInterval,
        column: str,
        properties: dict[str, str],
    ) -> Replacement: ...


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: int
    committed_at: datetime
    operation: str


@dataclass(frozen=True)
class Fingerprint:
    """Row count and an order-independent checksum of a table's (filtered) content."""

    rows: int
    checksum: str


# Properties of every table the project creates: its owner, and old metadata files deleted
# as commits go by (the last few kept for time travel) instead of piling up.
METADATA_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
}


class Lake:
    def __init__(
        self,
        catalog: Catalog,
        database: str,
        sql_engine: SqlEngine | None = None,
        owner: str = PROJECT,
    ):
        self.catalog = catalog
        self.database = database
        self.sql_engine: SqlEngine = sql_engine or DuckDbEngine()
        self.owner = owner

    def identifier(self, table: str) -> str:
        return f"{self.database}.{table}"

    def ensure_database(self) -> None:
        # Look before creating: on AWS the stack owns the database and no task role may
        # create one, so a create attempt on an existing database would be AccessDenied.
        if self.catalog.namespace_exists(self.database):
            return
        with contextlib.suppress(NamespaceAlreadyExistsError):
            self.catalog.create_namespace(self.database)

    def table_exists(self, table: str) -> bool:
        return bool(self.catalog.table_exists(self.identifier(table)))

    def load(self, table: str) -> Table:
        try:
            return self.catalog.load_table(self.identifier(table))
        except NoSuchTableError as error:
            raise ProjectError(
                f"table {self.identifier(table)} does not exist; run the pipeline that builds it"
            ) from error

    def list_tables(self) -> list[str]:
        return sorted(name for _, name in self.catalog.list_tables(self.database))

    def create_table(self, table: str, schema: pa.Schema, partition_by: str | None = None) -> Table:
        """Create the table, or evolve an existing one to `schema` (added columns only).

        Old data files stay as they are: rows written before a column was added read
        that column as null.
        """
        target = _compatible_schema(schema)
        try:
            loaded = self.catalog.load_table(self.identifier(table))
        except NoSuchTableError:
            self.ensure_database()
            try:
                with self.catalog.create_table_transaction(
                    self.identifier(table),
                    schema=target,
                    properties={OWNER_PROPERTY: self.owner, **METADATA_PROPERTIES},
                ) as transaction:
                    if partition_by:
                        with transaction.update_spec() as spec:
                            spec.add_identity(partition_by)
            except TableAlreadyExistsError:
                pass  # Another writer created it first; evolve it like an existing table.
            loaded = self.load(table)
        self._check_owner(loaded, table)
        if self._evolve(loaded, table, target):
            loaded = self.load(table)
        return loaded

    def _check_owner(self, loaded: Table, table: str) -> None:
        """Never adopt (and evolve, and write into) a table another project created."""
        owner = loaded.properties.get(OWNER_PROPERTY)
        if owner != self.owner:
            found = f"belongs to {owner!r}" if owner else f"has no {OWNER_PROPERTY} property"
            raise ProjectError(
                f"table {self.identifier(table)} exists but {found}, not this project "
                f"({self.owner!r}): refusing to adopt it. Use another database "
                f"(AWS__ATHENA__DATABASE) or, if it is this project's, set its table property "
                f"{OWNER_PROPERTY}={self.owner}"
            )

    def evolve_schema(self, table: str, schema: pa.Schema) -> list[str]:
        """Add the columns of `schema` the table lacks; returns their names."""
        return self._evolve(self.load(table), table, _compatible_schema(schema))

    def _evolve(self, loaded: Table, table: str, schema: pa.Schema) -> list[str]:
        existing = {field.name for field in loaded.schema().fields}
        added = [field.name for field in schema if field.name not in existing]
        if added:
            try:
                with loaded.update_schema() as update:
                    update.union_by_name(schema)
            except ValidationError as error:
                raise ProjectError(f"cannot evolve {self.identifier(table)}: {error}") from error
        return added

    def append(self, table: str, data: pa.Table) -> None:
        if data.num_rows:
            self.load(table).append(_compatible_table(data))

    def overwrite(
        self,
        table: str,
        data: pa.Table,
        where: str | BooleanExpression,
        properties: dict[str, str] | None = None,
    ) -> int | None:
        """Replace the rows matching `where` with `data` in one snapshot (idempotent rewrite).

        `properties` go into the snapshot's summary; returns the new current snapshot id.
        """
        row_filter = _row_filter(where)
        loaded = self.load(table)
        with warnings.catch_warnings():
            # A first write of a partition has nothing to replace; PyIceberg warns about it.
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            loaded.overwrite(
                _compatible_table(data),
                overwrite_filter=row_filter,
                snapshot_properties=properties or {},
            )
        snapshot = loaded.current_snapshot()
        return None if snapshot is None else int(snapshot.snapshot_id)

    def append_parts(self, table: str, parts: Iterable[pa.Table]) -> int:
        """Append every part in one transaction, one commit; returns the rows appended.

        Each part's data files are written as it comes, so only one part is in memory at a
        time; readers see all the parts or none. Nothing is committed if a part fails.
        """
        rows = 0
        loaded = self.load(table)
        with loaded.transaction() as transaction:
            for part in parts:
                if part.num_rows:
                    transaction.append(_compatible_table(part))
                    rows += part.num_rows
        return rows

    def replace_from_query(
        self,
        table: str,
        query: str,
        interval: DataInterval,
        column: str,
        properties: dict[str, str] | None = None,
    ) -> Replacement:
        """Replace the rows of `interval` (on `column`) with those `query` selects.

        `query` is DuckDB SQL naming tables `<database>.<table>` and selecting the
        table's columns in its order; the lake's engine runs it where the data is.
        """
        return self.sql_engine.replace(self, table, query, interval, column, properties or {})

    def set_properties(self, table: str, properties: dict[str, str]) -> None:
        with self.load(table).transaction() as transaction:
            transaction.set_properties(properties)

    def upsert(self, table: str, data: pa.Table, keys: Sequence[str]) -> None:
        """Update rows whose `keys` match a row of `data`, insert the others (one snapshot)."""
        if data.num_rows:
            self.load(table).upsert(_compatible_table(data), join_cols=list(keys))

    def read(
        self,
        table: str,
        where: str | BooleanExpression | None = None,
        columns: Sequence[str] | None = None,
        snapshot_id: int | None = None,
        as_of: datetime | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Rows matching `where`, only `columns`; `snapshot_id` or `as_of` reads the past."""
        scan = self.scan(table, where, columns, snapshot_id, as_of, limit)
        return scan.to_arrow()

    def scan(
        self,
        table: str,
        where: str | BooleanExpression | None = None,
        columns: Sequence[str] | None = None,
        snapshot_id: int | None = None,
        as_of: datetime | None = None,
        limit: int | None = None,
    ) -> DataScan:
        """The PyIceberg scan `read` materialises; `to_arrow_batch_reader()` streams it."""
        loaded = self.load(table)
        if as_of is not None:
            snapshot_id = self._snapshot_at(loaded, table, as_of)
        return loaded.scan(
            row_filter=_row_filter(where),
            selected_fields=tuple(columns) if columns else ("*",),
            snapshot_id=snapshot_id,
            limit=limit,
        )

    def read_batches(
        self,
        table: str,
        where: str | BooleanExpression | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        """`read` as a stream of record batches: about one Parquet row group at a time is
        in memory, however many rows match and however large the table's files are.

        PyIceberg's own readers buffer a whole data file (`to_arrow_batch_reader` several
        at once) before its first batch comes out. Where the files need no Iceberg reader
        (`_data_files`) they are scanned row group by row group, each read ahead only once;
        otherwise PyIceberg's per-file reader is used one file after the other.
        """
        loaded = self.load(table)
        row_filter = _row_filter(where)
        files = _data_files(loaded, row_filter)
        if files is not None:
            return files.row_group_reader(loaded.schema(), row_filter, columns)
        from pyiceberg.io.pyarrow import ArrowScan, _read_all_delete_files, schema_to_pyarrow

        scan = loaded.scan(
            row_filter=row_filter, selected_fields=tuple(columns) if columns else ("*",)
        )
        projected = scan.projection()
        target = schema_to_pyarrow(projected)
        reader = ArrowScan(loaded.metadata, loaded.io, projected, scan.row_filter)

        def batches() -> Iterator[pa.RecordBatch]:
            for task in scan.plan_files():
                deletes = _read_all_delete_files(loaded.io, [task])
                for batch in reader._record_batches_from_scan_tasks_and_deletes([task], deletes):
                    yield batch.cast(target)

        return pa.RecordBatchReader.from_batches(target, batches())

    def overwrite_batches(
        self,
        table: str,
        chunks: Iterable[pa.Table],
        where: str | BooleanExpression,
        properties: dict[str, str] | None = None,
    ) -> int | None:
        """`overwrite` from a stream of chunks: the rows matching `where` are deleted and
        each chunk appended, all in one transaction, so readers see the old rows or all
        the new ones; `properties` go into the summary of each of its snapshots. Returns
        the new current snapshot id."""
        row_filter = _row_filter(where)
        loaded = self.load(table)
        summary = properties or {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            with loaded.transaction() as transaction:
                transaction.delete(row_filter, snapshot_properties=summary)
                for chunk in chunks:
                    if chunk.num_rows:
                        transaction.append(_compatible_table(chunk), snapshot_properties=summary)
        snapshot = self.load(table).current_snapshot()
        return None if snapshot is None else int(snapshot.snapshot_id)

    def count(self, table: str, where: str | BooleanExpression | None = None) -> int:
        """Rows matching `where`, counted from the table's metadata where it can be.

        A data file whose partition alone satisfies the filter (a day filter on the
        partition column) counts by the record count its manifest holds; only files the
        filter cuts through, or that carry delete files, are read, and only their matches
        are counted. No row is materialised for files the filter covers whole.
        """
        return int(self.load(table).scan(row_filter=_row_filter(where)).count())

    def partition_values(self, table: str, column: str) -> set[Any]:
        """Distinct values of a partition column that hold rows, from the manifests only."""
        partitions = self.load(table).inspect.partitions()
        if "partition" not in partitions.column_names:
            raise ProjectError(f"{self.identifier(table)} is not partitioned")
        values = set()
        for row in partitions.select(["partition", "record_count"]).to_pylist():
            if column not in row["partition"]:
                raise ProjectError(f"{self.identifier(table)} is not partitioned by {column}")
            if row["record_count"] > 0:
                values.add(row["partition"][column])
        return values

    def snapshots(self, table: str) -> list[SnapshotInfo]:
        """The table's commits, oldest first: what `read(snapshot_id=..)` can go back to."""
        return [
            SnapshotInfo(
                snapshot_id=snapshot.snapshot_id,
                committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC),
                operation=str(snapshot.summary.operation.value) if snapshot.summary else "",
            )
            for snapshot in self.load(table).snapshots()
        ]

    def fingerprint(
        self,
        table: str,
        where: str | BooleanExpression | None = None,
        exclude: Sequence[str] = (),
    ) -> Fingerprint:
        """Rows and a checksum of their content that ignores row order and `exclude`."""
        loaded = self.load(table)
        columns = [f.name for f in loaded.schema().fields if f.name not in set(exclude)]
        data = self.read(table, where=where, columns=columns)
        connection = duckdb.connect()
        try:
            connection.register("content", data)
            hashed = ", ".join(f'"{name}"' for name in columns)
            row = connection.sql(
                f"SELECT count(*), coalesce(sum(hash({hashed}))::VARCHAR, '0') FROM content"  # noqa: S608  # nosec B608
            ).fetchall()[0]
        finally:
            connection.close()
        rows, checksum = row if row else (0, "0")
        return Fingerprint(rows=int(rows), checksum=str(checksum))

    def sql(self, query: str) -> pa.Table:
        return self.sql_engine.query(self, query)

    def _snapshot_at(self, loaded: Table, table: str, as_of: datetime) -> int:
        if as_of.tzinfo is None:
            raise ProjectError("as_of must be timezone-aware (e.g. datetime.now(UTC))")
        snapshot = loaded.snapshot_as_of_timestamp(int(as_of.timestamp() * 1000))
        if snapshot is None:
            raise ProjectError(
                f"table {self.identifier(table)} has no snapshot at or before {as_of}"
            )
        return int(snapshot.snapshot_id)


def interval_predicate(column: str, interval: DataInterval) -> str:
    """`interval` on a DATE column as SQL both engines accept (DATE literals, not text)."""
    return (
        f"{column} >= DATE '{interval.start.isoformat()}' "
        f"AND {column} < DATE '{interval.end.isoformat()}'"
    )


def transpile_to_athena(sql: str) -> str:
    """The project's DuckDB SQL in Athena's dialect (Trino), by SQLGlot.

    What SQLGlot cannot express in Trino raises instead of passing through unchanged;
    the queries the pipeline builds avoid DuckDB-only functions (see `src.data.quality`).
    """
    try:
        statements = sqlglot.transpile(
            sql, read=LAKE_DIALECT, write=ATHENA_DIALECT, unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as error:
        raise ProjectError(f"SQL does not translate to Athena's dialect: {error}") from error
    if len(statements) != 1:
        raise ProjectError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


@dataclass(frozen=True)
class ScanPlan:
    """What of a table a query needs: its columns, the filter pushed into the scan."""

    columns: tuple[str, ...]
    row_filter: BooleanExpression
    read_once: bool


class DuckDbEngine:
    """Runs SQL in DuckDB over the tables the query names.

    Memory stays under `memory_limit`: each table is read only as far as the query needs
    (`plan_scan`). Local data files are DuckDB's own Parquet scans (columns, filters and
    row groups pushed down, as often as the query names the table); files elsewhere are
    a lazy PyArrow dataset, or a stream of record batches where the plan reads the table
    once; where Iceberg's own reader is needed, the rows go into DuckDB's storage.
    DuckDB spills to `temp_directory` past the limit.
    """

    def __init__(
        self,
        memory_limit: str = "2GB",
        temp_directory: Path | None = None,
        chunk_rows: int = REPLACE_CHUNK_ROWS,
    ) -> None:
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory
        self.chunk_rows = chunk_rows

    def query(self, lake: Lake, sql: str) -> pa.Table:
        with self._session(lake, sql) as relation:
            return relation.to_arrow_table() if relation is not None else pa.table({})

    @contextlib.contextmanager
    def _session(self, lake: Lake, sql: str) -> Iterator[duckdb.DuckDBPyRelation | None]:
        """`sql`'s relation in a connection of its own, over the tables it names."""
        try:
            tree: exp.Expr | None = sqlglot.parse_one(sql, read=LAKE_DIALECT)
        except SqlglotError:
            tree = None  # DuckDB SQL SQLGlot does not know: scan whole, let DuckDB judge it
        if self.temp_directory is not None:
            self.temp_directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="duckdb-", dir=self.temp_directory) as scratch:
            # A database file, not an in-memory one: its tables can leave memory for disk.
            connection = duckdb.connect(
                str(Path(scratch) / "query.duckdb"),
                config={"memory_limit": self.memory_limit, "temp_directory": scratch},
            )
            try:
                connection.execute("SET TimeZone = 'UTC'")
                connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{lake.database}"')
                for table in _referenced_tables(sql, lake):
                    self._attach(connection, lake, table, tree)
                yield connection.sql(sql)
            except duckdb.Error as error:
                raise ProjectError(f"SQL failed: {error}") from error
            finally:
                connection.close()

    def _attach(
        self,
        connection: duckdb.DuckDBPyConnection,
        lake: Lake,
        table: str,
        tree: exp.Expr | None,
    ) -> None:
        """Make `<database>.<table>` a name the query can read."""
        loaded = lake.load(table)
        schema = [field.name for field in loaded.schema().fields]
        plan = (
            plan_scan(tree, lake.database, table, schema)
            if tree is not None
            else ScanPlan(columns=tuple(schema), row_filter=AlwaysTrue(), read_once=False)
        )
        name = f'"{lake.database}"."{table}"'
        files = _data_files(loaded, plan.row_filter)
        if files is not None and files.local:
            # An empty relation of the table's schema, unioned by name with the files:
            # the view has every column in the table's types, null where files lack it.
            connection.register(f"schema_{table}", files.schema.empty_table())
            source = f'SELECT * FROM "schema_{table}"'  # noqa: S608  # nosec B608
            if files.paths:
                paths = ", ".join("'" + path.replace("'", "''") + "'" for path in files.paths)
                source += (
                    " UNION ALL BY NAME SELECT * FROM "  # noqa: S608  # nosec B608
                    f"read_parquet([{paths}], union_by_name = true)"
                )
            connection.execute(f"CREATE VIEW {name} AS {source}")
            return
        # Scanned more than once: a stream can be read only once. A lazy dataset of the
        # table's files can be scanned again (DuckDB pushes columns and filters into it).
        if files is not None and not plan.read_once:
            connection.register(f"arrow_{table}", files.dataset())
            connection.execute(f'CREATE VIEW {name} AS SELECT * FROM "arrow_{table}"')  # noqa: S608  # nosec B608
            return
        reader = lake.scan(
            table, where=plan.row_filter, columns=plan.columns
        ).to_arrow_batch_reader()
        connection.register(f"arrow_{table}", reader)
        if plan.read_once:
            connection.execute(f'CREATE VIEW {name} AS SELECT * FROM "arrow_{table}"')  # noqa: S608  # nosec B608
        else:
            connection.execute(f'CREATE TABLE {name} AS SELECT * FROM "arrow_{table}"')  # noqa: S608  # nosec B608
            connection.unregister(f"arrow_{table}")

    def replace(
        self,
        lake: Lake,
        table: str,
        query: str,
        interval: DataInterval,
        column: str,
        properties: dict[str, str],
    ) -> Replacement:
        """DuckDB computes the rows, PyIceberg replaces the interval with them in one
        transaction (its last snapshot carries `properties`).

        The rows go from DuckDB to PyIceberg in chunks of `chunk_rows`, each written as
        it comes: memory holds DuckDB's working set and one chunk, not the interval.
        """
        schema = lake.load(table).schema().as_arrow()
        where = iceberg.And(
            iceberg.GreaterThanOrEqual(term=column, value=interval.start.isoformat()),
            iceberg.LessThan(term=column, value=interval.end.isoformat()),
        )
        written = 0

        def chunks(relation: duckdb.DuckDBPyRelation) -> Iterator[pa.Table]:
            nonlocal written
            reader = relation.fetch_record_batch(self.chunk_rows)
            for batch in reader:
                try:
                    chunk = pa.Table.from_batches([batch]).rename_columns(schema.names).cast(schema)
                except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                    raise ProjectError(
                        f"the query's rows do not fit {lake.identifier(table)}: {error}"
                    ) from error
                written += chunk.num_rows
                yield chunk

        with self._session(lake, query) as relation:
            if relation is None:
                raise ProjectError(f"the query for {lake.identifier(table)} selects no rows")
            snapshot = lake.overwrite_batches(table, chunks(relation), where, properties)
        if written == 0:
            # Nothing appended: an empty overwrite still commits the interval as empty
            # with its properties, as a replacement with rows would.
            snapshot = lake.overwrite(table, schema.empty_table(), where, properties)
        return Replacement(rows=written, snapshot_id=snapshot)


class AthenaEngine:
    """Runs SQL on Athena, which reads the same Iceberg tables through the Glue catalog.

    Queries arrive in DuckDB's dialect and are transpiled (`transpile_to_athena`).
    """

    def __init__(self, runner: AthenaQueryRunner) -> None:
        self.runner = runner

    def query(self, lake: Lake, sql: str) -> pa.Table:
        return self.runner.query_arrow(transpile_to_athena(sql))

    def replace(
        self,
        lake: Lake,
        table: str,
        query: str,
        interval: DataInterval,
        column: str,
        properties: dict[str, str],
    ) -> Replacement:
        """DELETE FROM the interval, then INSERT INTO it what `query` selects, on Athena.

        Both statements run on the Iceberg table in place; no row passes through the
        worker. Athena runs each as a commit of its own: a reader between the two sees
        the interval empty, and a failure between them leaves it empty until the rerun,
        which deletes and inserts again (so a rerun never duplicates). Athena's commits
        carry no summary properties of ours: `properties` are set on the table after
        the insert, so they describe the table's last replacement.
        """
        target = lake.identifier(table)
        where = interval_predicate(column, interval)
        columns = ", ".join(f.name for f in lake.load(table).schema().fields)
        delete = f"DELETE FROM {target} WHERE {where}"  # noqa: S608  # nosec B608
        self.runner.execute(transpile_to_athena(delete))
        self.runner.execute(transpile_to_athena(f"INSERT INTO {target} ({columns}) {query}"))
        count = f"SELECT count(*) AS n FROM {target} WHERE {where}"  # noqa: S608  # nosec B608
        counted = self.query(lake, count)
        if properties:
            lake.set_properties(table, properties)
        snapshot = lake.load(table).current_snapshot()
        return Replacement(
            rows=_single_count(counted, f"rows of {target} in {interval}"),
            snapshot_id=None if snapshot is None else int(snapshot.snapshot_id),
        )


def _single_count(result: pa.Table, what: str) -> int:
    if result.num_rows != 1 or result.num_columns != 1:
        raise ProjectError(f"counting {what} returned {result.num_rows} rows, not one count")
    value = result.column(0)[0].as_py()
    if value is None:
        raise ProjectError(f"counting {what} returned no count")
    return int(value)


def plan_scan(tree: exp.Expr, database: str, table: str, schema: Sequence[str]) -> ScanPlan:
    """The columns of `table` the query may use, and the filter its scan may apply.

    Columns: every name the query mentions that is a column of the table, or all of them
    when a `*` selects from the table itself. A filter is pushed only where it cannot
    change the answer: the table is read once, directly by a SELECT without joins, and
    the terms are that SELECT's top-level AND terms comparing a column with a literal.
    DuckDB applies the whole WHERE again; the pushed filter only skips files and rows.
    """
    refs = [
        node
        for node in tree.find_all(exp.Table)
        if node.name == table and node.db == database and not node.args.get("catalog")
    ]
    known = {name.lower(): name for name in schema}
    # Any identifier may name a column (in a select list, USING (...), an alias): a
    # superset of what the query reads is safe, a column left out would not be.
    names = {node.name.lower() for node in tree.find_all(exp.Identifier)}
    columns = {known[name] for name in names if name in known}
    for star in tree.find_all(exp.Star):
        select = star.find_ancestor(exp.Select)
        if isinstance(star.parent, exp.Count | exp.AggFunc) or select is None:
            continue
        if any(_reads_directly(select, ref) for ref in refs):
            columns = set(schema)
    if not columns and schema:
        columns = {schema[0]}  # count(*): the scan needs some column to count rows of
    ctes: dict[str, int] = {}
    for node in tree.find_all(exp.Table):
        if not node.db:
            ctes[node.name] = ctes.get(node.name, 0) + 1
    defined = {cte.alias for cte in tree.find_all(exp.CTE)}
    read_once = (
        len(refs) == 1
        and all(ctes.get(name, 0) <= 1 for name in defined)
        and not _in_expression_subquery(refs[0])
    )
    row_filter: BooleanExpression = AlwaysTrue()
    if len(refs) == 1:
        select = refs[0].find_ancestor(exp.Select)
        if select is not None and _reads_directly(select, refs[0]) and not select.args.get("joins"):
            where = select.args.get("where")
            terms = list(where.this.flatten()) if isinstance(where, exp.Where) else []
            if isinstance(where, exp.Where) and not isinstance(where.this, exp.And):
                terms = [where.this]
            for term in terms:
                pushed = _iceberg_term(term, known, refs[0])
                if pushed is not None:
                    row_filter = iceberg.And(row_filter, pushed)
    ordered = tuple(name for name in schema if name in columns)
    return ScanPlan(columns=ordered, row_filter=row_filter, read_once=read_once)


def _in_expression_subquery(node: exp.Expr) -> bool:
    """Inside a query of an expression (IN, EXISTS, a scalar): maybe run once per row."""
    relations = (exp.CTE, exp.SetOperation, exp.From, exp.Join, exp.Insert, exp.Create)
    ancestor = node.parent
    while ancestor is not None:
        parent = ancestor.parent
        if isinstance(ancestor, exp.Select) and parent is not None:
            if isinstance(parent, exp.Subquery):
                if not isinstance(parent.parent, relations):
                    return True
            elif not isinstance(parent, relations):
                return True
        ancestor = parent
    return False


def _reads_directly(select: exp.Select, ref: exp.Table) -> bool:
    from_ = select.args.get("from") or select.args.get("from_")
    sources = [from_.this] if isinstance(from_, exp.From) else []
    sources += [join.this for join in select.args.get("joins") or []]
    return any(source is ref for source in sources)


_COMPARISONS: dict[type[exp.Expr], Any] = {
    exp.EQ: iceberg.EqualTo,
    exp.GTE: iceberg.GreaterThanOrEqual,
    exp.GT: iceberg.GreaterThan,
    exp.LTE: iceberg.LessThanOrEqual,
    exp.LT: iceberg.LessThan,
}


def _iceberg_term(
    term: exp.Expr, known: dict[str, str], ref: exp.Table
) -> BooleanExpression | None:
    """A `column op literal` term as a PyIceberg expression, or None when it is not one."""
    own = {ref.name, ref.alias_or_name}

    def column_of(node: exp.Expr) -> str | None:
        is_own = isinstance(node, exp.Column) and (not node.table or node.table in own)
        if is_own and node.name.lower() in known:
            return known[node.name.lower()]
        return None

    if isinstance(term, exp.In) and not term.args.get("query"):
        name = column_of(term.this)
        values = [_literal_value(value) for value in term.expressions]
        if name is None or any(value is None for value in values) or not values:
            return None
        return iceberg.In(term=name, literals={value for value in values if value is not None})
    comparison = _COMPARISONS.get(type(term))
    if comparison is None or not isinstance(term, exp.Binary):
        return None
    name, value = column_of(term.this), _literal_value(term.expression)
    if name is None or value is None:
        return None
    result: BooleanExpression = comparison(term=name, value=value)
    return result


def _literal_value(node: exp.Expr) -> str | int | float | None:
    """A string or number literal, or `DATE '...'` (its text, which Iceberg converts)."""
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DType.DATE):
        node = node.this
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    try:
        return int(text)
    except ValueError:
        return float(text)


def _referenced_tables(sql: str, lake: Lake) -> list[str]:
    named = set(re.findall(rf"\b{re.escape(lake.database)}\.(\w+)", sql))
    # One lookup per named table (glue:GetTable on AWS), not a listing of the database:
    # a task's role grants the tables it reads, not every table's name.
    return sorted(table for table in named if lake.table_exists(table))


def _compatible_schema(schema: pa.Schema) -> pa.Schema:
    """Iceberg stores timestamps in microseconds; pandas hands over nanoseconds."""
    fields = [
        field.with_type(pa.timestamp("us", tz=field.type.tz))
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns"
        else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def _data_files(loaded: Table, row_filter: BooleanExpression) -> DataFiles | None:
    """The current snapshot's data files that may hold rows matching `row_filter` (the
    manifests prune them), or None when they need Iceberg's own reader: delete files,
    a FileIO other than PyArrow's, or files on more than one file system.

    The project only adds columns (`Lake.create_table`), so files match the table's
    schema by name; columns older files lack read as null.
    """
    from pyiceberg.io.pyarrow import PyArrowFileIO, schema_to_pyarrow

    if not isinstance(loaded.io, PyArrowFileIO):
        return None
    tasks = list(loaded.scan(row_filter=row_filter).plan_files())
    if any(task.delete_files for task in tasks):
        return None
    locations = [PyArrowFileIO.parse_location(task.file.file_path) for task in tasks]
    systems = {(scheme, netloc) for scheme, netloc, _ in locations}
    if len(systems) > 1:
        return None
    scheme, netloc = next(iter(systems), ("file", None))
    return DataFiles(
        filesystem=loaded.io.fs_by_scheme(scheme, netloc),
        paths=[path for _, _, path in locations],
        schema=schema_to_pyarrow(loaded.schema(), include_field_ids=False),
        local=scheme == "file",
    )


def _row_filter(where: str | BooleanExpression | None) -> BooleanExpression:
    if isinstance(where, str):
        return parse_filter(where)
    return where if where is not None else AlwaysTrue()


def _compatible_table(data: pa.Table) -> pa.Table:
    target = _compatible_schema(data.schema)
    return data if target == data.schema else data.cast(target)


def build_lake(settings: Settings) -> Lake:
    engine: SqlEngine = (
        AthenaEngine(build_athena_runner(settings))
        if settings.sql_engine_kind == "athena"
        else DuckDbEngine(settings.duckdb.memory_limit, settings.duckdb.temp_directory)
    )
    return Lake(build_catalog(settings), settings.lake_database, engine)
