"""The Airflow DAGs: integrity of the DAG folder, and complete `dag.test()` runs.

Airflow's own database is a SQLite file in a temporary AIRFLOW_HOME, migrated once; the
project's lake, MLflow store and reports live in a temporary folder too (the variables of
`isolated_env`), and the tasks find them through `build_context()` as they do in a worker.
`dag.test()` runs every task in this process, one DAG run at a time, with no scheduler.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from src.context import ProjectContext, build_context
from src.data.predictions import (
    PREDICTED_AT,
    PREDICTION_DATE,
    PREDICTION_ID,
    read_prediction_window,
    replace_predictions,
)
from src.names import bronze_table, quarantine_table, silver_table
from src.settings import get_settings
from tests.conftest import SAMPLE_END, build_sample_lake, isolated_env

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from src.names import EcsStep

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT_ROOT / "airflow" / "dags"
DAG_IDS = {
    "data_pipeline",
    "ml_training_pipeline",
    "ml_batch_inference_pipeline",
    "ml_monitoring_pipeline",
    "lake_maintenance",
}
# Modules a DAG file must not import at parse time: the DAG processor re-parses every file
# every few seconds, so each of these would slow every parse down.
HEAVY_MODULES = {
    "duckdb",
    "evidently",
    "mlflow",
    "optuna",
    "pandas",
    "pyarrow",
    "pyiceberg",
    "sklearn",
}

# A day inside the sample data, and one far enough after it that its monitoring window
# holds none of that day's predictions.
DAY = SAMPLE_END - timedelta(days=2)
DRIFT_DAY = DAY + timedelta(days=30)


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Airflow configured from a temporary AIRFLOW_HOME; it reads its config on first import."""
    assert "airflow" not in sys.modules, "airflow was imported before its test configuration"
    home = tmp_path_factory.mktemp("airflow-home")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in airflow_env(home).items():
            patch.setenv(key, value)
        yield home


@pytest.fixture(scope="module")
def dags(airflow_home: Path) -> dict[str, DAG]:
    from airflow.dag_processing.dagbag import BundleDagBag

    # The DAG processor's own loader: it puts the folder on sys.path for dag_support.
    bag = BundleDagBag(DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
    assert bag.import_errors == {}
    return dict(bag.dags)


@pytest.fixture(scope="module")
def airflow_db(airflow_home: Path) -> Path:
    """`airflow db migrate`, once: it takes seconds."""
    from airflow.utils import db

    db.initdb()
    return airflow_home / "airflow.db"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectContext]:
    """The project's state in a temporary folder, seen by tasks through the environment."""
    from src.data.sample_data import land_sample_files

    root = tmp_path_factory.mktemp("dag-project")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in isolated_env(root).items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        context = build_context()
        raw_prefix = context.settings.aws.s3.raw_prefix
        land_sample_files(context.store, context.view, raw_prefix, SAMPLE_END)
        yield context
    get_settings.cache_clear()


@dataclass(frozen=True)
class RunResult:
    state: str
    tasks: dict[str, str]
    xcoms: dict[str, Any]


def run_dag(
    dags: dict[str, DAG], dag_id: str, logical_date: datetime, sensor_timeout: float = 10
) -> RunResult:
    """One complete `dag.test()` run; failures fail at once instead of waiting for retries."""
    from airflow.sdk import BaseSensorOperator

    dag = dags[dag_id]
    for task in dag.tasks:
        task.retries = 0
        if isinstance(task, BaseSensorOperator):
            task.mode, task.poke_interval, task.timeout = "poke", 1, sensor_timeout
    run = dag.test(logical_date=logical_date)
    instances = run.get_task_instances()
    return RunResult(
        state=str(run.state),
        tasks={ti.task_id: str(ti.state) for ti in instances},
        xcoms={ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in instances},
    )


def run_for_day(
    dags: dict[str, DAG], dag_id: str, day: date, sensor_timeout: float = 10
) -> RunResult:
    """The scheduled run for `day`: it starts at the next midnight, when the day is over."""
    midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return run_dag(dags, dag_id, midnight, sensor_timeout)


