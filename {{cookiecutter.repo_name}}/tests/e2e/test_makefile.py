"""The Makefile targets end to end, as a user runs them, on isolated state.

Every subprocess gets DATA_DIR, REPORTS_DIR and MLFLOW_* pointing at a temporary folder,
so running the suite never touches the project's own lake or MLflow store.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import (
    MAKE_FAILED,
    PROJECT_ROOT,
    HttpReceiver,
    free_port,
    isolated_env,
    make,
    served_by_make,
)

pytestmark = pytest.mark.e2e

DRIFT_EXIT_CODE = 3


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("e2e")
    env = isolated_env(root)
    for command in (["setup-lake"], ["init-mlflow"]):
        subprocess.run(
            ["uv", "run", "python", "-m", "src", *command],
            cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    env["E2E_ROOT"] = str(root)
    return env


@pytest.fixture(scope="module")
def trained(state: dict[str, str]) -> dict[str, str]:
    result = make("train-local", state)
    assert result.returncode == 0, result.stderr
    assert "v1: production" in last_line(result)
    return state


def test_rollback_asks_for_the_model_version_not_the_project_version() -> None:
    result = make("rollback", isolated_env(Path("/nonexistent")))
    assert result.returncode == MAKE_FAILED
    assert "MODEL_VERSION=N is required" in result.stderr


def test_help_lists_every_target() -> None:
    result = make("help", isolated_env(Path("/nonexistent")))
    assert result.returncode == 0
    targets = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {
        "setup",
        "train-local",
        "serve",
        "serve-prod",
        "batch-inference",
        "drift-check",
    } <= targets


def test_batch_inference_then_drift_check(trained: dict[str, str]) -> None:
    batch = make("batch-inference", trained)
    assert batch.returncode == 0, batch.stderr
    assert "rows scored by v1" in last_line(batch)
    drift = make("drift-check", trained)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert last_line(drift).startswith("drift check of predictions")
    reports = sorted((Path(trained["E2E_ROOT"]) / "reports").glob("drift_*.html"))
    assert reports


def test_drift_check_exits_with_the_drift_code_on_shifted_data(
    trained: dict[str, str], tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    from src.context import ProjectContext
    from tests.conftest import isolated_settings

    context = ProjectContext(isolated_settings(Path(trained["E2E_ROOT"])))
    current = context.lake.read(context.view.table).to_pandas()[context.view.feature_names]
    shifted = current * 3 + 10
    path = tmp_path / "shifted.csv"
    shifted.to_csv(path, index=False)
    # The same local server stands in for the Pushgateway and the Slack webhook: with a
    # Pushgateway the check only pushes (Prometheus' rules alert), without one it posts.
    env = {**trained, "PUSHGATEWAY_URL": http_receiver.url, "ALERT_WEBHOOK_URL": http_receiver.url}
    result = make("drift-check", env, f"CURRENT={path}")
    # make reports the command's own exit code as "Error 3" and exits 2 itself.
    assert result.returncode == MAKE_FAILED, result.stdout + result.stderr
    assert f"Error {DRIFT_EXIT_CODE}" in result.stderr
    assert "DRIFT" in last_line(result)
    assert f"metrics pushed to {http_receiver.url}" in result.stdout
    [push] = http_receiver.requests
    assert push.method == "PUT"
    assert push.path.startswith("/metrics/job/drift_check/model_name/")
    assert "drift_check_dataset_drift 1.0" in push.body.decode()
    direct = subprocess.run(
        ["uv", "run", "python", "-m", "src", "drift-check", "--current", str(path)],
        cwd=PROJECT_ROOT, env={**trained, "ALERT_WEBHOOK_URL": http_receiver.url},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert direct.returncode == DRIFT_EXIT_CODE
    assert "alert posted to the webhook" in direct.stdout
    [_, post] = http_receiver.requests
    message = json.loads(post.body)
    assert message["text"].startswith(f"*Model {context.settings.model_name} v1: data drift")
    assert "docs/runbooks/data-drift.md" in message["text"]
    report = json.loads(
        sorted((Path(trained["E2E_ROOT"]) / "reports").glob("drift_*.json"))[-1].read_text()
    )
    assert report["dataset_drift"] is True


def test_drift_check_on_a_missing_file_fails_clearly(trained: dict[str, str]) -> None:
    result = make("drift-check", trained, "CURRENT=/nonexistent.csv")
    assert result.returncode == MAKE_FAILED
    assert "Error 1" in result.stderr
    assert "error: input file /nonexistent.csv does not exist" in result.stderr


@pytest.fixture
def served(trained: dict[str, str]) -> Iterator[str]:
    with served_by_make(PROJECT_ROOT, trained, free_port(), ready_within=120) as url:
        yield url


def test_serve_answers_a_real_http_request(served: str, trained: dict[str, str]) -> None:
    from src.context import ProjectContext
    from tests.conftest import isolated_settings

    context = ProjectContext(isolated_settings(Path(trained["E2E_ROOT"])))
    row: pd.Series = context.lake.read(context.view.table).to_pandas().iloc[0]
    body = json.dumps({"features": {n: float(row[n]) for n in context.view.feature_names}})
    request = urllib.request.Request(  # noqa: S310
        f"{served}/predict", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer = json.loads(response.read())
    assert answer["model_version"] == "1"


@pytest.mark.parametrize("raw_file", [None, "d/x.csv", "d/x.parquet", "d/x.jsonl", "d/x.ndjson.gz"])
def test_setup_writes_sample_data_only_into_an_empty_data_raw(
    tmp_path: Path, raw_file: str | None
) -> None:
    if raw_file:  # the team's own data, in any format the guide lists
        (tmp_path / raw_file).parent.mkdir()
        (tmp_path / raw_file).touch()
    result = make("setup", isolated_env(tmp_path), "--dry-run", f"RAW_DIR={tmp_path}")
    assert f"dvc add --quiet {tmp_path}\n" in result.stdout, result.stderr
    assert ("sample-data" in result.stdout) == (raw_file is None)
