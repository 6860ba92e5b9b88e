"""What each ECS task may touch (src/data/access.py) follows the project's names."""

from __future__ import annotations

from pathlib import Path

from src.data.aws_resources import describe_lake_resources
from src.data.leases import DATA_PIPELINE_LEASE, PROMOTION_LEASE, lease_scope_prefix

from src.data.access import (
    ALL_TABLES,
    ATHENA_STEPS,
    GLUE_WRITE_ACTIONS,
    database_location,
    describe_task_access,
    lease_prefix,
    table_prefix,
)
from src.data.feature_store import load_feature_view
from src.data.predictions import batch_files_prefix
from src.data.tables import (
    LABELS_TABLE,
    PREDICTIONS_TABLE,
    bronze_table,
    quarantine_table,
    silver_table,
)
from src.orchestration import ECS_STEPS
from src.settings import FEATURES_FILE
from tests.conftest import isolated_settings


def test_the_tasks_reach_the_prefixes_and_tables_the_settings_name(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="aws")
    s3 = settings.aws.s3
    view = load_feature_view(FEATURES_FILE)
    access = describe_task_access(settings, view)
    assert set(access) == {*ECS_STEPS, "api", "jobs", "mlflow"}
    assert {task.bucket for task in access.values()} == {s3.bucket}
    # The API only appends to the predictions table, under that table's own prefix.
    predictions = table_prefix(settings, PREDICTIONS_TABLE)
    assert access["api"].tables == (PREDICTIONS_TABLE,)
    assert access["api"].prefixes == (predictions,)
    # The one-off jobs write the lake and the data quality reports, and query with Athena.
    for prefix in (s3.raw_prefix, s3.warehouse_prefix, s3.quality_prefix, s3.athena_results_prefix):
        assert prefix in access["jobs"].writes
    assert access["jobs"].tables == (ALL_TABLES,)
    assert access["jobs"].athena_workgroup == settings.aws.athena.workgroup
    assert access["mlflow"].prefixes == (s3.mlflow_artifacts_prefix,)
    assert access["mlflow"].glue_read_actions == ()


def test_each_step_reaches_only_its_own_tables_and_prefixes(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="aws")
    s3 = settings.aws.s3
    view = load_feature_view(FEATURES_FILE)
    access = describe_task_access(settings, view)
    quality = f"{s3.quality_prefix}/{view.dataset}"
    bronze, silver = bronze_table(view.dataset), silver_table(view.dataset)
    assert access["bronze"].reads_tables == access["bronze"].writes_tables == (bronze,)
    assert f"{s3.raw_prefix}/{view.dataset}" in access["bronze"].reads
    assert quality in access["bronze"].writes and quality in access["silver"].writes
    assert access["silver"].writes_tables == (silver, quarantine_table(view.dataset))
    assert access["gold"].reads_tables == (silver,)
    assert access["gold"].writes_tables == (view.table,)
    assert access["training"].writes_tables == ()
    assert access["training"].reads_tables == (view.table,)
    assert access["batch-inference"].writes_tables == (PREDICTIONS_TABLE,)
    assert batch_files_prefix(s3.processed_prefix) in access["batch-inference"].writes
    assert access["drift-check"].reads_tables == (PREDICTIONS_TABLE, LABELS_TABLE)
    assert access["drift-check"].writes == (s3.runs_prefix,)
    for step in ECS_STEPS:
        task = access[step]
        # Every step leaves its result for the launching run, and nothing reads it back.
        assert s3.runs_prefix in task.writes and s3.runs_prefix not in task.reads
        assert (task.athena_workgroup is not None) == (step in ATHENA_STEPS)
        assert (s3.athena_results_prefix in task.writes) == (step in ATHENA_STEPS)
        # Nobody but the jobs task and the server reaches the raw zone of another dataset,
        # the model artifacts or the whole warehouse.
        assert s3.mlflow_artifacts_prefix not in task.prefixes
        assert s3.warehouse_prefix not in task.prefixes
        assert ALL_TABLES not in task.tables
    # Leases are named where they are taken: a lease's scope lies under the granted prefix.
    scope = lease_scope_prefix(DATA_PIPELINE_LEASE, "2025-01-01..2025-01-02")
    assert scope.startswith(lease_prefix(DATA_PIPELINE_LEASE) + "/")
    assert lease_prefix(DATA_PIPELINE_LEASE) in access["silver"].deletes
    assert lease_prefix(PROMOTION_LEASE) in access["training"].writes


def test_no_task_may_create_the_database_the_stack_creates(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="aws")
    for task in describe_task_access(settings, load_feature_view(FEATURES_FILE)).values():
        assert "glue:CreateDatabase" not in (*task.glue_read_actions, *task.glue_write_actions)
        if task.writes_tables:
            assert set(GLUE_WRITE_ACTIONS) <= set(task.glue_write_actions)
    # Where init-aws (and the shared stack) put the database is where the roles look.
    plan = describe_lake_resources(settings)
    assert plan.database_location == database_location(settings)
    assert plan.database_location == f"{settings.warehouse_location}/{plan.database}.db"
    api_prefix = table_prefix(settings, PREDICTIONS_TABLE)
    assert f"s3://{plan.bucket}/{api_prefix}" == f"{plan.database_location}/{PREDICTIONS_TABLE}"


def test_step_sizes_default_per_step_and_refuse_unknown_steps() -> None:
    import pytest
    from pydantic import ValidationError

    from src.settings import EnvironmentDeployment, default_step_sizes

    given = EnvironmentDeployment.model_validate(
        {"steps": {"training": {"cpu": 8192, "memory_mib": 32768}}}
    )
    assert given.steps["training"].memory_mib == 32768
    assert given.steps["bronze"] == default_step_sizes()["bronze"]
    assert set(given.steps) == set(ECS_STEPS)
    with pytest.raises(ValidationError, match="bronz"):
        EnvironmentDeployment.model_validate({"steps": {"bronz": {"cpu": 512}}})
