"""
### Data pipeline: raw files -> bronze -> silver -> gold, one day per run

Daily at midnight UTC for the day that just ended. `ingest_bronze` appends the day's raw
files once each (an unreadable file is quarantined whole with its reason), `build_silver`
types, deduplicates and validates them against config/quality.yaml (rejects go to
quarantine), `build_gold` rewrites the day's rows of the feature view. Each task is
idempotent for its day: a rerun leaves the same tables. Same code as
`make data-pipeline START=<day>`.
"""

from __future__ import annotations

from airflow.sdk import dag
from dag_support import DAG_DEFAULTS, daily_schedule, heavy_step


@dag(schedule=daily_schedule(), tags=["data"], doc_md=__doc__, **DAG_DEFAULTS)
def data_pipeline() -> None:
    bronze = heavy_step("bronze", "ingest_bronze")
    silver = heavy_step("silver", "build_silver")
    gold = heavy_step("gold", "build_gold")
    bronze >> silver >> gold


data_pipeline()
