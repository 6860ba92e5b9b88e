"""The loop's Makefile targets end to end, as a user runs them, on isolated state: DATA_DIR,
REPORTS_DIR and MLFLOW_* point every subprocess at a temporary lake of contract data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from src.context import ProjectContext
from tests.conftest import (
    MAKE_FAILED,
    PROJECT_ROOT,
    HttpReceiver,
    answers,
    build_sample_lake,
    free_port,
    isolated_env,
    isolated_settings,
    make,
)

pytestmark = pytest.mark.e2e

DRIFT_EXIT_CODE = 3


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], ProjectContext]:
    root = tmp_path_factory.mktemp("e2e")
    context = ProjectContext(isolated_settings(root))
    build_sample_lake(context, end=datetime.now(UTC).date())  # drift-check reads the last days
    env = isolated_env(root)
    result = make("train-local", env)
    assert "v1: production" in last_line(result), result.stdout + result.stderr
    return env, context


def gold_features(context: ProjectContext) -> pd.DataFrame:
    gold: pd.DataFrame = context.lake.read(context.view.table).to_pandas()
    return gold[context.view.feature_names]


def test_batch_inference_then_drift_check(trained: tuple[dict[str, str], ProjectContext]) -> None:
    env, context = trained
    batch = make("batch-inference", env)
    assert "rows scored by v1" in last_line(batch), batch.stdout + batch.stderr
    drift = make("drift-check", env)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert last_line(drift).startswith("drift check of predictions")
    assert list(context.settings.reports_dir.glob("drift_*.html"))


def test_drift_check_exits_with_the_drift_code_on_shifted_data(
    trained: tuple[dict[str, str], ProjectContext], tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    env, context = trained
    # Every feature moved: numbers scaled and offset, categories all one value.
    shifted = gold_features(context)
    for column in context.view.features:
        values = shifted[column.name]
        shifted[column.name] = values * 3 + 10 if column.is_numeric else values.mode()[0]
    path = tmp_path / "shifted.csv"
    shifted.to_csv(path, index=False)
    # The same local server stands in for the Pushgateway and the Slack webhook: with a
    # Pushgateway the check only pushes (Prometheus' rules alert), without one it posts.
    pushed = {**env, "PUSHGATEWAY_URL": http_receiver.url, "ALERT_WEBHOOK_URL": http_receiver.url}
    result = make("drift-check", pushed, f"CURRENT={path}")
    # make reports the command's own exit code as "Error 3" and exits 2 itself.
    assert result.returncode == MAKE_FAILED, result.stdout + result.stderr
    assert f"Error {DRIFT_EXIT_CODE}" in result.stderr and "DRIFT" in last_line(result)
    assert f"metrics pushed to {http_receiver.url}" in result.stdout
    [push] = http_receiver.requests
    assert push.method == "PUT" and push.path.startswith("/metrics/job/drift_check/model_name/")
    assert "drift_check_dataset_drift 1.0" in push.body.decode()
    posted = make("drift-check", {**env, "ALERT_WEBHOOK_URL": http_receiver.url}, f"CURRENT={path}")
    assert "alert posted to the webhook" in posted.stdout
    [_, post] = http_receiver.requests
    message = json.loads(post.body)
    assert message["text"].startswith(f"*Model {context.settings.model_name} v1: data drift")
    assert "docs/runbooks/data-drift.md" in message["text"]
    report = sorted(context.settings.reports_dir.glob("drift_*.json"))[-1]
    assert json.loads(report.read_text())["drift"]["dataset_drift"] is True


def test_an_error_is_one_line_of_plain_text(trained: tuple[dict[str, str], ProjectContext]) -> None:
    # Brackets are text, not markup: a pattern such as [a-z] is printed as it is.
    result = make("drift-check", trained[0], "CURRENT=/nonexistent/[a-z].csv")
    assert result.returncode == MAKE_FAILED and "Error 1" in result.stderr
    assert result.stderr.startswith("error: input file /nonexistent/[a-z].csv is not readable")


def test_a_raw_file_without_the_contract_columns_is_named(tmp_path: Path) -> None:
    dataset = ProjectContext(isolated_settings(tmp_path)).view.dataset
    bad = tmp_path / "data" / "lake" / "raw" / dataset / "ingest_date=2025-01-05" / "broken.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("only,two\n1,2\n")
    result = make("data-pipeline", isolated_env(tmp_path), "START=2025-01-05")
    # The shipped schema rule quarantines a refused file whole; the day goes on.
    assert result.returncode == 0, result.stdout + result.stderr
    named = bad.relative_to(tmp_path / "data" / "lake")
    assert f"warning: raw file {named} misses columns: " in result.stderr
    assert ", 1 refused;" in result.stdout


@pytest.fixture
def served(trained: tuple[dict[str, str], ProjectContext]) -> Iterator[str]:
    """`make serve` as a user starts it, in a process group of its own; its URL once ready."""
    port = free_port()
    command = ["make", "--no-print-directory", "serve", f"API_PORT={port}"]
    server = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=trained[0], stdout=subprocess.DEVNULL, start_new_session=True
    )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    try:
        while not answers(f"{url}/ready"):
            assert server.poll() is None and time.monotonic() < deadline, "make serve: not ready"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:  # name what still runs, then leave nothing behind
            ps = ["ps", "-o", "pid,stat,etime,args", "--sid", str(server.pid)]
            still = subprocess.run(ps, capture_output=True, text=True, check=False).stdout
            os.killpg(server.pid, signal.SIGKILL)
            pytest.fail(f"make serve still runs 60 s after SIGTERM:\n{still}")


def test_serve_answers_a_real_http_request(
    served: str, trained: tuple[dict[str, str], ProjectContext]
) -> None:
    row = json.loads(gold_features(trained[1]).head(1).to_json(orient="records"))[0]
    data, headers = json.dumps({"features": row}).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{served}/predict", data, headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert json.loads(response.read())["model_version"] == "1"


@pytest.mark.parametrize("raw_file", [None, "d/x.csv", "d/x.parquet", "d/x.jsonl"])
def test_setup_writes_sample_data_only_into_an_empty_data_raw(
    tmp_path: Path, raw_file: str | None
) -> None:
    if raw_file:  # the team's own data, in any format the guide lists
        (tmp_path / raw_file).parent.mkdir()
        (tmp_path / raw_file).touch()
    result = make("setup", isolated_env(tmp_path), "--dry-run", f"RAW_DIR={tmp_path}")
    assert f"dvc add --quiet {tmp_path}\n" in result.stdout, result.stderr
    assert ("sample-data" in result.stdout) == (raw_file is None)