def checksum(context: ProjectContext, table: str) -> tuple[int, str]:
    """Row count and a digest of a table's contents, whatever order the scan returns."""
    frame = context.lake.read(table).to_pandas()
    frame = frame.sort_values(list(frame.columns), ignore_index=True)
    return len(frame), hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def lake_tables(context: ProjectContext) -> list[str]:
    dataset = context.view.dataset
    return [
        bronze_table(dataset),
        silver_table(dataset),
        quarantine_table(dataset),
        context.view.table,
    ]


# Integrity of the DAG folder ---------------------------------------------------------


def test_the_dag_folder_holds_the_five_dags(dags: dict[str, DAG]) -> None:
    assert set(dags) == DAG_IDS


def test_every_dag_is_owned_tagged_documented_and_retried(dags: dict[str, DAG]) -> None:
    for dag in dags.values():
        assert dag.catchup is False, dag.dag_id
        assert dag.tags, dag.dag_id
        assert (dag.doc_md or "").strip(), dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert dag.schedule is not None, dag.dag_id
        for task in dag.tasks:
            assert task.owner != "airflow", task.task_id
            assert (task.retries or 0) >= 1, task.task_id
            assert task.retry_exponential_backoff > 1, task.task_id
            assert task.retry_policy is not None, task.task_id


