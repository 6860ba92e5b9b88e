"""The lake facade: every pipeline reads and writes Iceberg tables through `Lake`.

Tables are addressed by short names (see `src.data.tables`) inside the project's
database. SQL runs on DuckDB over Arrow scans of the Iceberg tables locally and in
compose; on AWS the same query text runs on Athena, where `<database>.<table>` names the
same tables in the Glue catalog.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.dataset
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationError,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.expressions.parser import parse as parse_filter
from pyiceberg.table import Table

from src.data.aws_integration import AthenaQueryRunner, build_athena_runner, build_catalog
from src.data.tables import OWNER_PROPERTY, PROJECT
from src.errors import ProjectError

if TYPE_CHECKING:
    from src.settings import Settings


class SqlEngine(Protocol):
    def query(self, lake: Lake, sql: str) -> pa.Table: ...


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
        row_filter = parse_filter(where) if isinstance(where, str) else where
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
        loaded = self.load(table)
        if as_of is not None:
            snapshot_id = self._snapshot_at(loaded, table, as_of)
        if isinstance(where, str):
            row_filter: BooleanExpression = parse_filter(where)
        else:
            row_filter = where if where is not None else AlwaysTrue()
        scan = loaded.scan(
            row_filter=row_filter,
            selected_fields=tuple(columns) if columns else ("*",),
            snapshot_id=snapshot_id,
            limit=limit,
        )
        return scan.to_arrow()

    def read_batches(
        self,
        table: str,
        where: str | BooleanExpression | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        """`read` as a stream of record batches: one Parquet row group at a time is in
        memory, however many rows match.

        PyIceberg's own `to_arrow_batch_reader` reads every file of the scan whole (and
        several at once) before the first batch comes out; its per-file reader, used here
        one file after the other, yields a file's batches as they are decoded.
        """
        from pyiceberg.io.pyarrow import ArrowScan, _read_all_delete_files, schema_to_pyarrow

        loaded = self.load(table)
        if isinstance(where, str):
            row_filter: BooleanExpression = parse_filter(where)
        else:
            row_filter = where if where is not None else AlwaysTrue()
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

    def dataset(self, table: str) -> pa.dataset.Dataset | None:
        """The current snapshot's data files as a PyArrow dataset, or None when they need
        Iceberg's own reader (delete files, or a FileIO other than PyArrow's).

        DuckDB scans a dataset lazily, as often as a query names it, reading only the
        columns and row groups the query needs, so a query over a large table does not
        hold the table. The project only adds columns (`create_table`), so files match
        the table's schema by name; columns older files lack read as null.
        """
        import pyarrow.dataset as ds
        from pyiceberg.io.pyarrow import PyArrowFileIO, schema_to_pyarrow

        loaded = self.load(table)
        if not isinstance(loaded.io, PyArrowFileIO):
            return None
        tasks = list(loaded.scan().plan_files())
        if any(task.delete_files for task in tasks):
            return None
        schema = schema_to_pyarrow(loaded.schema(), include_field_ids=False)
        locations = [PyArrowFileIO.parse_location(task.file.file_path) for task in tasks]
        systems = {(scheme, netloc) for scheme, netloc, _ in locations}
        if len(systems) > 1:
            return None
        scheme, netloc = next(iter(systems), ("file", None))
        filesystem = loaded.io.fs_by_scheme(scheme, netloc)
        paths = [path for _, _, path in locations]
        return ds.dataset(paths, schema=schema, format="parquet", filesystem=filesystem)

    def overwrite_batches(
        self, table: str, chunks: Iterable[pa.Table], where: str | BooleanExpression
    ) -> int | None:
        """`overwrite` from a stream of chunks: the rows matching `where` are deleted and
        each chunk appended, all in one transaction, so readers see the old rows or all
        the new ones. Returns the new current snapshot id."""
        row_filter = parse_filter(where) if isinstance(where, str) else where
        loaded = self.load(table)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            with loaded.transaction() as transaction:
                transaction.delete(row_filter)
                for chunk in chunks:
                    if chunk.num_rows:
                        transaction.append(_compatible_table(chunk))
        snapshot = self.load(table).current_snapshot()
        return None if snapshot is None else int(snapshot.snapshot_id)

    def count(self, table: str, where: str | BooleanExpression | None = None) -> int:
        """Rows matching `where`, counted from the table's metadata where it can be.

        A data file whose partition alone satisfies the filter (a day filter on the
        partition column) counts by the record count its manifest holds; only files the
        filter cuts through, or that carry delete files, are read, and only their matches
        are counted. No row is materialised for files the filter covers whole.
        """
        loaded = self.load(table)
        if isinstance(where, str):
            row_filter: BooleanExpression = parse_filter(where)
        else:
            row_filter = where if where is not None else AlwaysTrue()
        return int(loaded.scan(row_filter=row_filter).count())

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


class DuckDbEngine:
    """Runs SQL in DuckDB over Arrow scans of the tables the query names."""

    def query(self, lake: Lake, sql: str) -> pa.Table:
        connection = duckdb.connect()
        try:
            connection.execute("SET TimeZone = 'UTC'")
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{lake.database}"')
            for table in _referenced_tables(sql, lake):
                # A lazily scanned dataset where the files allow it: memory follows the
                # query's working set, not the tables it names.
                source = lake.dataset(table)
                connection.register(
                    f"arrow_{table}", source if source is not None else lake.read(table)
                )
                connection.execute(
                    f'CREATE VIEW "{lake.database}"."{table}" '  # noqa: S608  # nosec B608
                    f'AS SELECT * FROM "arrow_{table}"'
                )
            relation = connection.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as error:
            raise ProjectError(f"SQL failed: {error}") from error
        finally:
            connection.close()


class AthenaEngine:
    """Runs SQL on Athena, which reads the same Iceberg tables through the Glue catalog."""

    def __init__(self, runner: AthenaQueryRunner) -> None:
        self.runner = runner

    def query(self, lake: Lake, sql: str) -> pa.Table:
        return self.runner.query_arrow(sql)


def _referenced_tables(sql: str, lake: Lake) -> list[str]:
    named = set(re.findall(rf"\b{re.escape(lake.database)}\.(\w+)", sql))
    return [table for table in lake.list_tables() if table in named]


def _compatible_schema(schema: pa.Schema) -> pa.Schema:
    """Iceberg stores timestamps in microseconds; pandas hands over nanoseconds."""
    fields = [
        field.with_type(pa.timestamp("us", tz=field.type.tz))
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns"
        else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def _compatible_table(data: pa.Table) -> pa.Table:
    target = _compatible_schema(data.schema)
    return data if target == data.schema else data.cast(target)


def build_lake(settings: Settings) -> Lake:
    engine: SqlEngine = (
        AthenaEngine(build_athena_runner(settings))
        if settings.sql_engine_kind == "athena"
        else DuckDbEngine()
    )
    return Lake(build_catalog(settings), settings.lake_database, engine)
