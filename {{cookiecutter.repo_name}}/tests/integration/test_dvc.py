"""Data versioning with the real DVC CLI on a copy of the project in a fresh git repo.

The copy has its own data/, .dvc/ and remote, so the project's own are never touched.
"""

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

from src.context import ProjectContext
from src.data.aws_integration import LocalObjectStore
from src.data.sample_data import land_sample_files
from src.data.versioning import REMOTE_NAME, configure_dvc_remote, resolve_dvc_remote
from src.settings import Settings
from tests.conftest import FAKE_AWS_ENV, SAMPLE_END, isolated_settings

pytestmark = pytest.mark.integration
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_STAGES = ("ingest", "bronze", "silver", "gold")


def run(project: Path, *command: str, env: dict[str, str] | None = None) -> str:
    venv_bin = str(Path(sys.executable).parent)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATA_DIR", "REPORTS_DIR"))},
        **(env or {}),
        "APP_ENV": (env or {}).get("APP_ENV", "local"),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "true",
    }
    finished = subprocess.run(
        list(command), cwd=project, env=environment, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout + finished.stderr


def dvc(project: Path, *arguments: str, env: dict[str, str] | None = None) -> str:
    return run(project, sys.executable, "-m", "dvc", *arguments, env=env)


def digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the project, set up as `make setup` does, after one `dvc repro gold`."""
    root = tmp_path_factory.mktemp("dvc") / "project"
    root.mkdir()
    for name in ("src", "config"):
        shutil.copytree(
            PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    run(root, "git", "init", "--quiet")
    dvc(root, "init", "--quiet")
    settings = isolated_settings(root)
    configure_dvc_remote(root, resolve_dvc_remote(settings, root))
    view = ProjectContext(settings).view
    land_sample_files(LocalObjectStore(root / "data" / "raw"), view, "", SAMPLE_END)
    dvc(root, "add", "--quiet", "data/raw")
    first = dvc(root, "repro", "gold")
    assert all(f"Running stage '{stage}'" in first for stage in DATA_STAGES)
    yield root


def test_the_raw_data_file_is_tracked_by_git_and_the_data_by_dvc(project: Path) -> None:
    status = run(project, "git", "status", "--porcelain", "--untracked-files=all")
    paths = {line[3:] for line in status.splitlines()}
    assert "data/raw.dvc" in paths
    assert not [
        path for path in paths if path.startswith(("data/raw/", "data/lake/", ".dvc/storage"))
    ]


def test_repro_reruns_only_what_changed(project: Path) -> None:
    quality = project / "config" / "quality.yaml"
    quality.write_text(quality.read_text() + "# reviewed\n")
    rerun = dvc(project, "repro", "gold")
    assert "Stage 'ingest' didn't change" in rerun and "Stage 'bronze' didn't change" in rerun
    assert "Running stage 'silver'" in rerun
    # silver wrote the same rows, so its summary is unchanged and gold is not rerun.
    assert "Stage 'gold' didn't change" in rerun
    assert "Data and pipelines are up to date." in dvc(project, "repro", "gold")


def test_local_remote_round_trip(project: Path) -> None:
    before = digests(project / "data" / "raw")
    dvc(project, "push")
    assert any((project / ".dvc" / "storage").rglob("*"))
    shutil.rmtree(project / "data" / "raw")
    shutil.rmtree(project / ".dvc" / "cache")
    dvc(project, "pull")
    assert digests(project / "data" / "raw") == before


def test_s3_remote_round_trip_against_moto(project: Path, aws_settings: Settings) -> None:
    boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url).create_bucket(
        Bucket=aws_settings.aws.s3.bucket
    )
    remote = resolve_dvc_remote(aws_settings, project)
    assert remote.url == f"s3://{aws_settings.aws.s3.bucket}/dvc"
    configure_dvc_remote(project, remote)
    before = digests(project / "data" / "raw")
    env = {**FAKE_AWS_ENV, "APP_ENV": "aws"}

    dvc(project, "push", env=env)
    listing = boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url).list_objects_v2(
        Bucket=aws_settings.aws.s3.bucket, Prefix="dvc/"
    )
    assert listing["KeyCount"] > 0
    shutil.rmtree(project / "data" / "raw")
    shutil.rmtree(project / ".dvc" / "cache")
    dvc(project, "pull", env=env)
    assert digests(project / "data" / "raw") == before
    config = (project / ".dvc" / "config.local").read_text()
    assert f'remote "{REMOTE_NAME}"' in config
    assert f"endpointurl = {aws_settings.aws_endpoint_url}" in config
