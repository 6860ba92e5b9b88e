"""Lake maintenance on real Iceberg tables, and a simulated day of the API's prediction log."""

from __future__ import annotations

import math
import os
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from pyiceberg.expressions import AlwaysTrue

from src.context import ProjectContext
from src.data.maintenance import (
    MaintenancePolicy,
    TableMaintenance,
    athena_maintenance_statements,
    maintain_lake_on_athena,
    maintain_table,
    store_key,
)
from src.data.predictions import (
    PREDICTION_DATE,
    SOURCE_ONLINE,
    ScoredRows,
    ensure_predictions_table,
)
from src.inference.prediction_log import InlineWriter, LakeWriter, PredictionLog
from src.names import PREDICTIONS_TABLE

pytestmark = pytest.mark.integration

DAY_SECONDS = 86_400


def scored(context: ProjectContext, rows: int, day: date, seed: int) -> ScoredRows:
    view = context.view
    rng = np.random.default_rng(seed)
    label = view.label.dtype
    predictions = rng.integers(0, 2, rows) if label == "int64" else rng.normal(size=rows)
    return ScoredRows(
        prediction_ids=[f"soak-{seed}-{n}" for n in range(rows)],
        entity_ids=None,
        feature_names=view.feature_names,
        features=rng.normal(size=(rows, len(view.feature_names))),
        predictions=predictions,
        probabilities=None,
        model_name=context.settings.model_name,
        model_version="1",
        source=SOURCE_ONLINE,
        predicted_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
        prediction_date=day,
    )


def maintain(context: ProjectContext, policy: MaintenancePolicy, now: datetime) -> TableMaintenance:
    return maintain_table(
        context.lake,
        context.store,
        context.settings.object_store_root,
        PREDICTIONS_TABLE,
        policy,
        now,
    )


def test_a_simulated_day_of_prediction_logging_stays_bounded_after_maintenance(
    context: ProjectContext,
) -> None:
    """Two API workers log a day of traffic with the shipped flush settings, then maintenance.

    The clock is accelerated: each `flush()` stands for the timer firing after
    `flush_seconds` of requests, as the log's thread does in the server.
    """
    # A 15-minute flush keeps the suite quick (each commit rewrites the growing metadata);
    # the shipped 5 minutes triples the commits, and the bound below holds the same way.
    api = context.settings.api.model_copy(update={"prediction_log_flush_seconds": 900})
    workers = api.workers
    flushes = math.ceil(DAY_SECONDS / api.prediction_log_flush_seconds)
    day = datetime.now(UTC).date() - timedelta(days=1)
    ensure_predictions_table(context.lake, context.view)
    logs = [
        PredictionLog(
            InlineWriter(LakeWriter(context.settings, context.view)()),
            api.prediction_log_flush_seconds,
            api.prediction_log_flush_rows,
            api.prediction_log_max_rows,
        )
        for _ in range(workers)
    ]
    requests_per_flush = 4
    for tick in range(flushes):
        for worker, log in enumerate(logs):
            for request in range(requests_per_flush):
                log.submit(scored(context, 5, day, seed=(tick * workers + worker) * 10 + request))
            assert log.flush()
    rows = flushes * workers * requests_per_flush * 5
    content = context.lake.fingerprint(PREDICTIONS_TABLE)

    # The maintenance DAG's run a few hours later: the day is closed, its commits are older
    # than a short retention, and its unreferenced files older than the orphan age.
    policy = MaintenancePolicy(snapshot_retention_hours=1, orphan_min_age_hours=1)
    result = maintain(context, policy, datetime.now(UTC) + timedelta(hours=3))

    print(
        f"\nsoak: {workers} workers x {flushes} flushes "
        f"(flush every {api.prediction_log_flush_seconds:g} s, at most "
        f"{api.prediction_log_flush_rows} rows), {rows} rows for {day}\n"
        f"  before maintenance: {result.before.snapshots} snapshots, "
        f"{result.before.data_files} data files, {result.before.files_in_location} files\n"
        f"  after maintenance:  {result.after.snapshots} snapshots, "
        f"{result.after.data_files} data files, {result.after.files_in_location} files "
        f"({result.orphans_removed} orphans removed, {result.snapshots_expired} expired)\n"
        f"  a 5 s flush would have made {workers * DAY_SECONDS // 5} commits that day"
    )
    # One commit (one file) per worker per flush interval: bounded by the settings.
    assert result.before.snapshots == result.before.data_files == workers * flushes
    # After: one file for the closed day, the current snapshot only, and no orphans left.
    assert result.partitions_compacted == 1
    assert (result.after.snapshots, result.after.data_files) == (1, 1)
    assert result.after.files_in_location < result.before.files_in_location / 3
    assert context.lake.fingerprint(PREDICTIONS_TABLE) == content
    assert content.rows == rows


