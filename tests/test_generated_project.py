"""The generated project as its users run it: setup, its own checks and suite, and the loop.

These run the rendered project's real Makefile targets on the embedded defaults (no AWS
account, no Docker): the slowest tests of the template, marked `slow`.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_suite_passed, last_line, render, run, run_ok, served

pytestmark = pytest.mark.slow

DRIFT_EXIT_CODE = 3
ALTERNATIVE = {
    "problem_type": "regression",
    "include_airflow": "no",
    "include_monitoring_stack": "no",
    "ci_provider": "none",
    "license": "Apache-2.0",
    "project_name": "Patient Progression",
}


@pytest.fixture(scope="module")
def alternative_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = render(tmp_path_factory.mktemp("alternative"), **ALTERNATIVE)
    run_ok(["make", "setup"], project)
    return project


# What make echoes when setup runs one of its own steps (the rest is DVC's: stages).
SETUP_STEP_COMMANDS = {
    "dvc-remote": "python -m src data-remote",
    "raw-data": "dvc add --quiet data/raw",
    "sample-data": "python -m src sample-data",
    "mlflow": "python -m src init-mlflow",
    "hooks": "pre-commit install",
}


def setup_steps_run(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {step for step, command in SETUP_STEP_COMMANDS.items() if command in result.stdout}


def stages_run(result: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"^Running stage '([\w-]+)'", result.stdout, flags=re.MULTILINE))


def test_setup_is_idempotent(default_project: Path) -> None:
    result = run_ok(["make", "setup"], default_project)
    assert setup_steps_run(result) == set(), "a rerun starts none of setup's own steps"
    assert stages_run(result) == set(), result.stdout
    assert "Data and pipelines are up to date." in result.stdout
    assert (default_project / "uv.lock").is_file(), "setup pins the dependencies in uv.lock"
    assert (default_project / ".git" / "hooks" / "pre-commit").is_file()


def test_setup_reruns_the_steps_whose_input_changed_and_no_other(default_project: Path) -> None:
    remote_config = default_project / ".dvc" / "config.local"
    remote_config.unlink()
    result = run_ok(["make", "setup"], default_project)
    assert (setup_steps_run(result), stages_run(result)) == ({"dvc-remote"}, set())
    assert remote_config.is_file()
    # A comment changes the file DVC hashes, not the rules: silver runs again, writes the
    # same rows, and gold stays.
    quality = default_project / "config" / "quality.yaml"
    quality.write_text(quality.read_text() + "# reviewed\n")
    result = run_ok(["make", "setup"], default_project)
    assert (setup_steps_run(result), stages_run(result)) == (set(), {"silver"})
    assert "Stage 'gold' didn't change, skipping" in result.stdout
    # A changed raw file: DVC versions data/raw again and reruns the chain from ingest;
    # the sample data is not written again, since data/raw holds files.
    raw_file = sorted((default_project / "data" / "raw").rglob("*.csv"))[0]
    raw_file.write_bytes(raw_file.read_bytes() + b"\n")
    versioned = (default_project / "data" / "raw.dvc").read_text()
    result = run_ok(["make", "setup"], default_project)
    assert setup_steps_run(result) == set()
    assert {"ingest", "bronze"} <= stages_run(result)
    assert "ingest: 1 files copied, 9 already in place" in result.stdout
    assert (default_project / "data" / "raw.dvc").read_text() != versioned
    again = run_ok(["make", "setup"], default_project)
    assert (setup_steps_run(again), stages_run(again)) == (set(), set())


# The default render's checks and suite run in its CI workflow (tests/test_ci_workflow.py);
# the regression render runs the branches only it has.
@pytest.mark.parametrize("target", ["lint", "typecheck", "security"])
def test_alternative_project_is_clean(alternative_project: Path, target: str) -> None:
    run_ok(["make", target], alternative_project)


def test_alternative_suite_passes(alternative_project: Path) -> None:
    assert_suite_passed(run(["make", "test"], alternative_project, timeout=1800))


@pytest.fixture(scope="module")
def trained_project(default_project: Path) -> Path:
    result = run_ok(["make", "train-local"], default_project)
    assert "v1: production" in last_line(result)
    return default_project


@pytest.fixture
def served_api(trained_project: Path) -> Iterator[str]:
    with served(trained_project) as url:
        yield url


def sample_features(project: Path) -> dict[str, float]:
    script = (
        "import json; from src.context import build_context; c = build_context(); "
        "row = c.lake.read(c.view.table).to_pandas().iloc[0]; "
        "print(json.dumps({n: float(row[n]) for n in c.view.feature_names}))"
    )
    result = run_ok(["uv", "run", "python", "-c", script], project)
    features: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return features


def test_serve_predicts_with_version_1(served_api: str, trained_project: Path) -> None:
    body = json.dumps({"features": sample_features(trained_project)}).encode()
    request = urllib.request.Request(
        f"{served_api}/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["model_version"] == "1"
    assert answer["prediction"] in (0, 1)
    assert 0.5 <= answer["probability"] <= 1.0
    bad = urllib.request.Request(
        f"{served_api}/predict",
        data=b'{"features": {"feature1": 1.0}}',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(bad, timeout=30)
    assert error.value.code == 422
    assert "feature1" in error.value.read().decode()


def test_batch_inference_and_drift_check(trained_project: Path) -> None:
    batch = run_ok(["make", "batch-inference"], trained_project)
    assert "rows scored by v1" in last_line(batch)
    drift = run(["make", "drift-check"], trained_project)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert last_line(drift).startswith("drift check of predictions")
    reports = sorted((trained_project / "reports").glob("drift_*"))
    assert {path.suffix for path in reports} >= {".html", ".json"}


def test_drift_check_reports_drift_with_its_exit_code(
    trained_project: Path, tmp_path: Path
) -> None:
    script = (
        "from src.context import build_context; c = build_context(); "
        "frame = c.lake.read(c.view.table).to_pandas()[c.view.feature_names]; "
        f"(frame * 3 + 10).to_csv('{tmp_path / 'shifted.csv'}', index=False)"
    )
    run_ok(["uv", "run", "python", "-c", script], trained_project)
    result = run(
        [
            "uv",
            "run",
            "python",
            "-m",
            "src",
            "drift-check",
            "--current",
            str(tmp_path / "shifted.csv"),
        ],
        trained_project,
    )
    assert result.returncode == DRIFT_EXIT_CODE, result.stdout + result.stderr
    assert "DRIFT" in last_line(result)
