"""What the project's DAGs share: ownership, retries, the daily schedule, the run's interval,
and where the heavy steps run (`run_heavy_step`).

This is not a DAG file (`.airflowignore` lists it): the DAG files import it. Nothing here or
at the top of a DAG file imports the project's heavy libraries (pandas, MLflow, PyIceberg),
so the DAG processor parses the folder in well under a second; tasks import them when they
run.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
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
from src.pipelines.steps import interval_reference as interval_reference
from src.settings import get_settings

if TYPE_CHECKING:
    from src.data.intervals import DataInterval
    from src.names import EcsStep

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


def last_day(reference: dict[str, Any]) -> date:
    """The last day of an interval passed through XCom."""
    return date.fromisoformat(reference["end"]) - timedelta(days=1)


def step_interval(upstream: Upstream) -> DataInterval:
    """The interval an upstream result names, or the running task's own."""
    from src.data.intervals import DataInterval

    if isinstance(upstream, dict) and "start" in upstream and "end" in upstream:
        return DataInterval.parse(upstream["start"], upstream["end"])
    return current_interval()


def run_reason() -> str:
    """Why this DAG run happened: the `reason` of its conf (a drift trigger), or the schedule."""
    conf = get_current_context()["dag_run"].conf or {}
    return str(conf.get("reason", "schedule or manual"))


def run_trials() -> int | None:
    """The run's `trials` param (ml_training_pipeline), or None: the configured search."""
    trials = get_current_context()["params"].get("trials")
    return int(trials) if trials is not None else None


def run_heavy_step(
    step: EcsStep, task_id: str, upstream: Upstream = None, *, multiple_outputs: bool = False
) -> Upstream:
    """The task (or tasks) that run a heavy step; downstream tasks read `task_id`'s result.

    Settings choose where (ORCHESTRATION__RUNNER): `local` runs the step in this worker;
    `ecs` launches it as an ECS task of the project's image, whose container runs
    `python -m src step ...` and leaves the same result in the object store.
    """
    if get_settings().orchestration.runner == "ecs":
        return launch_on_ecs(step, task_id, upstream, multiple_outputs)

    @task(task_id=task_id, multiple_outputs=multiple_outputs)
    def in_process(upstream: Upstream = None) -> dict[str, Any]:
        from src.context import build_context
        from src.pipelines.steps import run_step

        return run_step(build_context(), step, step_interval(upstream), run_reason(), run_trials())

    return in_process(upstream)


def launch_on_ecs(
    step: EcsStep, task_id: str, upstream: Upstream, multiple_outputs: bool
) -> Upstream:
    """`<task_id>_request` -> `<task_id>_on_ecs` (EcsRunTaskOperator) -> `<task_id>`.

    The request task works out the container's command for the run's interval; the ECS
    task runs it and the operator waits for it to stop (in a worker slot: deferrable off);
    the last task reads the result the container wrote, so downstream tasks get the same
    XCom whichever runner ran the step.
    """
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    settings = get_settings()
    ecs = settings.aws.ecs

    @task(task_id=f"{task_id}_request", multiple_outputs=True)
    def request(upstream: Upstream = None) -> dict[str, Any]:
        context = get_current_context()
        key = result_key(
            settings.aws.s3.runs_prefix, context["dag"].dag_id, context["run_id"], task_id
        )
        command = container_command(step, step_interval(upstream), key, run_reason())
        environment = [{"name": "APP_ENV", "value": settings.app_env}]
        override = {"name": CONTAINER_NAME, "command": command, "environment": environment}
        return {"result_key": key, "overrides": {"containerOverrides": [override]}}

    @task(task_id=task_id, multiple_outputs=multiple_outputs)
    def collect(key: str) -> dict[str, Any]:
        from src.context import build_context

        result: dict[str, Any] = json.loads(build_context().store.get_bytes(key))
        return result

    network = {
        "awsvpcConfiguration": {
            "subnets": ecs.subnets,
            "securityGroups": ecs.security_groups,
            "assignPublicIp": "ENABLED" if ecs.assign_public_ip else "DISABLED",
        }
    }
    requested: Upstream = request(upstream)
    launch = EcsRunTaskOperator(
        task_id=f"{task_id}_on_ecs",
        cluster=ecs.cluster,
        task_definition=task_definition_family(step, ecs.environment),
        overrides=requested["overrides"],
        launch_type=ecs.launch_type,
        network_configuration=network if ecs.subnets else None,
        container_name=CONTAINER_NAME,
        awslogs_group=ecs.log_group,
        awslogs_stream_prefix=LOG_STREAM_PREFIX if ecs.log_group else None,
        region_name=settings.aws.region,
        # A retry finds the task the failed try started instead of launching a second one.
        reattach=True,
        wait_for_completion=True,
        deferrable=False,
    )
    collected = collect(requested["result_key"])
    launch >> collected
    return collected