def test_dag_files_import_no_heavy_module(airflow_home: Path) -> None:
    """What the DAG processor pays per parse: Airflow itself, not the project's libraries."""
    script = (
        "import importlib.util, json, sys, time\n"
        f"sys.path.append({str(DAGS_FOLDER)!r})\n"
        "import airflow.sdk\n"
        "timings = {}\n"
        f"for path in sorted(__import__('pathlib').Path({str(DAGS_FOLDER)!r}).glob('*.py')):\n"
        "    start = time.perf_counter()\n"
        "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "    timings[path.name] = round(time.perf_counter() - start, 3)\n"
        "print(json.dumps({'timings': timings, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **airflow_env(airflow_home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report["timings"]) >= {f"{dag_id}.py" for dag_id in DAG_IDS}
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert loaded & HEAVY_MODULES == set(), f"DAG files import heavy modules: {report['timings']}"
    assert "src.context" not in report["modules"]


# Complete runs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_runs(
    dags: dict[str, DAG], airflow_db: Path, project: ProjectContext
) -> tuple[RunResult, RunResult, dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """The data DAG for DAY, twice, with the lake's tables after each run."""
    first = run_for_day(dags, "data_pipeline", DAY)
    after_first = {table: checksum(project, table) for table in lake_tables(project)}
    second = run_for_day(dags, "data_pipeline", DAY)
    after_second = {table: checksum(project, table) for table in lake_tables(project)}
    return first, second, after_first, after_second


def test_data_pipeline_builds_its_day_through_gold(
    data_runs: tuple[RunResult, RunResult, dict[str, Any], dict[str, Any]],
    project: ProjectContext,
) -> None:
    first, _, tables, _ = data_runs
    assert first.state == "success", first.tasks
    assert set(first.tasks.values()) == {"success"}
    bronze, silver, gold = (first.xcoms[t] for t in ("ingest_bronze", "build_silver", "build_gold"))
    assert (bronze["start"], bronze["end"]) == (DAY.isoformat(), (DAY + timedelta(1)).isoformat())
    assert bronze["files_ingested"] == 1
    assert bronze["rows"] == silver["rows_valid"] + silver["rows_quarantined"]
    assert tables[project.view.table][0] == gold["rows"] == silver["rows_valid"] > 0
    # Only the run's day is in the lake, not the sample's other nine.
    days = project.lake.read(project.view.table, columns=["ingest_date"]).column("ingest_date")
    assert set(days.to_pylist()) == {DAY}


def test_rerunning_the_data_pipeline_for_its_day_leaves_identical_tables(
    data_runs: tuple[RunResult, RunResult, dict[str, Any], dict[str, Any]],
) -> None:
    _, second, after_first, after_second = data_runs
    assert second.state == "success", second.tasks
    assert second.xcoms["ingest_bronze"]["files_ingested"] == 0
    assert second.xcoms["ingest_bronze"]["files_skipped"] == 1
    assert after_second == after_first


@pytest.fixture(scope="module")
def training_run(
    dags: dict[str, DAG], data_runs: tuple[Any, ...], project: ProjectContext
) -> RunResult:
    """The whole sample window in the lake (as `make setup` leaves it), then a training run."""
    build_sample_lake(project)
    return run_dag(dags, "ml_training_pipeline", datetime.now(UTC))


def test_training_pipeline_registers_and_promotes_a_model(
    training_run: RunResult, project: ProjectContext
) -> None:
    assert training_run.state == "success", training_run.tasks
    trained = training_run.xcoms["train_model"]
    confirmed = training_run.xcoms["confirm_registration"]
    assert training_run.xcoms["check_feature_store"]["table"] == project.view.table
    assert (trained["version"], trained["state"]) == ("1", "production")
    assert confirmed["aliases"] == ["production", "staging"]
    assert confirmed["run_id"] == trained["run_id"]
    registered = project.mlflow.client.get_model_version(project.settings.model_name, "1")
    assert registered.run_id == trained["run_id"]


@pytest.fixture(scope="module")
def inference_run(
    dags: dict[str, DAG], training_run: RunResult, project: ProjectContext
) -> RunResult:
    return run_for_day(dags, "ml_batch_inference_pipeline", DAY)


def test_the_batch_sensor_fails_at_once_with_the_reason_when_the_day_was_blocked(
    dags: dict[str, DAG],
    airflow_db: Path,
    project: ProjectContext,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from src.data.intervals import DataInterval
    from src.data.quality import CheckResult, QualityReport, write_quality_report

    day = DAY + timedelta(days=90)  # a day no other test scores
    interval = DataInterval.for_day(day)
    reason = "rule 'raw_schema' (schema) refused 1 file(s): raw file x.csv misses columns: a"
    report = QualityReport(
        dataset=project.view.dataset,
        step="bronze",
        interval_start=interval.start.isoformat(),
        interval_end=interval.end.isoformat(),
        checks=[CheckResult("raw_schema", "schema", "block", failed=1, message=reason)],
    )
    write_quality_report(project.store, project.settings.aws.s3.quality_prefix, report)
    # A timeout the test would notice: waiting it out instead of failing fast takes an hour.
    # (run_dag sets every sensor's timeout for each run, so the next runs get theirs back.)
    run = run_for_day(dags, "ml_batch_inference_pipeline", day, sensor_timeout=3600)
    assert run.state == "failed", run.tasks
    assert run.tasks["wait_for_features"] == "failed"
    assert "score_day" not in run.tasks or run.tasks["score_day"] != "success"
    # The task log (Airflow's structured log goes to the process's output) names the reason.
    out, err = capfd.readouterr()
    assert reason in out + err
    assert "Retry policy decision" in out + err


def test_batch_inference_pipeline_writes_the_days_predictions(
    inference_run: RunResult, project: ProjectContext
) -> None:
    assert inference_run.state == "success", inference_run.tasks
    scored = inference_run.xcoms["score_day"]
    predictions = read_prediction_window(project.lake, DAY, 1)
    gold_rows = inference_run.xcoms["wait_for_features"]["rows"]
    assert len(predictions) == scored["rows"] == gold_rows > 0
    assert set(predictions["model_version"]) == {scored["model_version"]} == {"1"}
    assert project.store.exists(
        f"{project.settings.aws.s3.processed_prefix}/predictions/"
        f"prediction_date={DAY.isoformat()}/model_name={project.settings.model_name}/"
        "predictions.parquet"
    )


@pytest.fixture(scope="module")
def clean_monitoring_run(
    dags: dict[str, DAG], inference_run: RunResult, project: ProjectContext
) -> RunResult:
    return run_for_day(dags, "ml_monitoring_pipeline", DAY)


@pytest.fixture(scope="module")
def drifted_monitoring_run(
    dags: dict[str, DAG], inference_run: RunResult, project: ProjectContext
) -> RunResult:
    """DAY's predictions again on DRIFT_DAY, every feature shifted by three deviations."""
    frame = read_prediction_window(project.lake, DAY, 1)
    for name in project.view.feature_names:
        frame[name] = frame[name] + 3 * frame[name].std()
    frame[PREDICTION_ID] = "drifted-" + frame[PREDICTION_ID]
    frame[PREDICTION_DATE] = DRIFT_DAY
    frame[PREDICTED_AT] = frame[PREDICTED_AT] + (DRIFT_DAY - DAY)
    replace_predictions(project.lake, project.view, frame, DRIFT_DAY, project.settings.model_name)
    return run_for_day(dags, "ml_monitoring_pipeline", DRIFT_DAY)


def retraining_runs(window_end: date) -> list[Any]:
    from airflow.models.dagrun import DagRun

    return list(DagRun.find(dag_id="ml_training_pipeline", run_id=[f"drift_{window_end}"]))


def test_a_clean_window_does_not_trigger_retraining(clean_monitoring_run: RunResult) -> None:
    run = clean_monitoring_run
    assert run.state == "success", run.tasks
    assert run.xcoms["check_drift"]["dataset_drift"] is False
    assert run.tasks["no_drift"] == "success"
    assert run.tasks["alert_drift"] == run.tasks["trigger_retraining"] == "skipped"
    assert retraining_runs(DAY) == []


def test_a_drifted_window_alerts_and_triggers_retraining(
    drifted_monitoring_run: RunResult,
) -> None:
    run = drifted_monitoring_run
    assert run.state == "success", run.tasks
    check = run.xcoms["check_drift"]
    assert check["dataset_drift"] is True
    assert Path(check["report"]).is_file()
    assert run.tasks["no_drift"] == "skipped"
    assert run.tasks["alert_drift"] == run.tasks["trigger_retraining"] == "success"
    assert "drift" in run.xcoms["alert_drift"] and check["report"] in run.xcoms["alert_drift"]
    [triggered] = retraining_runs(DRIFT_DAY)
    assert triggered.conf["reason"] == "drift"
    assert triggered.conf["report"] == check["report"]


def test_the_step_command_leaves_the_result_the_collecting_task_reads(
    data_runs: tuple[Any, ...], project: ProjectContext
) -> None:
    """The container's side, run here: `python -m src step` writes the summary to its key."""
    from typer.testing import CliRunner

    from src.cli import app
    from src.data.intervals import DataInterval
    from src.names import container_command, result_key

    key = result_key("runs", "data_pipeline", "manual__2025-01-01T00:00:00+00:00", "build_gold")
    assert key == "runs/data_pipeline/manual__2025-01-01T00_00_00_00_00/build_gold.json"
    command = container_command("gold", DataInterval.for_day(DAY), key)
    get_settings.cache_clear()
    outcome = CliRunner().invoke(app, command)
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads(project.store.get_bytes(key))
    first_run = data_runs[0]
    assert summary == first_run.xcoms["build_gold"]


# The heavy steps as ECS tasks (ORCHESTRATION__RUNNER=ecs, APP_ENV=aws) ---------------------
#
# moto's ECS API stands in for AWS: it registers task definitions, accepts RunTask and moves
# a task to STOPPED as DescribeTasks is polled, but no container runs, and its containers stay
# PENDING, which EcsRunTaskOperator's success check rejects. So the DAG runs below launch with
# wait_for_completion off and check what was launched; the waiter the operator uses is tested
# on its own, and the container's side (the `step` command and its result) in the project.

ECS_SUBNET_CIDR = "10.0.1.0/24"
# Each dispatched task, with the step its container runs.
ECS_TASKS: dict[str, dict[str, EcsStep]] = {
    "data_pipeline": {"ingest_bronze": "bronze", "build_silver": "silver", "build_gold": "gold"},
    "ml_training_pipeline": {"train_model": "training"},
    "ml_batch_inference_pipeline": {"score_day": "batch-inference"},
    "ml_monitoring_pipeline": {"check_drift": "drift-check"},
}


@dataclass(frozen=True)
class EcsStack:
    """What the deployment stack provides: cluster, network and one task definition per step."""

    endpoint: str
    cluster: str
    subnet: str
    security_group: str
    environment: str
    dags: dict[str, DAG]

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=get_settings().aws.region
        )

    def launched(self) -> list[dict[str, Any]]:
        ecs = self.client("ecs")
        arns = ecs.list_tasks(cluster=self.cluster)["taskArns"]
        return list(ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]) if arns else []


