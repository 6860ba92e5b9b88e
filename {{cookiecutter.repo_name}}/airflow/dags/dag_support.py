"""What the project's DAGs share: ownership, retries, the daily schedule, the run's interval.

This is not a DAG file (`.airflowignore` lists it): the DAG files import it. Nothing here or
at the top of a DAG file imports the project's heavy libraries (pandas, MLflow, PyIceberg),
so the DAG processor parses the folder in well under a second; tasks import them when they
run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
)

if TYPE_CHECKING:
    from src.data.intervals import DataInterval

# What a task receives from its upstream task: the upstream's returned dict when the task
# runs, an XComArg where the DAG body wires the tasks together. Both are right, so the type
# checker is told Any.
Upstream = Any

OWNER = "ml-platform"
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)

# Bad data or configuration fails for good on the first try: waiting cannot fix it, and a
# retry would only delay the alert. Everything else (a busy catalog, a network blip) retries.
NOT_RETRYABLE = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=["src.errors.DataValidationError", "src.errors.ConfigError"],
            action=RetryAction.FAIL,
            reason="invalid data or configuration: a retry cannot fix it",
        )
    ]
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    # 2, 4, 8 minutes between tries, never more than half an hour.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "retry_policy": NOT_RETRYABLE,
}

# Sensors check again every few minutes without holding a worker slot, and give up after
# this long so that missing upstream data turns into a failed, visible run.
SENSOR_POKE_SECONDS = 300
SENSOR_TIMEOUT_SECONDS = 6 * 3600


def daily_schedule() -> CronTriggerTimetable:
    """Runs at midnight UTC for the day that just ended: data interval [D, D + 1 day)."""
    return CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))


def current_interval() -> DataInterval:
    """The running task's data interval in whole days.

    A run triggered without a logical date has no data interval: it takes the last full
    day before it was triggered, like the scheduled run at that time would.
    """
    from src.data.intervals import DataInterval

    context = get_current_context()
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is None or end is None:
        return DataInterval.for_day(context["dag_run"].run_after.date() - timedelta(days=1))
    first, last = start.date(), end.date()
    return DataInterval(first, last) if last > first else DataInterval.for_day(first)


def interval_reference(interval: DataInterval) -> dict[str, str]:
    """The interval as XCom carries it between tasks."""
    return {"start": interval.start.isoformat(), "end": interval.end.isoformat()}


def last_day(reference: dict[str, Any]) -> date:
    """The last day of an interval passed through XCom."""
    return date.fromisoformat(reference["end"]) - timedelta(days=1)
