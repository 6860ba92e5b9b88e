"""What the DAG files share (not a DAG file: `.airflowignore`). Nothing here or at the top of
a DAG file imports pandas, MLflow or PyIceberg, so the DAG processor parses the folder in well
under a second; the tasks import the project when they run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
    task,
)

from src.names import (
    CONTAINER_NAME,
    LOG_STREAM_PREFIX,
    container_command,
    result_key,
    task_definition_family,
)
from src.settings import get_settings

if TYPE_CHECKING:
    from src.data.intervals import DataInterval
    from src.names import EcsStep

# A sensor waiting for upstream data looks again every 5 minutes without holding a worker
# slot, and fails after 6 hours: missing data becomes a visible failure.
upstream_sensor = task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")

# Bad data or configuration fails at once: a retry cannot fix it.
NOT_RETRYABLE = RetryRule(
    ["src.errors.DataValidationError", "src.errors.ConfigError"], RetryAction.FAIL
)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "ml-platform",
    # 2, 4, 8 minutes between tries, for what waiting can fix (a busy catalog, a network blip).
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "retry_policy": ExceptionRetryPolicy(rules=[NOT_RETRYABLE]),
}
# Every DAG: no catchup, and one run at a time (runs commit to the same Iceberg tables).
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": datetime(2025, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
}


def daily_schedule() -> CronTriggerTimetable:
    """Midnight UTC, for the day that just ended: data interval [D, D + 1 day)."""
    return CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))


def current_interval() -> DataInterval:
    """The running task's data interval in whole days; a run triggered without a logical
    date takes the day before it was triggered, as the scheduled run would."""
    from src.data.intervals import DataInterval

    context = get_current_context()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        return DataInterval.for_day(context["dag_run"].run_after.date() - timedelta(days=1))
    return DataInterval(start.date(), max(end.date(), start.date() + timedelta(days=1)))


def run_reason() -> str:
    """Why this run happened: the `reason` of its conf (a drift trigger), or the schedule."""
    return str((get_current_context()["dag_run"].conf or {}).get("reason", "schedule or manual"))


def run_result_key(task_id: str) -> str:
    """Where a step's container leaves its summary for this run's task `task_id`."""
    context = get_current_context()
    prefix = get_settings().aws.s3.runs_prefix
    return result_key(prefix, context["dag"].dag_id, context["run_id"], task_id)


def heavy_step(step: EcsStep, task_id: str) -> Any:
    """The task `task_id` whose XCom is the step's summary (`src.context.run_step`),
    run in the worker or on ECS as ORCHESTRATION__RUNNER says."""

    @task(task_id=task_id, multiple_outputs=True)
    def in_worker() -> dict[str, Any]:
        from src.context import build_context, run_step

        trials = get_current_context()["params"].get("trials")
        return run_step(build_context(), step, current_interval(), run_reason(), trials)

    if get_settings().orchestration.runner == "local":
        return in_worker()
    return launch_on_ecs(step, task_id)


def launch_on_ecs(step: EcsStep, task_id: str) -> Any:
    """`<task_id>_request` works out the container's command for the run, `<task_id>_on_ecs`
    runs the step's task definition and waits for it, `<task_id>` reads the summary the
    container wrote: downstream tasks see the same XCom as with the local runner."""
    # Imported here: the provider takes a second to import, and only this runner needs it.
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    settings = get_settings()
    ecs = settings.aws.ecs

    @task(task_id=f"{task_id}_request")
    def request() -> dict[str, Any]:
        key = run_result_key(task_id)
        command = container_command(step, current_interval(), key, run_reason())
        environment = [{"name": "APP_ENV", "value": settings.app_env}]
        override = {"name": CONTAINER_NAME, "command": command, "environment": environment}
        return {"containerOverrides": [override]}

    @task(task_id=task_id, multiple_outputs=True)
    def read_result() -> dict[str, Any]:
        from src.context import build_context
        from src.data.aws_integration import read_bytes

        summary = read_bytes(build_context().store, run_result_key(task_id))
        return dict(json.loads(summary))

    network = {
        "awsvpcConfiguration": {
            "subnets": ecs.subnets,
            "securityGroups": ecs.security_groups,
            "assignPublicIp": "ENABLED" if ecs.assign_public_ip else "DISABLED",
        }
    }
    overrides: Any = request()  # the dict the task returns, once it ran
    launch = EcsRunTaskOperator(
        task_id=f"{task_id}_on_ecs",
        cluster=ecs.cluster,
        task_definition=task_definition_family(step, ecs.environment),
        overrides=overrides,
        launch_type=ecs.launch_type,
        network_configuration=network if ecs.subnets else None,
        container_name=CONTAINER_NAME,
        awslogs_group=ecs.log_group,
        awslogs_stream_prefix=LOG_STREAM_PREFIX if ecs.log_group else None,
        region_name=settings.aws.region,
        reattach=True,  # a retry finds the task the failed try started, launches no second
        wait_for_completion=True,
        deferrable=False,  # waits in its worker slot: no triggerer needed
    )
    result = read_result()
    launch >> result
    return result