@pytest.fixture(scope="module")
def ecs_stack(airflow_home: Path, airflow_db: Path, project: ProjectContext) -> Iterator[EcsStack]:
    """moto in server mode with the stack's resources, and the DAGs parsed with runner=ecs."""
    import boto3
    from airflow.dag_processing.dagbag import BundleDagBag
    from moto.server import ThreadedMotoServer

    from src.names import CONTAINER_NAME, ECS_STEPS, task_definition_family
    from tests.conftest import FAKE_AWS_ENV, free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings = get_settings()
    region, cluster, environment = settings.aws.region, settings.aws.ecs.cluster, "test"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in FAKE_AWS_ENV.items():
                patch.setenv(key, value)
            patch.setenv("AWS_DEFAULT_REGION", region)
            ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            # Fargate's network interfaces get DNS names (moto fails RunTask without them).
            ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=ECS_SUBNET_CIDR)["Subnet"]["SubnetId"]
            group = ec2.create_security_group(GroupName="steps", Description="steps", VpcId=vpc)
            ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=region)
            ecs.create_cluster(clusterName=cluster)
            for step in ECS_STEPS:
                ecs.register_task_definition(
                    family=task_definition_family(step, environment),
                    networkMode="awsvpc",
                    requiresCompatibilities=["FARGATE"],
                    cpu="1024",
                    memory="4096",
                    containerDefinitions=[
                        {
                            "name": CONTAINER_NAME,
                            "image": "training:latest",
                            "essential": True,
                            # moto sums the containers' CPU and memory to place the task.
                            "cpu": 1024,
                            "memory": 4096,
                        }
                    ],
                )
            for key, value in {
                "APP_ENV": "aws",
                "ORCHESTRATION__RUNNER": "ecs",
                "AWS_ENDPOINT_URL": endpoint,
                "AWS__ECS__ENVIRONMENT": environment,
                "AWS__ECS__SUBNETS": json.dumps([subnet]),
                "AWS__ECS__SECURITY_GROUPS": json.dumps([group["GroupId"]]),
                # No CloudWatch log stream exists on moto for the operator to follow.
                "AWS__ECS__LOG_GROUP": "",
            }.items():
                patch.setenv(key, value)
            get_settings.cache_clear()
            bag = BundleDagBag(DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
            assert bag.import_errors == {}
            yield EcsStack(endpoint, cluster, subnet, group["GroupId"], environment, dict(bag.dags))
    finally:
        get_settings.cache_clear()
        server.stop()


def launch_ecs_tasks(stack: EcsStack, dag_id: str, logical_date: datetime) -> RunResult:
    """`dag.test()` of the DAG's ECS launches: each step's request and RunTask, no waiting."""
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    launches = [
        f"{task_id}_{part}" for task_id in ECS_TASKS[dag_id] for part in ("request", "on_ecs")
    ]
    subset = stack.dags[dag_id].partial_subset(launches, include_upstream=False)
    assert sorted(subset.task_ids) == sorted(launches)
    for task in subset.tasks:
        task.retries = 0
        if isinstance(task, EcsRunTaskOperator):
            task.wait_for_completion = False
    run = subset.test(logical_date=logical_date)
    instances = run.get_task_instances()
    return RunResult(
        state=str(run.state),
        tasks={ti.task_id: str(ti.state) for ti in instances},
        xcoms={ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in instances},
    )


def test_with_runner_ecs_each_heavy_step_is_a_launch_between_request_and_result(
    ecs_stack: EcsStack,
) -> None:
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    for dag_id, steps in ECS_TASKS.items():
        dag = ecs_stack.dags[dag_id]
        for task_id in steps:
            launch = dag.get_task(f"{task_id}_on_ecs")
            assert isinstance(launch, EcsRunTaskOperator)
            assert (launch.deferrable, launch.wait_for_completion, launch.reattach) == (
                False,
                True,
                True,
            )
            assert {t.task_id for t in launch.upstream_list} >= {f"{task_id}_request"}
            assert [t.task_id for t in launch.downstream_list] == [task_id]


@pytest.mark.parametrize("dag_id", sorted(ECS_TASKS))
def test_dag_runs_launch_the_steps_as_ecs_tasks_with_their_definitions_and_overrides(
    ecs_stack: EcsStack, dag_id: str
) -> None:
    from src.names import CONTAINER_NAME, task_definition_family

    before = {task["taskArn"] for task in ecs_stack.launched()}
    logical_date = datetime.combine(DAY + timedelta(days=1), time(), tzinfo=UTC)
    run = launch_ecs_tasks(ecs_stack, dag_id, logical_date)
    assert run.state == "success", run.tasks
    launched = [task for task in ecs_stack.launched() if task["taskArn"] not in before]
    by_family = {task["taskDefinitionArn"].split("/")[-1].split(":")[0]: task for task in launched}
    steps = ECS_TASKS[dag_id]
    assert set(by_family) == {
        task_definition_family(s, ecs_stack.environment) for s in steps.values()
    }
    for task_id, step in steps.items():
        task = by_family[task_definition_family(step, ecs_stack.environment)]
        assert task["launchType"] == "FARGATE"
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        assert details["subnetId"] == ecs_stack.subnet
        [override] = task["overrides"]["containerOverrides"]
        assert override["name"] == CONTAINER_NAME
        assert override["environment"] == [{"name": "APP_ENV", "value": "aws"}]
        key = run.xcoms[f"{task_id}_request"]["result_key"]
        assert key.startswith(f"runs/{dag_id}/") and key.endswith(f"/{task_id}.json")
        command = override["command"]
        # The image's ENTRYPOINT is `python -m src`: the override is the CLI's arguments.
        assert command[:2] == ["step", step]
        options = dict(zip(command[2::2], command[3::2], strict=True))
        assert options["--result-key"] == key
        if step != "training":
            # The run's data interval, the day that ended at the logical date.
            assert (options["--start"], options["--end"]) == (
                DAY.isoformat(),
                (DAY + timedelta(days=1)).isoformat(),
            )


def test_the_waiter_of_the_operator_sees_a_launched_task_stop(ecs_stack: EcsStack) -> None:
    """EcsRunTaskOperator waits with the `tasks_stopped` waiter; moto stops tasks as polled."""
    from airflow.providers.amazon.aws.hooks.ecs import EcsHook

    from src.names import task_definition_family

    client = EcsHook(aws_conn_id=None, region_name=get_settings().aws.region).conn
    network = {
        "awsvpcConfiguration": {
            "subnets": [ecs_stack.subnet],
            "securityGroups": [ecs_stack.security_group],
        }
    }
    [task] = client.run_task(
        cluster=ecs_stack.cluster,
        taskDefinition=task_definition_family("drift-check", ecs_stack.environment),
        launchType="FARGATE",
        networkConfiguration=network,
    )["tasks"]
    arn = task["taskArn"]
    client.get_waiter("tasks_stopped").wait(
        cluster=ecs_stack.cluster, tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    [stopped] = client.describe_tasks(cluster=ecs_stack.cluster, tasks=[arn])["tasks"]
    assert stopped["lastStatus"] == "STOPPED"
