"""docs/own-data.md followed step by step, on a copy of the project and a dataset made here.

The dataset is none the template ships: numbers (one of them an integer), categories
(strings, one nullable), a boolean, missing values, a source column and two derived
features, three classes, raw files as CSV, Parquet and JSON Lines. The estimator is
LightGBM. The copy runs setup -> train-local -> serve + predict -> batch-inference ->
drift-check as a user does, and afterwards `git status --short src/` in it is empty: the
guide is configuration only. The API, batch inference and the MLflow pyfunc of the
production version must give the same predictions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT_ROOT, free_port, served_by_make

pytestmark = pytest.mark.e2e

DATASET = "customers"
CLASSES = ["churn", "stay", "upgrade"]
PLANS = ["basic", "plus", "pro"]
REGIONS = ["north", "south", "east", "west"]
ROWS_PER_DAY = 240
# State of the original project that is not part of a fresh checkout: at its top level,
# in DVC's folder, and caches anywhere.
NOT_COPIED = {
    PROJECT_ROOT: {".venv", ".tools", "data", "reports", "mlflow.db", "mlartifacts", "mlruns",
                   ".git", ".env", "node_modules", ".setup"},
    PROJECT_ROOT / ".dvc": {"cache", "tmp"},
}  # fmt: skip
CACHES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
TIMEOUT = 900

FEATURES = {
    "name": "customer_features",
    "dataset": DATASET,
    "description": "Customers of a subscription service (made up by the e2e test).",
    "entity": {"name": "customer_id", "dtype": "string"},
    "event_timestamp": "event_time",
    "label": {"name": "segment", "dtype": "string", "values": CLASSES},
    "source_columns": [{"name": "support_calls", "dtype": "int64", "min": 0}],
    "features": [
        {"name": "tenure_months", "dtype": "int64", "min": 0},
        {"name": "monthly_spend", "dtype": "float64", "min": 0, "nullable": True},
        {"name": "plan", "dtype": "string"},
        {"name": "region", "dtype": "string", "nullable": True},
        {"name": "is_business", "dtype": "bool"},
        {
            "name": "calls_per_month",
            "dtype": "float64",
            "expression": "support_calls / (tenure_months + 1.0)",
        },
        {
            "name": "spend_per_tenure",
            "dtype": "float64",
            "nullable": True,
            "expression": "monthly_spend / (tenure_months + 1.0)",
        },
    ],
}
TRAINING_CHANGES = {
    "task": "classification",
    "model": {
        "estimator": "lightgbm.LGBMClassifier",
        "params": {"n_estimators": 40, "min_child_samples": 5, "n_jobs": 1, "verbosity": -1},
    },
    "search": {
        "n_trials": 3,
        "cv_folds": 3,
        "space": {
            "num_leaves": {"type": "int", "low": 4, "high": 16, "log": True},
            "learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
        },
    },
    "promotion": {
        "gate_metric": "roc_auc",
        "min_improvement_over_baseline": 0.05,
        "min_improvement_over_production": 0.0,
    },
    "evaluation": {"segment_feature": "plan", "segments": 3},
}


def make_rows(day: date, seed: int) -> pd.DataFrame:
    """One day of raw rows; the class follows plan, tenure, spend and calls, with noise."""
    rng = np.random.default_rng(seed)
    rows = ROWS_PER_DAY
    plan = rng.choice(PLANS, rows)
    tenure = rng.integers(0, 60, rows)
    spend = np.round(rng.gamma(2.0, 20.0, rows) + (plan == "pro") * 40, 2)
    calls = rng.poisson(2, rows)
    score = tenure / 20 - calls / 2 + (plan == "pro") * 1.5 + rng.normal(0, 0.4, rows)
    segment = np.where(score < 0, "churn", np.where(spend > 70, "upgrade", "stay"))
    region = rng.choice(REGIONS, rows).astype(object)
    region[rng.random(rows) < 0.05] = None
    spend_with_gaps = spend.astype(object)
    spend_with_gaps[rng.random(rows) < 0.1] = None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pd.DataFrame(
        {
            "customer_id": [f"C{seed}-{n:04d}" for n in range(rows)],
            "event_time": [start + timedelta(minutes=5 * n) for n in range(rows)],
            "tenure_months": tenure,
            "monthly_spend": spend_with_gaps,
            "plan": plan,
            "region": region,
            "is_business": rng.random(rows) < 0.3,
            "support_calls": calls,
            "segment": segment,
        }
    )


def write_raw_files(project: Path, days: list[date]) -> None:
    """Step 3: one CSV, one Parquet and one JSON Lines file, a day each."""
    for number, day in enumerate(days):
        folder = project / "data" / "raw" / DATASET / f"ingest_date={day.isoformat()}"
        folder.mkdir(parents=True)
        rows = make_rows(day, number)
        if number % 3 == 0:
            text = rows.assign(
                event_time=rows["event_time"].map(lambda t: t.isoformat()),
                is_business=rows["is_business"].map(lambda b: "true" if b else "false"),
            )
            text.to_csv(folder / "customers.csv", index=False)
        elif number % 3 == 1:
            rows.astype({"monthly_spend": "float64"}).to_parquet(
                folder / "customers.parquet", index=False
            )
        else:
            lines = rows.assign(event_time=rows["event_time"].map(lambda t: t.isoformat()))
            lines.to_json(folder / "customers.jsonl", orient="records", lines=True)


def project_env() -> dict[str, str]:
    """The user's shell: no variables pointing at the original project's state."""
    dropped = ("DATA_DIR", "REPORTS_DIR", "MLFLOW_", "VIRTUAL_ENV", "MAKE", "MFLAGS", "API__")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    return {**env, "APP_ENV": "local", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def run(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=project, env=project_env(), capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip


def make(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    result = run(project, "make", "--no-print-directory", *arguments)
    assert result.returncode == 0, f"make {' '.join(arguments)}:\n{result.stdout}\n{result.stderr}"
    return result


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


def skip_state(folder: str, names: list[str]) -> set[str]:
    return (NOT_COPIED.get(Path(folder), set()) | CACHES) & set(names)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh checkout of the project, the guide's configuration steps done, set up."""
    root = tmp_path_factory.mktemp("own_data") / "project"
    shutil.copytree(PROJECT_ROOT, root, ignore=skip_state)
    identity = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"]
    for command in (
        ["git", "init", "--quiet"],
        ["git", "add", "--all"],
        ["git", *identity, "commit", "--quiet", "--no-verify", "-m", "checkout"],
    ):
        subprocess.run(command, cwd=root, check=True, capture_output=True, timeout=120)
    # Steps 1 and 2: the raw schema and the derived features.
    (root / "config" / "features.yaml").write_text(yaml.safe_dump(FEATURES, sort_keys=False))
    # Step 3: the raw files, three days ending yesterday (the drift window ends today).
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=offset) for offset in (3, 2, 1)]
    write_raw_files(root, days)
    # Step 4: config/quality.yaml stays as shipped. Step 5: task, estimator, space, gates.
    training_file = root / "config" / "training.yaml"
    training = yaml.safe_load(training_file.read_text())
    training.update(TRAINING_CHANGES)
    training["integration"] = {"sample_rows": 20}
    training_file.write_text(yaml.safe_dump(training, sort_keys=False))
    # Step 6.
    setup = make(root, "setup")
    assert "3 files ingested" in setup.stdout, setup.stdout
    return {"root": root, "days": days}


