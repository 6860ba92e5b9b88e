"""The container stack of a rendered default project, run for real through its Makefile.

An engine of the tests' own (tests/stack_engine.py) runs the images the project's
Dockerfiles build and the third-party images its compose file names, or stand-ins for
them built under the same tags when no registry can be reached (tests/stand_ins.py).
Every published port is moved into 28000-28999 through the compose file's *_PORT
variables. Grafana has no image here: the stack runs without it (said in the output).

On CI (CI=true) a machine without an engine fails this module; elsewhere it is skipped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser

from tests import pages
from tests.conftest import render, tool_env
from tests.stack_engine import Engine
from tests.stand_ins import WITHOUT_STAND_IN, provide, third_party_images

pytestmark = pytest.mark.slow

OVERRIDE = Path(__file__).parent / "stack" / "compose.test.yml"
PORTS = {
    "API_PORT": 28000,
    "MLFLOW_PORT": 28500,
    "MINIO_PORT": 28900,
    "MINIO_CONSOLE_PORT": 28901,
    "AIRFLOW_PORT": 28080,
    "PROMETHEUS_PORT": 28090,
    "PUSHGATEWAY_PORT": 28091,
    "ALERTMANAGER_PORT": 28093,
    "GRAFANA_PORT": 28030,
}
# A second MLflow server on the same backend, without artifact serving (the broken page).
NO_ARTIFACTS_PORT = 28501
# Services that run once to completion when the stack starts.
ONE_SHOT = {"minio-init", "airflow-init"}
BUILD_TIMEOUT_S = 2400.0
HEALTHY_DEADLINE_S = 600.0
READY_DEADLINE_S = 300.0
DOCKER_STOP_GRACE = "10s"
SIGKILL_EXIT_CODE = 137
# Optuna trials of `make docker-train` and of the Airflow run: the loop is under test, not
# the search.
TRIALS = 3


def log(message: str) -> None:
    # Shown with -s and in the captured output of a failure.
    print(f"[stack] {message}", flush=True)


@dataclass
class Stack:
    project: Path
    engine: Engine
    env: dict[str, str]

    def run(
        self, command: list[str], timeout: float = 900, check: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = subprocess.run(
            command,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if not quiet:
            elapsed = time.monotonic() - started
            log(f"{' '.join(command)}: exit {result.returncode} in {elapsed:.0f} s")
        if check:
            assert result.returncode == 0, (
                f"{' '.join(command)} failed with {result.returncode}\n"
                f"--- stdout\n{result.stdout[-8000:]}\n--- stderr\n{result.stderr[-8000:]}"
            )
        return result

    def make(self, *target: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.run(["make", "--no-print-directory", *target], timeout)

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True, quiet: bool = False
    ) -> str:
        return self.run(["docker", "compose", *args], timeout, check, quiet).stdout

    def dotenv(self, key: str) -> str:
        for line in (self.project / ".env").read_text().splitlines():
            name, _, value = line.partition("=")
            if name == key:
                return value
        raise KeyError(f"{key} is not in .env")

    def url(self, variable: str, path: str) -> str:
        return f"http://127.0.0.1:{PORTS[variable]}{path}"

    def services(self) -> list[dict[str, Any]]:
        """`docker compose ps` of every profile, stopped containers included."""
        output = self.compose(
            *profiles(self.project), "ps", "--all", "--format", "json", quiet=True
        )
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", service, check=False)


def profiles(project: Path) -> list[str]:
    """Every profile of the compose file but the jobs one, as `--profile` arguments."""
    names: set[str] = set()
    for service in compose_document(project)["services"].values():
        names.update(service.get("profiles", []))
    names.discard("jobs")
    return [argument for name in sorted(names) for argument in ("--profile", name)]


def compose_document(project: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((project / "docker-compose.yml").read_text())
    return document


def http(
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """Status and decoded JSON (or text) of one request; HTTP errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def poll(description: str, deadline_s: float, probe: Any) -> Any:
    """Call `probe` until it returns something truthy; fail with the last answer at the deadline."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if last and not isinstance(last, str):
                return last
        time.sleep(2)
    pytest.fail(f"{description}: not reached within {deadline_s:.0f} s; last: {last}")


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def stack_env(project: Path, engine: Engine) -> dict[str, str]:
    """A user's environment plus the engine, the ports of this test and its compose override."""
    return {
        **tool_env(),
        **engine.env(),
        **{name: str(port) for name, port in PORTS.items()},
        "COMPOSE_FILE": os.pathsep.join([str(project / "docker-compose.yml"), str(OVERRIDE)]),
    }


