"""What each ECS task may touch (src/data/access.py) follows the project's names."""

from __future__ import annotations

from pathlib import Path

from src.data.access import (
    ALL_TABLES,
    GLUE_WRITE_ACTIONS,
    database_location,
    describe_task_access,
    table_prefix,
)
from src.data.aws_resources import describe_lake_resources
from src.data.tables import PREDICTIONS_TABLE
from tests.conftest import isolated_settings


def test_the_tasks_reach_the_prefixes_and_tables_the_settings_name(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="aws")
    s3 = settings.aws.s3
    access = describe_task_access(settings)
    assert set(access) == {"api", "jobs", "mlflow"}
    assert {task.bucket for task in access.values()} == {s3.bucket}
    # The API only appends to the predictions table, under that table's own prefix.
    assert access["api"].tables == (PREDICTIONS_TABLE,)
    assert access["api"].prefixes == (table_prefix(settings, PREDICTIONS_TABLE),)
    assert not access["api"].may_delete_objects
    # The jobs write the lake and the data quality reports, and query with Athena.
    for prefix in (s3.raw_prefix, s3.warehouse_prefix, s3.quality_prefix, s3.athena_results_prefix):
        assert prefix in access["jobs"].prefixes
    assert access["jobs"].tables == (ALL_TABLES,)
    assert access["jobs"].athena_workgroup == settings.aws.athena.workgroup
    assert access["mlflow"].prefixes == (s3.mlflow_artifacts_prefix,)
    assert access["mlflow"].glue_actions == ()


def test_no_task_may_create_the_database_the_stack_creates(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="aws")
    for task in describe_task_access(settings).values():
        assert "glue:CreateDatabase" not in task.glue_actions
        if task.writes_tables:
            assert set(GLUE_WRITE_ACTIONS) <= set(task.glue_actions)
    # Where init-aws (and the shared stack) put the database is where the roles look.
    plan = describe_lake_resources(settings)
    assert plan.database_location == database_location(settings)
    assert plan.database_location == f"{settings.warehouse_location}/{plan.database}.db"
    api_prefix = table_prefix(settings, PREDICTIONS_TABLE)
    assert f"s3://{plan.bucket}/{api_prefix}" == f"{plan.database_location}/{PREDICTIONS_TABLE}"