def test_maintenance_keeps_todays_partition_recent_snapshots_and_young_files(
    context: ProjectContext,
) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    ensure_predictions_table(context.lake, context.view)
    writer = LakeWriter(context.settings, context.view)()
    for seed in range(3):
        writer([scored(context, 4, yesterday, seed), scored(context, 4, today, 100 + seed)])
    loaded = context.lake.load(PREDICTIONS_TABLE)
    # A stray file nothing references: one old (an aborted write), one young (in flight).
    data_dir = store_key(context.settings.object_store_root, loaded.location()) + "/data"
    old_orphan, young_orphan = f"{data_dir}/stray-old.parquet", f"{data_dir}/stray-new.parquet"
    context.store.put_bytes(old_orphan, b"x")
    context.store.put_bytes(young_orphan, b"x")
    two_days_ago = time.time() - 2 * DAY_SECONDS
    os.utime(context.settings.data_dir / "lake" / old_orphan, (two_days_ago, two_days_ago))
    content = context.lake.fingerprint(PREDICTIONS_TABLE)

    result = maintain(context, MaintenancePolicy(), datetime.now(UTC))

    # Yesterday is rewritten as one file; today's three appends stay as they are.
    assert result.partitions_compacted == 1
    files = context.lake.load(PREDICTIONS_TABLE).inspect.files()
    per_day: dict[date, int] = {}
    for partition in files.column("partition").to_pylist():
        per_day[partition[PREDICTION_DATE]] = per_day.get(partition[PREDICTION_DATE], 0) + 1
    assert per_day == {yesterday: 1, today: 3}
    # Every snapshot is younger than the week of retention: time travel still reaches them.
    assert result.snapshots_expired == 0
    # The rewrite adds its own snapshots (PyIceberg: a delete and an append).
    assert result.after.snapshots > result.before.snapshots
    assert not context.store.exists(old_orphan)
    assert context.store.exists(young_orphan)
    assert result.orphans_removed == 1
    assert context.lake.fingerprint(PREDICTIONS_TABLE) == content


def test_a_table_whose_snapshot_holds_no_file_is_maintained_too(context: ProjectContext) -> None:
    """A quarantine table after a clean day: an overwrite that left no rows at all."""
    schema = pa.schema([pa.field("id", pa.string())])
    context.lake.create_table("empty_after_overwrite", schema)
    context.lake.append("empty_after_overwrite", pa.table({"id": ["a"]}, schema=schema))
    context.lake.overwrite("empty_after_overwrite", schema.empty_table(), where=AlwaysTrue())
    result = maintain_table(
        context.lake,
        context.store,
        context.settings.object_store_root,
        "empty_after_overwrite",
        MaintenancePolicy(snapshot_retention_hours=1, orphan_min_age_hours=0),
        datetime.now(UTC) + timedelta(hours=2),
    )
    assert result.after.data_files == 0
    assert result.after.snapshots == 1
    assert context.lake.read("empty_after_overwrite").num_rows == 0


class RecordingRunner:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str) -> str:
        self.statements.append(sql)
        return f"query-{len(self.statements)}"


def test_on_aws_athena_optimizes_and_vacuums_each_table_with_the_retention() -> None:
    runner = RecordingRunner()
    policy = MaintenancePolicy(snapshot_retention_hours=48)
    ran = maintain_lake_on_athena(runner, "proj_db", ["monitoring_predictions"], policy)
    assert (
        ran
        == runner.statements
        == [
            "OPTIMIZE proj_db.monitoring_predictions REWRITE DATA USING BIN_PACK",
            "ALTER TABLE proj_db.monitoring_predictions SET TBLPROPERTIES "
            "('vacuum_max_snapshot_age_seconds'='172800')",
            "VACUUM proj_db.monitoring_predictions",
        ]
    )
    assert athena_maintenance_statements("d", "t", policy)[-1] == "VACUUM d.t"
