"""The data layer's Makefile targets as a user runs them, on isolated state.

`make init-aws` runs against moto in server mode: APP_ENV=aws and AWS_ENDPOINT_URL are
all that differ from a real account.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from src.context import ProjectContext
from tests.conftest import (
    FAKE_AWS_ENV,
    isolated_env,
    isolated_settings,
    make,
    moto_api,
)

pytestmark = pytest.mark.e2e


def test_init_aws_prints_what_it_created_and_what_it_found(
    moto_endpoint: str, tmp_path: Path
) -> None:
    moto_api(moto_endpoint, "reset")
    env = {
        **isolated_env(tmp_path),
        **FAKE_AWS_ENV,
        "APP_ENV": "aws",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS__ATHENA__POLL_INTERVAL_SECONDS": "0.05",
    }
    settings = isolated_settings(tmp_path)
    # The bucket is already there (made by hand, say); everything else is missing.
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=settings.aws.s3.bucket)

    result = make("init-aws", env)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert f"  found  s3 bucket {settings.aws.s3.bucket} (versioning, AES256, " in lines[1]
    database = settings.aws.athena.database
    assert any(line.startswith(f"created  glue database {database}") for line in lines)
    repositories = len(settings.aws.ecr.repositories)
    assert lines[-1] == f"init-aws: {3 + repositories - 1} created, 2 found in us-east-1"


def test_data_pipeline_target_reports_a_bad_file_by_name(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    dataset = ProjectContext(isolated_settings(tmp_path)).view.dataset
    bad = tmp_path / "data" / "lake" / "raw" / dataset / "ingest_date=2025-01-05" / "broken.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("only,two\n1,2\n")

    result = make("data-pipeline", env, "START=2025-01-05")

    # The shipped schema rule quarantines a refused file whole; the day goes on.
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"raw file {bad.as_uri()} misses columns" in result.stderr
    assert "quarantined whole: " in result.stderr
    assert "1 refused and quarantined" in result.stdout
