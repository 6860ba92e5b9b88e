"""
### Lake maintenance: compact small files, expire old snapshots, remove orphan files

Runs daily at 03:00 UTC, after the day's data and batch inference runs, over every table
of the project's database:

- `maintain_lake` rewrites closed partitions made of many small files (the API's
  prediction log appends a few every hour per worker), expires snapshots older than
  `LAKE_MAINTENANCE__SNAPSHOT_RETENTION_HOURS` and deletes files no snapshot references.
  On AWS it runs Athena's `OPTIMIZE ... REWRITE DATA USING BIN_PACK` and `VACUUM` instead.
  Passes on, per table, the snapshot and file counts before and after.

A commit of another writer during a rewrite makes that rewrite fail without losing rows;
the partition is left for the next run. The same code runs as `make lake-maintenance`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task
from dag_support import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="lake_maintenance",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["data", "maintenance"],
    doc_md=__doc__,
)
def lake_maintenance() -> None:
    @task
    def maintain_lake() -> dict[str, Any]:
        from src.context import build_context

        return {"tables": build_context().run_lake_maintenance()}

    maintain_lake()


lake_maintenance()
