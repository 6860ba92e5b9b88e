"""
### Lake maintenance: compact small files, expire old snapshots, remove orphan files

Daily at 03:00 UTC, after the day's data and batch runs, over every table of the project's
database (Athena's OPTIMIZE and VACUUM on AWS). Same code as `make lake-maintenance`.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task
from dag_support import DAG_DEFAULTS


@dag(
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    tags=["data"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def lake_maintenance() -> None:
    @task
    def maintain_lake() -> dict[str, list[str]]:
        from src.context import build_context

        return {"tables": build_context().run_lake_maintenance()}

    maintain_lake()


lake_maintenance()
