"""The Airflow DAGs: the folder's integrity, a training run into a test registry, and the
heavy steps launched as ECS tasks against moto's ECS API. Airflow's database and the project's
state live in a temporary folder, which the tasks find through the settings (`isolated_env`)
as in a worker; `dag.test()` runs a DAG's tasks in this process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from src.context import ProjectContext, build_context
from src.names import CONTAINER_NAME, ECS_STEPS, result_key, task_definition_family
from src.settings import get_settings
from tests.conftest import FAKE_AWS_ENV, SAMPLE_END, build_sample_lake, isolated_env, moto_api

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from src.names import EcsStep

pytestmark = pytest.mark.integration

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"
# The heavy steps of each DAG: task id -> the step its container runs.
HEAVY_STEPS: dict[str, dict[str, EcsStep]] = {
    "data_pipeline": {"ingest_bronze": "bronze", "build_silver": "silver", "build_gold": "gold"},
    "ml_training_pipeline": {"train_model": "training"},
    "ml_batch_inference_pipeline": {"score_day": "batch-inference"},
    "ml_monitoring_pipeline": {"check_drift": "drift-check"},
}
# What the DAG processor must not import at every parse of a DAG file.
HEAVY_MODULES = {"duckdb", "evidently", "mlflow", "optuna", "pandas", "pyarrow", "pyiceberg"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectContext]:
    """Airflow and the project, each in a temporary folder, with the sample lake built."""
    assert "airflow" not in sys.modules, "Airflow reads its configuration on first import"
    root = tmp_path_factory.mktemp("dags")
    airflow = {
        "AIRFLOW_HOME": str(root / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**isolated_env(root), **airflow}.items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        from airflow.utils import db

        db.initdb()
        context = build_context()
        build_sample_lake(context)
        yield context
    get_settings.cache_clear()


def load_dags(retries: bool = False) -> dict[str, DAG]:
    """The DAG folder as the DAG processor loads it (which fails a DAG with a cycle)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    get_settings.cache_clear()
    bag = BundleDagBag(DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
    assert bag.import_errors == {}
    if not retries:  # a failing task fails its test run at once, not after its retries
        for task in (task for dag in bag.dags.values() for task in dag.tasks):
            task.retries = 0
    return dict(bag.dags)


def test_every_dag_imports_owned_tagged_documented_and_retried(project: ProjectContext) -> None:
    dags = load_dags(retries=True)
    assert set(dags) == {*HEAVY_STEPS, "lake_maintenance"}
    for dag in dags.values():
        assert dag.tags and (dag.doc_md or "").strip(), dag.dag_id
        assert (dag.catchup, dag.max_active_runs) == (False, 1), dag.dag_id
        for task in dag.tasks:
            assert task.owner == "ml-platform", task.task_id
            assert (task.retries or 0) >= 1 and task.retry_policy is not None, task.task_id


def test_dag_files_import_no_heavy_module(project: ProjectContext) -> None:
    script = (
        f"import runpy, sys; sys.path.append({str(DAGS_FOLDER)!r})\n"
        f"for path in sorted(__import__('pathlib').Path({str(DAGS_FOLDER)!r}).glob('*.py')):\n"
        "    runpy.run_path(str(path))\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) & HEAVY_MODULES == set()


def test_the_training_dag_registers_and_promotes_a_model(project: ProjectContext) -> None:
    run = load_dags()["ml_training_pipeline"].test(run_conf={"trials": 2})
    assert str(run.state) == "success"
    trained = run.get_task_instance("train_model").xcom_pull(task_ids="train_model")
    assert (trained["version"], trained["state"]) == ("1", "production")
    model = project.mlflow.client.get_model_version(project.settings.model_name, "1")
    assert (model.run_id, sorted(model.aliases)) == (trained["run_id"], ["production", "staging"])


@pytest.fixture
def ecs_dags(
    project: ProjectContext, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """What the deployment stack provides on moto (a cluster, a subnet, one task definition
    per step), and the DAGs parsed with ORCHESTRATION__RUNNER=ecs."""
    moto_api(moto_endpoint, "reset")
    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    region, cluster = get_settings().aws.region, get_settings().aws.ecs.cluster
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # Fargate's network interfaces get DNS names (moto fails RunTask without them).
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="steps", Description="steps", VpcId=vpc)
    ecs = boto3.client("ecs", endpoint_url=moto_endpoint, region_name=region)
    ecs.create_cluster(clusterName=cluster)
    # moto sums the containers' CPU and memory to place a task.
    container = {"name": CONTAINER_NAME, "image": "training", "cpu": 1024, "memory": 4096}
    for step in ECS_STEPS:
        ecs.register_task_definition(
            family=task_definition_family(step, "test"), networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"], cpu="1024", memory="4096",
            containerDefinitions=[container],
        )  # fmt: skip
    settings = {
        "APP_ENV": "aws", "ORCHESTRATION__RUNNER": "ecs", "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS__ECS__ENVIRONMENT": "test", "AWS__ECS__SUBNETS": json.dumps([subnet]),
        "AWS__ECS__SECURITY_GROUPS": json.dumps([group["GroupId"]]),
        "AWS__ECS__LOG_GROUP": "",  # moto has no log stream for the operator to follow
    }  # fmt: skip
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    yield {"dags": load_dags(), "ecs": ecs, "cluster": cluster, "subnet": subnet}
    get_settings.cache_clear()


@pytest.mark.parametrize("dag_id", sorted(HEAVY_STEPS))
def test_runner_ecs_launches_each_heavy_step_with_its_task_definition_and_command(
    ecs_dags: dict[str, Any], dag_id: str
) -> None:
    dag, ecs, cluster = ecs_dags["dags"][dag_id], ecs_dags["ecs"], ecs_dags["cluster"]
    steps = HEAVY_STEPS[dag_id]
    for task_id in steps:
        # moto never runs a container, which stays PENDING: launch without waiting for it.
        dag.get_task(f"{task_id}_on_ecs").wait_for_completion = False
    day = SAMPLE_END - timedelta(days=2)
    logical_date = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    # Only the launches run: sensors, result readers and whatever follows count as done.
    run = dag.test(logical_date=logical_date, mark_success_pattern=r"(?!.*_(request|on_ecs)$).*")
    assert str(run.state) == "success"
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    launched = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    by_family = {task["taskDefinitionArn"].split("/")[-1].split(":")[0]: task for task in launched}
    assert set(by_family) == {task_definition_family(step, "test") for step in steps.values()}
    for task_id, step in steps.items():
        task = by_family[task_definition_family(step, "test")]
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        assert (task["launchType"], details["subnetId"]) == ("FARGATE", ecs_dags["subnet"])
        [override] = task["overrides"]["containerOverrides"]
        environment = [{"name": "APP_ENV", "value": "aws"}]
        assert (override["name"], override["environment"]) == (CONTAINER_NAME, environment)
        # The image's ENTRYPOINT is `python -m src`: the override is the CLI's arguments.
        command = override["command"]
        assert command[:2] == ["step", step]
        options = dict(zip(command[2::2], command[3::2], strict=True))
        if step != "training":  # the run's data interval: the day that ended at its date
            assert (options["--start"], options["--end"]) == (str(day), str(day + timedelta(1)))
        assert options["--result-key"] == result_key("runs", dag_id, run.run_id, task_id)
