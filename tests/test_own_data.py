"""docs/own-data.md followed step by step on a fresh render, with a dataset made up here.

The dataset differs from the sample in every way the contract allows: a string entity,
categorical (string) and boolean features with missing values, a number with missing
values, allowed `values`, a source column and derived features, three string classes,
Parquet raw files and one JSON Lines file; the estimator is LightGBM. The project then
runs its loop and its own `make test`, and nothing under src/ has been edited.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import assert_suite_passed, last_line, render, run, run_ok, served

pytestmark = pytest.mark.slow

DATASET = "shipments"
CLASSES = ["late", "lost", "on_time"]
CARRIERS = ["acme", "globex", "initech"]
# Steps 1 and 2 of the guide: the raw schema and the derived features.
FEATURES = {
    "name": "shipment_features",
    "dataset": DATASET,
    "entity": {"name": "shipment_id", "dtype": "string"},
    "event_timestamp": "shipped_at",
    "label": {"name": "delay_class", "dtype": "string", "values": CLASSES},
    "source_columns": [{"name": "weight_g", "dtype": "int64", "min": 0}],
    "features": [
        {"name": "distance_km", "dtype": "float64", "min": 0, "nullable": True},
        {"name": "parcels", "dtype": "int64", "min": 1, "max": 50},
        {"name": "carrier", "dtype": "string", "values": CARRIERS, "nullable": True},
        {"name": "region", "dtype": "string", "nullable": True},
        {"name": "express", "dtype": "bool", "nullable": True},
        {"name": "weight_kg", "dtype": "float64", "expression": "weight_g / 1000.0"},
        {
            "name": "km_per_parcel",
            "dtype": "float64",
            "nullable": True,
            "expression": "distance_km / parcels",
        },
    ],
}
# Step 5: the task, the estimator, its search space and the gates (small, to be quick).
TRAINING = {
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
        "required_holdout_scores": {"roc_auc": 0.8, "accuracy": 0.7},
    },
    "evaluation": {"segment_feature": "carrier", "segments": 3},
}
# Step 3: the team's raw files, written by the project's own Python (pandas, pyarrow):
# a Parquet file a day, the last day as JSON Lines. The class follows distance, express
# and carrier, with noise; every nullable column has gaps (nulls, not NaN).
RAW_FILES = """
import sys
from pathlib import Path
import numpy as np, pandas as pd

folder, days = Path(sys.argv[1]), sys.argv[2:]
for number, day in enumerate(days):
    rng, n = np.random.default_rng(number), 240
    distance = rng.gamma(2.0, 150.0, n).round(1)
    carrier = rng.choice(["acme", "globex", "initech"], n)
    express = rng.random(n) < 0.3
    score = distance / 300 - express * 1.5 + (carrier == "initech") + rng.normal(0, 0.4, n)
    frame = pd.DataFrame({
        "shipment_id": [f"S{number}-{i:04d}" for i in range(n)],
        "shipped_at": pd.date_range(day, periods=n, freq="5min", tz="UTC"),
        "distance_km": pd.array(distance, dtype="Float64"),
        "parcels": rng.integers(1, 20, n),
        "carrier": pd.array(carrier, dtype="string"),
        "region": pd.array(rng.choice(["north", "south", "coast"], n), dtype="string"),
        "express": pd.array(express, dtype="boolean"),
        "weight_g": rng.integers(100, 30000, n),
        "delay_class": np.where(score < 0.6, "on_time", np.where(score < 1.6, "late", "lost")),
    })
    for column in ("distance_km", "carrier", "region", "express"):
        frame.loc[rng.random(n) < 0.08, column] = pd.NA
    target = folder / f"ingest_date={day}"
    target.mkdir(parents=True)
    if number == len(days) - 1:
        frame.to_json(target / "part.jsonl", orient="records", lines=True, date_format="iso")
    else:
        frame.to_parquet(target / "part.parquet", index=False)
"""
ROW = {
    "distance_km": 420.0,
    "parcels": 3,
    "carrier": "globex",
    "region": "coast",
    "express": True,
    "weight_kg": 2.5,
    "km_per_parcel": 140.0,
}


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A fresh render, committed, with steps 1-5 done and `make setup` run (step 6)."""
    root = render(tmp_path_factory.mktemp("own_data"))
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", *identity, "commit", "-qm", "render", "--no-verify"]):  # fmt: skip
        run_ok(command, root)
    (root / "config" / "features.yaml").write_text(yaml.safe_dump(FEATURES, sort_keys=False))
    training_file = root / "config" / "training.yaml"
    training = yaml.safe_load(training_file.read_text()) | TRAINING
    training_file.write_text(yaml.safe_dump(training, sort_keys=False))
    # Four days ending yesterday: the drift check's window ends today.
    today = datetime.now(UTC).date()
    days = [str(today - timedelta(days=offset)) for offset in (4, 3, 2, 1)]
    run_ok(["make", "install"], root)  # the project's Python writes the Parquet files
    raw = root / "data" / "raw" / DATASET
    run_ok(["uv", "run", "--no-sync", "python", "-c", RAW_FILES, str(raw), *days], root)
    setup = run_ok(["make", "setup"], root)
    assert "4 files ingested" in setup.stdout, setup.stdout
    assert sorted(path.name for path in (root / "data" / "raw").iterdir()) == [DATASET]
    yield root, days


def test_the_loop_runs_on_the_teams_data(project: tuple[Path, list[str]]) -> None:
    root, days = project
    trained = run_ok(["make", "train-local"], root)
    assert "v1: production" in last_line(trained), trained.stdout
    with served(root) as url:
        with urllib.request.urlopen(f"{url}/model", timeout=10) as response:
            model = json.loads(response.read())
        assert sorted(model["classes"]) == CLASSES
        status, answer = post(f"{url}/predict", {"features": ROW})
        assert status == 200, answer
        assert answer["prediction"] in CLASSES and sorted(answer["probabilities"]) == CLASSES
        # A nullable feature may be left out; a value outside `values` is refused, named.
        partial = {k: v for k, v in ROW.items() if k not in ("carrier", "distance_km")}
        assert post(f"{url}/predict", {"features": partial})[0] == 200
        status, answer = post(f"{url}/predict", {"features": {**ROW, "carrier": "hermes"}})
        assert status == 422 and "acme" in json.dumps(answer), answer
    batch = run_ok(["make", "batch-inference", f"DATE={days[-1]}"], root)
    assert "rows scored by v1" in last_line(batch) and "skipped" not in last_line(batch)
    drift = run(["make", "drift-check"], root)
    # make exits 2 when the command does: 3 is the drift code, which make reports.
    assert drift.returncode == 0 or "Error 3" in drift.stderr, drift.stdout + drift.stderr
    assert last_line(drift).startswith("drift check of predictions"), drift.stdout
    report = json.loads(sorted((root / "reports").glob("drift_*.json"))[-1].read_text())
    tested = {column["column"] for column in report["drift"]["columns"]}
    assert {"carrier", "express", "distance_km"} <= tested


def test_the_projects_own_suite_passes_and_src_is_untouched(
    project: tuple[Path, list[str]],
) -> None:
    root, _ = project
    assert_suite_passed(run(["make", "test"], root, timeout=2400))
    assert run_ok(["git", "status", "--short", "src/"], root).stdout == ""
