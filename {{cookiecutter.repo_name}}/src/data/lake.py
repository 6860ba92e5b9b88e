"""The lake facade: every pipeline reads and writes Iceberg tables through `Lake`.

Tables are addressed by short names (see `src.data.tables`) inside the project's
database. SQL runs on DuckDB over Arrow scans of the Iceberg tables locally; the same
query text runs on Athena, where `<database>.<table>` names the same tables.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.expressions.parser import parse as parse_filter
from pyiceberg.table import Table

from src.data.aws_integration import build_catalog
from src.errors import ProjectError

if TYPE_CHECKING:
    from src.settings import Settings


class SqlEngine(Protocol):
    def query(self, lake: Lake, sql: str) -> pa.Table: ...


class Lake:
    def __init__(self, catalog: Catalog, database: str, sql_engine: SqlEngine | None = None):
        self.catalog = catalog
        self.database = database
        self.sql_engine: SqlEngine = sql_engine or DuckDbEngine()

    def identifier(self, table: str) -> str:
        return f"{self.database}.{table}"

    def ensure_database(self) -> None:
        try:
            self.catalog.create_namespace(self.database)
        except NamespaceAlreadyExistsError:
            pass

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

    def create_table(
        self, table: str, schema: pa.Schema, partition_by: str | None = None
    ) -> Table:
        """Create the table if it is missing; an existing table is returned as it is."""
        self.ensure_database()
        created = self.catalog.create_table_if_not_exists(
            self.identifier(table), schema=_compatible_schema(schema)
        )
        if partition_by and created.spec().is_unpartitioned():
            with created.update_spec() as spec:
                spec.add_identity(partition_by)
        return created

    def append(self, table: str, data: pa.Table) -> None:
        if data.num_rows:
            self.load(table).append(_compatible_table(data))

    def overwrite(self, table: str, data: pa.Table, where: str) -> None:
        """Replace the rows matching `where` with `data` in one snapshot (idempotent rewrite)."""
        with warnings.catch_warnings():
            # A first write of a partition has nothing to replace; PyIceberg warns about it.
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            self.load(table).overwrite(_compatible_table(data), overwrite_filter=where)

    def upsert(self, table: str, data: pa.Table, keys: Sequence[str]) -> None:
        if data.num_rows:
            self.load(table).upsert(_compatible_table(data), join_cols=list(keys))

    def read(
        self,
        table: str,
        where: str | None = None,
        columns: Sequence[str] | None = None,
        snapshot_id: int | None = None,
    ) -> pa.Table:
        row_filter: BooleanExpression = parse_filter(where) if where else AlwaysTrue()
        scan = self.load(table).scan(
            row_filter=row_filter,
            selected_fields=tuple(columns) if columns else ("*",),
            snapshot_id=snapshot_id,
        )
        return scan.to_arrow()

    def sql(self, query: str) -> pa.Table:
        return self.sql_engine.query(self, query)


class DuckDbEngine:
    """Runs SQL in DuckDB over Arrow scans of the tables the query names."""

    def query(self, lake: Lake, sql: str) -> pa.Table:
        connection = duckdb.connect()
        try:
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{lake.database}"')
            for table in _referenced_tables(sql, lake):
                connection.register(f"arrow_{table}", lake.read(table))
                connection.execute(
                    f'CREATE VIEW "{lake.database}"."{table}" AS SELECT * FROM "arrow_{table}"'
                )
            relation = connection.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as error:
            raise ProjectError(f"SQL failed: {error}") from error
        finally:
            connection.close()


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
    return Lake(build_catalog(settings), settings.aws.athena.database)
