"""Lake maintenance: compact small files, expire old snapshots, remove orphan files.

Every commit to an Iceberg table adds a snapshot, a manifest list, manifests, a metadata
file and at least one data file. Left alone, a table appended to every few minutes (the
API's prediction log) grows thousands of small files a day, and every scan opens them.

- **Compaction** rewrites each partition holding at least `min_files_to_compact` files
  smaller than `small_file_mb` as one overwrite of that partition (same rows, fewer files).
  Only closed partitions (before today, UTC) are compacted: today's still receives appends,
  and a concurrent commit makes the rewrite fail (Iceberg's optimistic concurrency) rather
  than lose rows; such a partition is left for the next run.
- **Snapshot expiry** drops snapshots older than `snapshot_retention_hours` (never the
  current one): time travel reaches back that far and no further.
- **Orphan removal** lists the table's location and deletes files that no remaining
  snapshot or metadata file references and that are older than `orphan_min_age_hours`
  (younger ones may belong to a commit in flight).

On AWS the same jobs are Athena statements: `OPTIMIZE <t> REWRITE DATA USING BIN_PACK`
and `VACUUM <t>` (which expires snapshots older than the table's
`vacuum_max_snapshot_age_seconds`, set from the same retention, and removes orphans).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from src.data.aws_integration import ObjectStore
from src.data.lake import Lake
from src.errors import ProjectError

logger = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


class StatementRunner(Protocol):
    """What runs a statement on Athena (`AthenaQueryRunner`)."""

    def execute(self, sql: str) -> str: ...


@dataclass(frozen=True)
class MaintenancePolicy:
    snapshot_retention_hours: float = 168.0
    small_file_mb: float = 64.0
    min_files_to_compact: int = 2
    orphan_min_age_hours: float = 24.0


@dataclass(frozen=True)
class TableState:
    snapshots: int
    data_files: int
    files_in_location: int


@dataclass(frozen=True)
class TableMaintenance:
    table: str
    before: TableState
    after: TableState
    partitions_compacted: int
    partitions_skipped: int
    snapshots_expired: int
    orphans_removed: int

    def summary(self) -> str:
        return (
            f"{self.table}: snapshots {self.before.snapshots} -> {self.after.snapshots}, "
            f"data files {self.before.data_files} -> {self.after.data_files}, "
            f"files {self.before.files_in_location} -> {self.after.files_in_location} "
            f"({self.partitions_compacted} partitions compacted, "
            f"{self.snapshots_expired} snapshots expired, {self.orphans_removed} orphans removed)"
        )


def store_key(store_root: str, location: str) -> str:
    """The object-store key of a file URI under the store's root (`file://...` or `s3://`)."""
    root = store_root.rstrip("/")
    for prefix in (root, f"file://{root}"):
        if location.startswith(prefix + "/"):
            return location[len(prefix) + 1 :]
    raise ProjectError(f"{location} is not under the object store root {store_root}")


def current_files(loaded: Table) -> pa.Table:
    """The current snapshot's data files (PyIceberg raises for a snapshot with none)."""
    try:
        return loaded.inspect.files()
    except pa.ArrowInvalid:
        return pa.table({"file_path": pa.array([], pa.string())})


def measure_table(loaded: Table, store: ObjectStore, store_root: str) -> TableState:
    files = store.list_keys(store_key(store_root, loaded.location()) + "/")
    return TableState(len(loaded.snapshots()), current_files(loaded).num_rows, len(files))


def _partition_filters(loaded: Table) -> dict[tuple[object, ...], BooleanExpression]:
    """Each partition of the current snapshot as a row filter (identity partitions only)."""
    spec = loaded.spec()
    fields = [
        (field.name, loaded.schema().find_column_name(field.source_id))
        for field in spec.fields
        if isinstance(field.transform, IdentityTransform)
    ]
    if len(fields) != len(spec.fields):
        return {}  # a transform other than identity: not compacted by partition here
    files = current_files(loaded)
    filters: dict[tuple[object, ...], BooleanExpression] = {}
    for partition in files.column("partition").to_pylist() if files.num_rows else []:
        key = tuple(partition[name] for name, _ in fields) if fields else ()
        if key in filters:
            continue
        expression: BooleanExpression = AlwaysTrue()
        for (_, column), value in zip(fields, key, strict=True):
            if column is None:
                return {}
            term = EqualTo(term=column, value=_literal(value))
            expression = term if isinstance(expression, AlwaysTrue) else And(expression, term)
        filters[key] = expression
    return filters


