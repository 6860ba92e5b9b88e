"""Setup's step keys: a changed input or a missing result reruns its step, nothing else does."""

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from src.errors import ProjectError
from src.settings import FEATURES_FILE, PROJECT_ROOT, Settings
from src.setup_state import (
    DONE_SUFFIX,
    StepState,
    build_states,
    upstream_stages,
    write_key,
)

STAGES: dict[str, dict[str, Any]] = {
    "ingest": {
        "cmd": "ingest",
        "deps": ["raw", "code.py"],
        "outs": [{"out/ingest.json": {"cache": False}}],
    },
    "clean": {
        "cmd": "clean",
        "deps": ["out/ingest.json", "rules.yaml"],
        "outs": [{"out/clean.json": {"cache": False}}],
    },
    "train": {"cmd": "train", "deps": ["out/clean.json", "train.yaml"]},
}
STEPS = ("dvc-remote", "raw-data", "pipeline", "mlflow")


def test_a_stage_needs_the_stages_whose_outputs_it_reads() -> None:
    assert upstream_stages(STAGES, "clean") == ["clean", "ingest"]
    assert upstream_stages(STAGES, "ingest") == ["ingest"]
    with pytest.raises(ProjectError, match="no stage 'gold'"):
        upstream_stages(STAGES, "gold")


def test_a_key_is_written_only_when_its_inputs_change_or_the_result_is_missing(
    tmp_path: Path,
) -> None:
    assert write_key(tmp_path, StepState("step", "one", done=True))
    key = tmp_path / "step.key"
    os.utime(key, ns=(1, 1))
    assert not write_key(tmp_path, StepState("step", "one", done=True))
    assert key.stat().st_mtime_ns == 1, "an unchanged key keeps its time: make skips the step"
    assert write_key(tmp_path, StepState("step", "two", done=True))
    assert key.read_text() == "two"
    os.utime(key, ns=(1, 1))
    assert write_key(tmp_path, StepState("step", "two", done=False))
    assert key.stat().st_mtime_ns > 1


def create_experiment(database: Path, name: str, stage: str) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS experiments (name TEXT, lifecycle_stage TEXT)"
        )
        connection.execute("DELETE FROM experiments")
        connection.execute("INSERT INTO experiments VALUES (?, ?)", (name, stage))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose every setup step has run: DVC configured, raw data versioned and
    stamped, lake and summaries in place, the experiment in the local MLflow store."""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": STAGES}))
    for name in ("code.py", "rules.yaml", "train.yaml"):
        (tmp_path / name).write_text(f"{name}\n")
    features = tmp_path / FEATURES_FILE.relative_to(PROJECT_ROOT)
    features.parent.mkdir(parents=True)
    features.write_text("dataset: sample\n")
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text("")
    (tmp_path / ".dvc" / "config.local").write_text("")
    (tmp_path / "raw" / "day=1").mkdir(parents=True)
    (tmp_path / "raw" / "day=1" / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "raw.dvc").write_text("outs: []\n")
    (tmp_path / ".setup").mkdir()
    (tmp_path / ".setup" / f"raw-data{DONE_SUFFIX}").touch()
    (tmp_path / "out").mkdir()
    for name in ("ingest", "clean"):
        (tmp_path / "out" / f"{name}.json").write_text("{}\n")
    lake = tmp_path / "data" / "lake"
    for zone in ("raw", "warehouse"):
        (lake / zone).mkdir(parents=True)
    (tmp_path / "data" / "catalog.db").touch()
    create_experiment(tmp_path / "mlflow.db", "demo", "active")
    return tmp_path


def local_settings(project: Path, **changes: str) -> Settings:
    options = {
        "app_env": "local",
        "data_dir": str(project / "data"),
        "mlflow_tracking_uri": f"sqlite:///{project / 'mlflow.db'}",
        "mlflow_experiment_name": "demo",
        "catalog_uri": "",
        **changes,
    }
    return Settings(**options)  # type: ignore[arg-type]  # pydantic coerces the strings


def written(project: Path, settings: Settings) -> set[str]:
    """The steps whose key file this run writes (make then reruns them)."""
    states = build_states(settings, project, project / ".setup", ["raw"], "clean")
    assert [state.name for state in states] == list(STEPS)
    return {state.name for state in states if write_key(project / ".setup", state)}


def test_only_the_step_whose_input_changed_runs_again(project: Path) -> None:
    settings = local_settings(project)
    assert written(project, settings) == set(STEPS), "no key yet: every step runs"
    assert written(project, settings) == set(), "nothing changed: no step runs"
    (project / "rules.yaml").write_text("stricter\n")
    assert written(project, settings) == {"pipeline"}
    (project / "train.yaml").write_text("a stage setup does not build\n")
    assert written(project, settings) == set()


def test_changed_raw_data_reruns_the_raw_data_step(project: Path) -> None:
    settings = local_settings(project)
    written(project, settings)
    stamp = project / ".setup" / f"raw-data{DONE_SUFFIX}"
    old = stamp.stat().st_mtime_ns - 10**9
    os.utime(stamp, ns=(old, old))  # the stamp was left before the file below changed
    (project / "raw" / "day=1" / "rows.csv").write_text("a,b\n3,4\n")
    assert written(project, settings) == {"raw-data"}
    stamp.touch()  # the step ran
    assert written(project, settings) == set()
    (project / "raw" / "day=1" / "rows.csv").unlink()
    (project / "raw" / "day=1").rmdir()
    assert written(project, settings) == {"raw-data"}, "no raw file: sample-data must run"


def test_a_missing_result_reruns_its_step(project: Path) -> None:
    settings = local_settings(project)
    written(project, settings)
    (project / "data" / "catalog.db").unlink()
    assert written(project, settings) == {"pipeline"}
    (project / "data" / "catalog.db").touch()
    written(project, settings)
    create_experiment(project / "mlflow.db", "demo", "deleted")
    assert written(project, settings) == {"mlflow"}
    (project / ".dvc" / "config.local").unlink()
    assert "dvc-remote" in written(project, settings)


def test_changed_settings_rerun_the_steps_that_read_them(project: Path) -> None:
    written(project, local_settings(project))
    changed = local_settings(project, mlflow_experiment_name="other")
    create_experiment(project / "mlflow.db", "other", "active")
    assert written(project, changed) == {"dvc-remote", "pipeline", "mlflow"}


def test_a_lake_outside_this_folder_is_always_built_again(project: Path) -> None:
    settings = local_settings(
        project,
        app_env="compose",
        catalog_uri="postgresql://catalog",
        mlflow_tracking_uri="http://mlflow",
    )
    assert written(project, settings) == set(STEPS)
    assert written(project, settings) == {"pipeline", "mlflow"}
