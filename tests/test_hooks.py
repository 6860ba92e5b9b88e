"""The pre-generation hook: a bad answer stops rendering with one line and no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE_ROOT

COOKIECUTTER = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_ROOT)]

# (field, bad value, words the message must contain)
BAD_ANSWERS = [
    ("project_name", " ", "must not be empty"),
    ("project_name", 'Say "hi"', "double quotes"),
    ("repo_name", "My Repo!", "lowercase slug"),
    ("repo_name", "-leading-hyphen", "lowercase slug"),
    ("repo_name", "double--hyphen", "lowercase slug"),
    ("repo_name", "mlflow", "clashes"),
    ("repo_name", "src", "clashes"),
    ("author_name", "", "must not be empty"),
    ("author_email", "not-an-email", "e-mail"),
    ("description", "line\\with backslash", "backslashes"),
    ("aws_region", "US-EAST-1", "AWS region"),
    ("aws_region", "mars-north-1a", "AWS region"),
    ("aws_account_id", "12345", "12 digits"),
    ("aws_account_id", "12345678901a", "12 digits"),
    ("s3_bucket", "UPPER_case", "S3 bucket naming rules"),
    ("s3_bucket", "ab", "S3 bucket naming rules"),
    ("s3_bucket", "my..bucket", "adjacent periods"),
    ("s3_bucket", "192.168.1.1", "IP address"),
    ("s3_bucket", "xn--bucket", "reserves"),
    ("s3_bucket", "bucket-s3alias", "reserves"),
    ("athena_database", "ML-Database", "Glue/Athena database"),
    ("athena_database", "bronze", "reserved"),
    ("mlflow_experiment_name", "", "must not be empty"),
    ("model_name", "my model", "start with a letter"),
    ("model_name", "model@prod", "start with a letter"),
]
CHOICE_FIELDS = [
    "python_version",
    "problem_type",
    "include_airflow",
    "include_monitoring_stack",
    "ci_provider",
    "license",
]


@pytest.mark.parametrize(
    ("field", "value", "words"), BAD_ANSWERS, ids=[f"{f}={v!r}" for f, v, _ in BAD_ANSWERS]
)
def test_bad_answer_is_rejected_with_a_named_reason(
    tmp_path: Path, field: str, value: str, words: str
) -> None:
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), f"{field}={value}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    # A bad answer may also spoil the names derived from it; each is reported on its own line.
    named = [line for line in result.stderr.splitlines() if line.startswith(f"error: {field} ")]
    assert len(named) == 1, result.stderr
    assert words in named[0]
    assert list(tmp_path.iterdir()) == [], "nothing may be rendered on a bad answer"


def test_several_bad_answers_are_all_reported(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), "repo_name=Bad Name", "s3_bucket=Bad_Bucket"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "error: repo_name " in result.stderr and "error: s3_bucket " in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_derived_repo_name_is_slugified(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), "project_name=Churn & Retention: v2!"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["churn-retention-v2"]


def test_good_non_default_answers_render(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), "project_name=Churn Model", "aws_region=eu-west-3",
         "aws_account_id=123456789012", "s3_bucket=churn.model-data", "athena_database=churn_db"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "churn-model" / "Makefile").is_file()


@pytest.mark.parametrize("field", CHOICE_FIELDS)
def test_a_value_outside_the_choices_is_rejected(tmp_path: Path, field: str) -> None:
    # Cookiecutter refuses it before the hook runs, naming the variable and its choices.
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), f"{field}=not-a-choice"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        f"not-a-choice provided for choice variable {field}, but the choices are" in result.stderr
    )
    assert list(tmp_path.iterdir()) == []