@pytest.fixture(scope="module")
def trained(project: dict[str, Any]) -> dict[str, Any]:
    result = make(project["root"], "train-local")
    assert "v1: production" in last_line(result), result.stdout
    return project


@pytest.fixture(scope="module")
def served(trained: dict[str, Any]) -> Iterator[str]:
    # E2E_API_PORT pins the port where the machine reserves a range for the tests.
    port = int(os.environ.get("E2E_API_PORT") or free_port())
    with served_by_make(trained["root"], project_env(), port) as url:
        yield url


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


FEATURE_ROW = {
    "tenure_months": 30,
    "monthly_spend": 55.5,
    "plan": "plus",
    "region": "north",
    "is_business": True,
    "calls_per_month": 0.1,
    "spend_per_tenure": 1.8,
}

# Run in the copy with its own environment: the copy's configuration, lake and registry.
COMPARISON_SCRIPT = """
import json, sys
import mlflow
from src.context import ProjectContext
from src.names import PREDICTIONS_TABLE
from src.settings import get_settings

context = ProjectContext(get_settings())
view = context.view
day = sys.argv[1]
gold = context.lake.read(view.table, where=f"ingest_date = '{day}'").to_pandas()
gold = gold.sort_values(view.entity.name).head(60)
features = gold[view.feature_names]
model = mlflow.pyfunc.load_model(f"models:/{context.settings.model_name}@production")
logged = context.lake.read(PREDICTIONS_TABLE, where="source = 'batch'").to_pandas()
logged = logged[logged["prediction_date"].astype(str) == day].set_index(view.entity.name)
rows = json.loads(features.to_json(orient="records"))
print(json.dumps({
    "rows": rows,
    "pyfunc": [str(value) for value in model.predict(features)],
    "batch": [str(logged.loc[entity, "prediction"]) for entity in gold[view.entity.name]],
    "batch_probability": [float(logged.loc[e, "probability"]) for e in gold[view.entity.name]],
}))
"""