@pytest.fixture(scope="module")
def stack(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    project = render(tmp_path_factory.mktemp("stack"))
    started = time.monotonic()
    provided = provide(engine, third_party_images(project), log)
    missing = [item.image for item in provided if item.how == "missing"]
    assert all(image.startswith(WITHOUT_STAND_IN) for image in missing), missing
    for image in missing:
        log(f"{image}: no image and no stand-in here; the stack runs without its service")
    log(f"third-party images ready in {time.monotonic() - started:.0f} s")
    stack = Stack(project, engine, stack_env(project, engine))
    # The jobs' reports come here (compose.test.yml); the jobs run as a user of their image.
    (project / "reports").mkdir(exist_ok=True)
    (project / "reports").chmod(0o777)
    # Containers and volumes a run that did not finish left on the engine.
    stack.compose(*profiles(project), "--profile", "jobs", "down", "--volumes", check=False)
    try:
        yield stack
    finally:
        stack.compose(*profiles(project), "--profile", "jobs", "down", "--volumes", check=False)
        # Each run's builds leave the previous run's project images untagged and add to the
        # build cache; without this the engine's data root (kept between runs for its cache)
        # grew by gigabytes a run, until a machine's disk filled.
        engine.docker("image", "prune", "--force", check=False)
        engine.docker("builder", "prune", "--force", "--keep-storage", "10GB", check=False)


@pytest.fixture(scope="module")
def running(stack: Stack) -> Stack:
    """`make docker-up`, then every service healthy (one-shot ones exited 0)."""
    started = time.monotonic()
    stack.make("docker-up", timeout=BUILD_TIMEOUT_S)
    log(f"make docker-up (builds included) returned in {time.monotonic() - started:.0f} s")
    wait_until_healthy(stack)
    log(f"stack healthy {time.monotonic() - started:.0f} s after make docker-up started")
    return stack


def wait_until_healthy(stack: Stack) -> list[dict[str, Any]]:
    expected = {
        name
        for name, service in compose_document(stack.project)["services"].items()
        if "jobs" not in service.get("profiles", []) and name != "grafana"
    }

    def settled() -> list[dict[str, Any]] | str:
        services = stack.services()
        states = {item["Service"]: item for item in services}
        pending = []
        for name in sorted(expected):
            item = states.get(name)
            if item is None:
                pending.append(f"{name}: not created")
            elif name in ONE_SHOT:
                if item["State"] != "exited":
                    pending.append(f"{name}: {item['State']}")
                elif item["ExitCode"] != 0:
                    pytest.fail(f"{name} exited with {item['ExitCode']}:\n{stack.logs(name)}")
            elif item["State"] != "running" or item.get("Health") not in ("healthy", ""):
                # A crash at start shows as restarting (restart: unless-stopped) or exited.
                if item["State"] in ("exited", "restarting"):
                    pytest.fail(f"{name} {item['State']} ({item['ExitCode']}):\n{stack.logs(name)}")
                pending.append(f"{name}: {item['State']} {item.get('Health')}")
        return services if not pending else "; ".join(pending)

    services: list[dict[str, Any]] = poll("every service healthy", HEALTHY_DEADLINE_S, settled)
    for item in services:
        restarts = stack.engine.docker("inspect", "--format", "{{.RestartCount}}", item["ID"])
        assert restarts.stdout.strip() == "0", (
            f"{item['Service']} restarted:\n{stack.logs(item['Service'])}"
        )
    return services


def running_tag(stack: Stack) -> str:
    """The IMAGE_TAG the Makefile gave the images (<version>-<commit>)."""
    api = next(item for item in stack.services() if item["Service"] == "api")
    image: str = api["Image"]
    return image.rpartition(":")[2]


def test_mlflow_asks_for_the_login_from_env(running: Stack) -> None:
    search = running.url("MLFLOW_PORT", "/api/2.0/mlflow/experiments/search?max_results=1")
    status, _ = http(search)
    assert status == 401
    login = basic_auth(
        running.dotenv("MLFLOW_TRACKING_USERNAME"), running.dotenv("MLFLOW_TRACKING_PASSWORD")
    )
    status, _ = http(search, headers=login)
    assert status == 200
    status, _ = http(running.url("MLFLOW_PORT", "/health"))
    assert status == 200


@pytest.fixture(scope="module")
def trained(running: Stack) -> Stack:
    status, answer = http(running.url("API_PORT", "/ready"))
    assert status == 503, f"the API is ready before any model was trained: {answer}"
    started = time.monotonic()
    result = running.make("docker-train", f"TRIALS={TRIALS}", timeout=BUILD_TIMEOUT_S)
    log(f"make docker-train in {time.monotonic() - started:.0f} s")
    assert "lake ready:" in result.stdout
    assert re.search(r"trained \S+ v1: production", result.stdout), result.stdout[-3000:]
    return running


def model_features(stack: Stack) -> list[str]:
    key = {"X-API-Key": stack.dotenv("API_COMPOSE_KEY_SECRET")}
    status, model = http(stack.url("API_PORT", "/model"), headers=key)
    assert status == 200, model
    return [feature["name"] for feature in model["inputs"]]


def wait_until_served(stack: Stack, version: str) -> None:
    """Every worker of the API has loaded `version` by itself (its reload loop)."""

    def loaded() -> bool | str:
        logs = stack.compose("logs", "--no-color", "api", quiet=True)
        workers = logs.count("Started server process")
        loads = len(re.findall(rf"serving models:/\S+ v{version}\b", logs))
        return (
            workers > 0 and loads >= workers
        ) or f"{loads} of {workers} workers loaded v{version}"

    poll(f"the API serving v{version}", READY_DEADLINE_S, loaded)
    status, answer = http(stack.url("API_PORT", "/ready"))
    assert status == 200 and answer["model_version"] == version, answer


def test_images_run_as_non_root_users(trained: Stack) -> None:
    # The training image is a job's (`--profile jobs`): make docker-train builds it.
    for service in ("api", "mlflow", "training"):
        image = compose_document(trained.project)["services"][service]["image"]
        image = image.replace("${IMAGE_TAG:-dev}", running_tag(trained))
        user = trained.engine.docker("image", "inspect", "--format", "{{.Config.User}}", image)
        assert user.stdout.strip() not in ("", "0", "root", "0:0"), f"{image} runs as root"
    uid = trained.compose("exec", "-T", "api", "id", "-u").strip()
    assert uid != "0"


def test_api_becomes_ready_by_itself_and_predicts_with_version_1(trained: Stack) -> None:
    wait_until_served(trained, "1")
    features = model_features(trained)
    body = {"features": dict.fromkeys(features, 1.0)}
    status, refused = http(trained.url("API_PORT", "/predict"), body)
    assert status == 401, f"the stack's API serves without its key: {refused}"
    key = {"X-API-Key": trained.dotenv("API_COMPOSE_KEY_SECRET")}
    status, prediction = http(trained.url("API_PORT", "/predict"), body, headers=key)
    assert status == 200, prediction
    assert prediction["model_version"] == "1"
    status, batch = http(
        trained.url("API_PORT", "/predict/batch"), {"instances": [body] * 3}, headers=key
    )
    assert status == 200, batch
    assert len(batch["predictions"]) == 3


def test_model_artifacts_live_in_the_bucket(trained: Stack) -> None:
    login = basic_auth(
        trained.dotenv("MLFLOW_TRACKING_USERNAME"), trained.dotenv("MLFLOW_TRACKING_PASSWORD")
    )
    name = compose_model_name(trained)
    status, answer = http(
        trained.url("MLFLOW_PORT", "/api/2.0/mlflow/model-versions/get?")
        + urllib.parse.urlencode({"name": name, "version": "1"}),
        headers=login,
    )
    assert status == 200, answer
    listing = trained.compose(
        "exec", "-T", "minio", "sh", "-c", "find /data -path '*mlflow-artifacts*' -name MLmodel"
    )
    assert "MLmodel" in listing, "the registered model's files are not in the bucket"


def compose_model_name(stack: Stack) -> str:
    answers = json.loads((stack.project / ".cookiecutter.json").read_text())
    return str(answers["model_name"])


@pytest.fixture(scope="module")
def scored(trained: Stack) -> Stack:
    """Batch inference and the drift check as one-off jobs of the jobs image."""
    batch = trained.make("docker-batch-inference")
    assert re.search(r"rows scored by v1", batch.stdout), batch.stdout[-3000:]
    drift = trained.run(["make", "--no-print-directory", "docker-drift-check"], check=False)
    # 0: nothing found, 2 (make's own code) wrapping 3: drift found; both are a finished check.
    assert "drift check of predictions" in drift.stdout, drift.stdout[-3000:] + drift.stderr[-3000:]
    return trained


def prometheus_query(stack: Stack, query: str) -> list[dict[str, Any]]:
    status, answer = http(
        stack.url("PROMETHEUS_PORT", "/api/v1/query?") + urllib.parse.urlencode({"query": query})
    )
    assert status == 200, answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_prometheus_scrapes_the_api_and_the_pushed_drift_metrics(scored: Stack) -> None:
    def targets_up() -> set[str] | str:
        up = {
            item["metric"]["job"]
            for item in prometheus_query(scored, "up == 1")
            if item["metric"].get("job") in ("api", "pushgateway")
        }
        return up if up == {"api", "pushgateway"} else f"up: {sorted(up)}"

    poll("Prometheus scraping the API and the Pushgateway", 120, targets_up)

    def series() -> bool | str:
        drift = prometheus_query(scored, "drift_check_last_run_timestamp_seconds")
        predictions = prometheus_query(scored, "model_predictions_total")
        return bool(drift and predictions) or f"drift {drift}, predictions {predictions}"

    poll("the drift job's and the API's series in Prometheus", 120, series)
    status, rules = http(scored.url("PROMETHEUS_PORT", "/api/v1/rules"))
    assert status == 200 and rules["data"]["groups"], rules
    status, managers = http(scored.url("PROMETHEUS_PORT", "/api/v1/alertmanagers"))
    assert status == 200 and managers["data"]["activeAlertmanagers"], managers
    status, _ = http(scored.url("ALERTMANAGER_PORT", "/-/ready"))
    assert status == 200


def airflow_token(stack: Stack, password: str) -> tuple[int, Any]:
    return http(
        stack.url("AIRFLOW_PORT", "/auth/token"),
        {"username": stack.dotenv("AIRFLOW_ADMIN_USER"), "password": password},
    )


def registry_versions(stack: Stack) -> set[str]:
    login = basic_auth(
        stack.dotenv("MLFLOW_TRACKING_USERNAME"), stack.dotenv("MLFLOW_TRACKING_PASSWORD")
    )
    status, answer = http(
        stack.url("MLFLOW_PORT", "/api/2.0/mlflow/model-versions/search?")
        + urllib.parse.urlencode({"filter": f"name='{compose_model_name(stack)}'"}),
        headers=login,
    )
    assert status == 200, answer
    return {version["version"] for version in answer.get("model_versions", [])}


def test_airflow_runs_the_training_pipeline_into_the_registry(trained: Stack) -> None:
    status, _ = airflow_token(trained, "not-the-password")
    assert status == 401
    status, answer = airflow_token(trained, trained.dotenv("AIRFLOW_ADMIN_PASSWORD"))
    assert status in (200, 201), answer
    login = {"Authorization": f"Bearer {answer['access_token']}"}
    dag = trained.url("AIRFLOW_PORT", "/api/v2/dags/ml_training_pipeline")

    def parsed() -> dict[str, Any] | str:
        status, answer = http(dag, headers=login)
        return answer if status == 200 else f"{status} {answer}"

    poll("the dag-processor parsing ml_training_pipeline", 300, parsed)
    before = registry_versions(trained)
    # The test's scheduler creates no scheduled runs (compose.test.yml): this is the only run.
    trigger = {"logical_date": None, "conf": {"trials": TRIALS}}
    status, run = http(f"{dag}/dagRuns", trigger, headers=login)
    assert status == 200, run
    status, answer = http(dag, {"is_paused": False}, headers=login, method="PATCH")
    assert status == 200, answer
    run_url = f"{dag}/dagRuns/{urllib.parse.quote(run['dag_run_id'])}"

    def finished() -> dict[str, Any] | str:
        status, answer = http(run_url, headers=login)
        if status == 200 and answer["state"] in ("success", "failed"):
            return answer
        # What holds the run back: its tasks (a retry waiting), the DAG's other runs.
        _, runs = http(f"{dag}/dagRuns", headers=login)
        others = [(r["dag_run_id"], r["state"]) for r in runs.get("dag_runs", [])]
        _, tasks = http(f"{run_url}/taskInstances", headers=login)
        found = tasks.get("task_instances", []) if isinstance(tasks, dict) else []
        states = [(t["task_id"], t["state"], t["try_number"]) for t in found]
        state = answer.get("state") if isinstance(answer, dict) else answer
        return f"{status} {state}; tasks (id, state, try): {states}; runs of the DAG: {others}"

    answer = poll("ml_training_pipeline finishing", 1200, finished)
    if answer["state"] != "success":
        status, instances = http(f"{run_url}/taskInstances", headers=login)
        pytest.fail(
            f"ml_training_pipeline failed: {instances}\n{trained.logs('airflow-scheduler')}"
        )
    assert registry_versions(trained) - before, "the DAG registered no new model version"


@pytest.fixture(scope="module")
def screenshots(stack: Stack) -> Path:
    """The page checks' screenshots: pages/ beside the rendered project."""
    folder = stack.project.parent / "pages"
    log(f"page screenshots in {folder}")
    return folder


def mlflow_login(stack: Stack) -> tuple[str, str]:
    return stack.dotenv("MLFLOW_TRACKING_USERNAME"), stack.dotenv("MLFLOW_TRACKING_PASSWORD")


def mlflow_api(stack: Stack, path: str, body: Any = None) -> Any:
    status, answer = http(
        stack.url("MLFLOW_PORT", f"/api/2.0/mlflow/{path}"),
        body,
        headers=basic_auth(*mlflow_login(stack)),
    )
    assert status == 200, answer
    return answer


def newest_training_run(stack: Stack) -> pages.MlflowRun:
    """The newest top-level run (trials are its children), its metrics and first plot."""
    experiments = mlflow_api(stack, "experiments/search", {"max_results": 100})["experiments"]
    search = {
        "experiment_ids": [experiment["experiment_id"] for experiment in experiments],
        "order_by": ["attributes.start_time DESC"],
        "max_results": 50,
    }
    found = mlflow_api(stack, "runs/search", search)["runs"]
    run = next(
        item
        for item in found
        if not any(tag["key"] == "mlflow.parentRunId" for tag in item["data"].get("tags", []))
    )
    run_id = run["info"]["run_id"]
    listed = mlflow_api(stack, f"artifacts/list?run_id={run_id}&path=plots")["files"]
    plots = sorted(item["path"] for item in listed if item["path"].endswith(".png"))
    assert plots, f"run {run_id} logged no plot under plots/"
    return pages.MlflowRun(
        run["info"]["experiment_id"],
        run_id,
        run["info"]["run_name"],
        [metric["key"] for metric in run["data"]["metrics"]],
        plots[0],
    )


# The page checks run after the Airflow test: its DAG run is the one the Airflow UI shows.
def test_api_docs_page_shows_predict_typed_by_the_contract(
    trained: Stack, chromium: Browser, screenshots: Path
) -> None:
    base = trained.url("API_PORT", "")
    pages.check_api_docs(chromium, base, trained.project, screenshots / "api-docs.png")


def test_mlflow_pages_show_the_run_its_plot_and_the_production_model(
    trained: Stack, chromium: Browser, screenshots: Path
) -> None:
    base, login = trained.url("MLFLOW_PORT", ""), mlflow_login(trained)
    run = newest_training_run(trained)
    pages.check_mlflow_run(chromium, base, login, run, screenshots / "mlflow-run.png")
    name = compose_model_name(trained)
    alias = mlflow_api(trained, f"registered-models/alias?name={name}&alias=production")
    version = alias["model_version"]["version"]
    shot = screenshots / "mlflow-model.png"
    pages.check_mlflow_model(chromium, base, login, name, version, shot)


def test_mlflow_page_check_fails_without_artifact_serving(
    trained: Stack, chromium: Browser, screenshots: Path
) -> None:
    """The run check against a second MLflow server on the same backend started with
    --no-serve-artifacts: the plot cannot be drawn and the check says so."""
    name = f"{compose_document(trained.project)['name']}-mlflow-no-artifacts"
    command = ["docker", "compose", "run", "--detach", "--rm", "--no-deps", "--name", name]
    command += ["--publish", f"127.0.0.1:{NO_ARTIFACTS_PORT}:5000", "mlflow"]
    command += ["--host", "0.0.0.0", "--port", "5000", "--workers", "1", "--app-name", "basic-auth"]
    # The images the Makefile built carry its IMAGE_TAG.
    trained.run(["env", f"IMAGE_TAG={running_tag(trained)}", *command, "--no-serve-artifacts"])
    try:
        base = f"http://127.0.0.1:{NO_ARTIFACTS_PORT}"
        poll("the second MLflow server", READY_DEADLINE_S, lambda: http(f"{base}/health")[0] == 200)
        run = newest_training_run(trained)
        shot = screenshots / "mlflow-run-no-artifacts.png"
        # This server answers the artifact listing with 500 at once: the plot step waits less
        # than the default, the steps before it (the same as on the good server) do not.
        login = mlflow_login(trained)
        with pytest.raises(AssertionError) as failure:
            pages.check_mlflow_run(chromium, base, login, run, shot, plot_patience_s=30)
        assert f"not seen: the artifact {run.plot} drawn as an image" in str(failure.value)
        assert shot.is_file()
    finally:
        trained.engine.docker("rm", "--force", name, check=False)


def test_airflow_page_lists_the_dags_and_the_successful_training_run(
    trained: Stack, chromium: Browser, screenshots: Path
) -> None:
    login = trained.dotenv("AIRFLOW_ADMIN_USER"), trained.dotenv("AIRFLOW_ADMIN_PASSWORD")
    base, shot = trained.url("AIRFLOW_PORT", ""), screenshots / "airflow.png"
    pages.check_airflow(chromium, base, login, trained.project, shot)


def test_prometheus_targets_page_shows_the_api_up(
    scored: Stack, chromium: Browser, screenshots: Path
) -> None:
    base = scored.url("PROMETHEUS_PORT", "")
    _, build = http(f"{base}/api/v1/status/buildinfo")
    debian = "+ds" in build["data"]["version"]  # Debian's build, the stand-in's
    pages.check_prometheus_targets(chromium, base, debian, screenshots / "prometheus.png")


def test_drift_report_renders_offline(scored: Stack, chromium: Browser, screenshots: Path) -> None:
    reports = sorted((scored.project / "reports").glob("drift_*.html"))
    assert reports, "the drift check wrote no HTML report"
    shot = screenshots / "drift-report.png"
    pages.check_drift_report(chromium, reports[-1], scored.project, shot)


def test_project_containers_stop_on_sigterm_and_the_data_survives_a_restart(
    scored: Stack,
) -> None:
    status, served = http(scored.url("API_PORT", "/ready"))
    assert status == 200, served
    before = scored.services()
    project_services = [
        item
        for item in before
        if item["Image"].startswith(compose_document(scored.project)["name"] + "/")
    ]
    assert project_services, before
    # Each service gets the grace period docker-compose.yml gives it (Docker's 10 s if none).
    services = compose_document(scored.project)["services"]
    scored.compose(*profiles(scored.project), "stop", timeout=300)
    for item in project_services:
        state = json.loads(
            scored.engine.docker("inspect", "--format", "{{json .State}}", item["ID"]).stdout
        )
        grace = services[item["Service"]].get("stop_grace_period", DOCKER_STOP_GRACE)
        assert state["ExitCode"] != SIGKILL_EXIT_CODE, (
            f"{item['Service']} needed SIGKILL: it did not stop within {grace} of SIGTERM"
        )
    scored.make("docker-down")
    volumes = scored.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert any(name.endswith("postgres-data") for name in volumes)
    scored.make("docker-up", timeout=BUILD_TIMEOUT_S)
    wait_until_healthy(scored)

    # The registry survived when the restarted API serves the version it served before
    # (a worker's first load at start-up is not logged as a reload, so /ready is asked).
    def ready() -> dict[str, Any] | str:
        status, answer = http(scored.url("API_PORT", "/ready"))
        return answer if status == 200 else f"{status} {answer}"

    answer = poll("the API serving the registry's model after a restart", READY_DEADLINE_S, ready)
    # At least the version served before: the Airflow run may have promoted a newer one that
    # a worker had not reloaded yet when /ready was asked; a lost registry serves nothing.
    assert int(answer["model_version"]) >= int(served["model_version"]), (answer, served)
    # The lake and the predictions logged before the restart: the drift check reads them.
    # The drift check reads one model version's window: it checks the predictions logged
    # before the restart, or, when Airflow promoted a newer version meanwhile, names the
    # version whose predictions the table still holds. Either answer needs them kept.
    drift = scored.run(["make", "--no-print-directory", "docker-drift-check"], check=False)
    output = drift.stdout + drift.stderr
    kept = "drift check of predictions" in output or re.search(r"it has \S+ v\d+", output)
    assert kept, output[-6000:]