def _literal(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _small_files_per_partition(loaded: Table, small_bytes: float) -> dict[tuple[object, ...], int]:
    files = current_files(loaded)
    if not files.num_rows:
        return {}
    spec_names = [field.name for field in loaded.spec().fields]
    counts: dict[tuple[object, ...], int] = {}
    for partition, size in zip(
        files.column("partition").to_pylist(),
        files.column("file_size_in_bytes").to_pylist(),
        strict=True,
    ):
        if size < small_bytes:
            key = tuple(partition[name] for name in spec_names) if spec_names else ()
            counts[key] = counts.get(key, 0) + 1
    return counts


def _is_closed(key: tuple[object, ...], today: date) -> bool:
    days = [value for value in key if isinstance(value, date)]
    return all(day < today for day in days)


def compact_table(loaded: Table, policy: MaintenancePolicy, today: date) -> tuple[int, int]:
    """Rewrite closed partitions of many small files; (compacted, skipped by a conflict)."""
    small = _small_files_per_partition(loaded, policy.small_file_mb * MEGABYTE)
    candidates = {
        key for key, count in small.items()
        if count >= policy.min_files_to_compact and _is_closed(key, today)
    }  # fmt: skip
    if not candidates:
        return 0, 0
    filters = _partition_filters(loaded)
    compacted = skipped = 0
    for key in sorted(candidates, key=str):
        row_filter = filters.get(key)
        if row_filter is None:
            continue
        rows: pa.Table = loaded.scan(row_filter=row_filter).to_arrow()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                loaded.overwrite(
                    rows,
                    overwrite_filter=row_filter,
                    snapshot_properties={"maintenance": "compaction"},
                )
            compacted += 1
        except CommitFailedException:
            # Another writer committed meanwhile: nothing was replaced; try next run.
            logger.warning("compaction of %s %s skipped: concurrent commit", loaded.name(), key)
            loaded = loaded.refresh()
            skipped += 1
    return compacted, skipped


def expire_snapshots(loaded: Table, older_than: datetime) -> int:
    current = loaded.current_snapshot()
    expired = [
        snapshot.snapshot_id
        for snapshot in loaded.snapshots()
        if snapshot.timestamp_ms < older_than.timestamp() * 1000
        and (current is None or snapshot.snapshot_id != current.snapshot_id)
    ]
    if expired:
        loaded.maintenance.expire_snapshots().by_ids(expired).commit()
    return len(expired)


def referenced_files(loaded: Table) -> set[str]:
    """Every file the table's metadata still points at, as URIs."""
    metadata = loaded.metadata
    paths = {loaded.metadata_location}
    paths.update(entry.metadata_file for entry in metadata.metadata_log)
    paths.update(statistics.statistics_path for statistics in metadata.statistics)
    manifests = {}
    for snapshot in loaded.snapshots():
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(loaded.io):
            manifests[manifest.manifest_path] = manifest
    paths.update(manifests)
    # Each manifest once, however many snapshots share it. Its live entries (added or
    # existing) are what a remaining snapshot reads; a deleted entry names a file only the
    # snapshots before it read, and those that remain list it in their own manifests.
    for manifest in manifests.values():
        entries = manifest.fetch_manifest_entry(loaded.io, discard_deleted=True)
        paths.update(entry.data_file.file_path for entry in entries)
    return paths


def remove_orphan_files(
    loaded: Table, store: ObjectStore, store_root: str, older_than: datetime
) -> int:
    keep = {store_key(store_root, path) for path in referenced_files(loaded)}
    prefix = store_key(store_root, loaded.location()) + "/"
    removed = 0
    for key, modified in store.list_modified(prefix).items():
        if key not in keep and modified < older_than:
            store.delete(key)
            removed += 1
    return removed


def maintain_table(
    lake: Lake,
    store: ObjectStore,
    store_root: str,
    table: str,
    policy: MaintenancePolicy,
    now: datetime | None = None,
) -> TableMaintenance:
    moment = now or datetime.now(UTC)
    loaded = lake.load(table)
    before = measure_table(loaded, store, store_root)
    compacted, skipped = compact_table(loaded, policy, moment.date())
    loaded = lake.load(table)
    expired = expire_snapshots(loaded, moment - timedelta(hours=policy.snapshot_retention_hours))
    loaded = lake.load(table)
    orphans = remove_orphan_files(
        loaded, store, store_root, moment - timedelta(hours=policy.orphan_min_age_hours)
    )
    after = measure_table(lake.load(table), store, store_root)
    return TableMaintenance(table, before, after, compacted, skipped, expired, orphans)


def maintain_lake(
    lake: Lake,
    store: ObjectStore,
    store_root: str,
    policy: MaintenancePolicy,
    tables: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[TableMaintenance]:
    """Maintain every table of the project's database (or `tables`), one after the other."""
    names = list(tables) if tables is not None else lake.list_tables()
    return [maintain_table(lake, store, store_root, name, policy, now) for name in names]


def athena_maintenance_statements(
    database: str, table: str, policy: MaintenancePolicy
) -> list[str]:
    """The AWS equivalent: Athena compacts and vacuums Iceberg tables itself."""
    name = f"{database}.{table}"
    retention = int(policy.snapshot_retention_hours * 3600)
    return [
        f"OPTIMIZE {name} REWRITE DATA USING BIN_PACK",
        f"ALTER TABLE {name} SET TBLPROPERTIES ('vacuum_max_snapshot_age_seconds'='{retention}')",
        f"VACUUM {name}",
    ]


def maintain_lake_on_athena(
    runner: StatementRunner,
    database: str,
    tables: Iterable[str],
    policy: MaintenancePolicy,
) -> list[str]:
    """Run the statements for each table; returns them, in order, for the summary."""
    ran = []
    for table in tables:
        for statement in athena_maintenance_statements(database, table, policy):
            runner.execute(statement)
            ran.append(statement)
    return ran