def test_own_data_end_to_end_by_configuration_only(trained: dict[str, Any], served: str) -> None:
    root: Path = trained["root"]
    model = json.loads(urllib.request.urlopen(f"{served}/model", timeout=10).read())  # noqa: S310
    kinds = {spec["name"]: (spec["dtype"], spec["nullable"]) for spec in model["inputs"]}
    assert kinds["plan"] == ("string", False)
    assert kinds["region"] == ("string", True)
    assert kinds["is_business"] == ("bool", False)
    assert sorted(model["classes"]) == CLASSES

    # A string feature, and per-class probabilities of three classes.
    status, answer = post(f"{served}/predict", {"features": FEATURE_ROW})
    assert status == 200, answer
    assert answer["prediction"] in CLASSES
    assert sorted(answer["probabilities"]) == CLASSES
    assert answer["probability"] == pytest.approx(answer["probabilities"][answer["prediction"]])
    # An unknown category and a missing nullable value are answered (docs/own-data.md).
    unknown = {**FEATURE_ROW, "plan": "enterprise", "region": None, "monthly_spend": None}
    status, answer = post(f"{served}/predict", {"features": unknown})
    assert status == 200, answer
    assert answer["prediction"] in CLASSES
    # A number for a categorical feature, or null where it is not allowed, is named.
    status, answer = post(f"{served}/predict", {"features": {**FEATURE_ROW, "plan": 3}})
    assert status == 422
    assert answer["detail"][0]["loc"][-1] == "plan"
    status, answer = post(f"{served}/predict", {"features": {**FEATURE_ROW, "plan": None}})
    assert status == 422

    last_day = trained["days"][-1].isoformat()
    batch = make(root, "batch-inference", f"DATE={last_day}")
    assert "rows scored by v1" in last_line(batch), batch.stdout
    # Categorical features are checked for drift in batch too, never skipped (issue 23).
    assert "drift: skipped" not in last_line(batch), batch.stdout

    # API, batch inference and the MLflow pyfunc of the same version answer the same.
    compared = run(root, "uv", "run", "--no-sync", "python", "-c", COMPARISON_SCRIPT, last_day)
    assert compared.returncode == 0, compared.stderr
    expected = json.loads(compared.stdout.strip().splitlines()[-1])
    status, answer = post(
        f"{served}/predict/batch", {"instances": [{"features": row} for row in expected["rows"]]}
    )
    assert status == 200, answer
    online = [str(row["prediction"]) for row in answer["predictions"]]
    assert online == expected["pyfunc"] == expected["batch"]
    np.testing.assert_allclose(
        [row["probability"] for row in answer["predictions"]],
        expected["batch_probability"],
        rtol=1e-9,
    )

    drift = run(root, "make", "--no-print-directory", "drift-check")
    assert drift.returncode in (0, 2), drift.stdout + drift.stderr  # 2: make's "Error 3"
    assert last_line(drift).startswith("drift check of predictions"), drift.stdout
    report = json.loads(sorted((root / "reports").glob("drift_*.json"))[-1].read_text())
    tested = {column["column"]: column["method"] for column in report["columns"]}
    # Categorical features get Evidently's categorical tests, numbers the numerical ones.
    assert tested["plan"].startswith(("chi-square", "Z-test", "Jensen-Shannon"))
    assert tested["tenure_months"].startswith(("K-S", "Wasserstein"))

    status_of_src = run(root, "git", "status", "--short", "src/")
    assert status_of_src.stdout == "", status_of_src.stdout
