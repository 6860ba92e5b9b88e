"""Data versioning with the real DVC CLI, on a copy of the project in a fresh git repository
with its own data/, .dvc/ and remote (the project's own are never touched). Which stages
`dvc repro` reruns after a change is the template's test of `make setup`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from src.data.feature_store import FeatureView
from src.data.raw_data import configure_dvc_remote
from src.settings import Settings
from tests.conftest import FAKE_AWS_ENV, PROJECT_ROOT, synthesize_rows

pytestmark = pytest.mark.integration


def run(project: Path, *command: str, env: dict[str, str] | None = None) -> str:
    """`command` in the copy, with this venv's tools and the copy's own settings."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "REPORTS_DIR")}
    environment |= {"APP_ENV": "local", "DVC_NO_ANALYTICS": "true", **(env or {})}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    finished = subprocess.run(
        command, cwd=project, env=environment, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout + finished.stderr


def digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, project_view: FeatureView) -> Iterator[Path]:
    """A copy of the project after the commands `make setup` runs: raw data, lake built."""
    root = tmp_path_factory.mktemp("dvc") / "project"
    for name in ("src", "config"):
        shutil.copytree(PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__py*"))
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    # The team's raw files: contract rows, a CSV file per day.
    frame = synthesize_rows(project_view, rows=200)
    for day, rows in frame.groupby(frame[project_view.event_timestamp].dt.date):
        folder = root / "data" / "raw" / project_view.dataset / f"ingest_date={day}"
        folder.mkdir(parents=True)
        rows.to_csv(folder / "part.csv", index=False)
    setup = ("git init -q", "dvc init -q", "python -m src data-remote", "dvc add -q data/raw")
    for command in setup:
        run(root, *command.split())
    first = run(root, "dvc", "repro", "gold")
    assert all(f"Running stage '{stage}'" in first for stage in ("ingest", "bronze", "gold"))
    assert "Data and pipelines are up to date." in run(root, "dvc", "repro", "gold")
    yield root


def test_git_tracks_the_raw_data_pointer_and_dvc_the_data(project: Path) -> None:
    status = run(project, "git", "status", "--porcelain", "--untracked-files=all")
    paths = {line[3:] for line in status.splitlines()}
    assert "data/raw.dvc" in paths
    assert not [path for path in paths if path.startswith(("data/raw/", "data/lake/", ".dvc/s"))]


def push_and_pull(project: Path, env: dict[str, str] | None = None) -> None:
    """Push the raw data, lose it and the cache, pull it back: the same bytes."""
    before = digests(project / "data" / "raw")
    run(project, "dvc", "push", env=env)
    shutil.rmtree(project / "data" / "raw")
    shutil.rmtree(project / ".dvc" / "cache")
    run(project, "dvc", "pull", env=env)
    assert digests(project / "data" / "raw") == before


def test_local_remote_round_trip(project: Path) -> None:
    push_and_pull(project)
    assert any((project / ".dvc" / "storage").rglob("*"))


def test_s3_remote_round_trip_against_moto(project: Path, aws_settings: Settings) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url)
    s3.create_bucket(Bucket=aws_settings.aws.s3.bucket)
    url = configure_dvc_remote(aws_settings, project)
    assert url == f"s3://{aws_settings.aws.s3.bucket}/dvc"
    config = (project / ".dvc" / "config.local").read_text()
    assert f"endpointurl = {aws_settings.aws_endpoint_url}" in config
    push_and_pull(project, {**FAKE_AWS_ENV, "APP_ENV": "aws"})
    assert s3.list_objects_v2(Bucket=aws_settings.aws.s3.bucket, Prefix="dvc/")["KeyCount"] > 0
