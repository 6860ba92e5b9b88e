"""Validate every cookiecutter answer before anything is rendered.

Cookiecutter renders this file with the answers, runs it inside the freshly created
project folder and deletes that folder when it exits non-zero, so a bad answer leaves
no output behind. Each rule prints one line naming the field and the rule.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Callable

# JSON text never contains three quotes in a row, so any answer survives this raw string.
CONTEXT: dict[str, object] = json.loads(r"""{{ cookiecutter | jsonify }}""")

CHOICES: dict[str, tuple[str, ...]] = {
    "python_version": ("3.11", "3.12", "3.13"),
    "problem_type": ("classification", "regression"),
    "include_airflow": ("yes", "no"),
    "include_monitoring_stack": ("yes", "no"),
    "ci_provider": ("github", "none"),
    "license": ("MIT", "Apache-2.0", "Proprietary"),
}

# The project's distribution name is repo_name: uv refuses a project that depends on a
# package of its own name, and `src` / `tests` are the project's own top-level folders.
CLASHING_REPO_NAMES = frozenset(
    {
        "airflow", "apache-airflow", "boto3", "botocore", "duckdb", "evidently", "fastapi",
        "mlflow", "numpy", "optuna", "pandas", "prometheus-client", "pyarrow", "pyathena",
        "pydantic", "pyiceberg", "scikit-learn", "sklearn", "src", "test", "tests", "typer",
        "uvicorn",
    }
)  # fmt: skip

# Names the lake uses for its own layers; the project's database must not shadow them.
RESERVED_DATABASE_NAMES = frozenset(
    {"default", "information_schema", "bronze", "silver", "gold", "quarantine", "monitoring"}
)

SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
AWS_ACCOUNT_ID = re.compile(r"^(\d{12})?$")
BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
GLUE_DATABASE = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")
BUCKET_FORBIDDEN_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_FORBIDDEN_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_text(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if value != value.strip():
        return "must not start or end with spaces"
    if any(not ch.isprintable() for ch in value):
        return "must be printable text on one line"
    if '"' in value or "\\" in value:
        # Answers are written into TOML, YAML and Python string literals.
        return "must not contain double quotes or backslashes"
    return None


def check_repo_name(value: str) -> str | None:
    if not SLUG.match(value) or len(value) > 50:
        return (
            "must be a lowercase slug of at most 50 characters: letters, digits and single "
            "hyphens, starting with a letter (e.g. 'churn-model')"
        )
    if value in CLASHING_REPO_NAMES:
        return "clashes with a package or folder the project itself uses; choose another name"
    return None


def check_email(value: str) -> str | None:
    return None if EMAIL.match(value) else "must be an e-mail address like name@example.com"


def check_region(value: str) -> str | None:
    if AWS_REGION.match(value):
        return None
    return "must be an AWS region code like us-east-1 or eu-west-3"


def check_account_id(value: str) -> str | None:
    return None if AWS_ACCOUNT_ID.match(value) else "must be exactly 12 digits, or empty"


def check_bucket(value: str) -> str | None:
    rule = (
        "must follow S3 bucket naming rules: 3-63 characters, lowercase letters, digits, "
        "hyphens and dots, starting and ending with a letter or digit"
    )
    if not BUCKET_CHARS.match(value):
        return rule
    if ".." in value or ".-" in value or "-." in value:
        return "must not contain adjacent periods or a period next to a hyphen (S3 naming rules)"
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        return "must not be formatted as an IP address (S3 naming rules)"
    if value.startswith(BUCKET_FORBIDDEN_PREFIXES) or value.endswith(BUCKET_FORBIDDEN_SUFFIXES):
        return "uses a prefix or suffix that S3 reserves (xn--, sthree-, -s3alias, --ol-s3, ...)"
    return None


def check_database(value: str) -> str | None:
    if not GLUE_DATABASE.match(value):
        return (
            "must be a Glue/Athena database name: lowercase letters, digits and underscores, "
            "starting with a letter"
        )
    if value in RESERVED_DATABASE_NAMES:
        return f"'{value}' is reserved (Athena's own or one of the lake's layer names)"
    return None


def check_model_name(value: str) -> str | None:
    if MODEL_NAME.match(value):
        return None
    return (
        "must start with a letter and use only letters, digits, '_', '.' and '-' "
        "(it appears in models:/<name>@<alias> URIs)"
    )


def check_choice(field: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        allowed = CHOICES[field]
        return None if value in allowed else f"must be one of: {', '.join(allowed)}"

    return check


RULES: dict[str, Callable[[str], str | None]] = {
    "project_name": check_text,
    "repo_name": check_repo_name,
    "author_name": check_text,
    "author_email": check_email,
    "description": check_text,
    "aws_region": check_region,
    "aws_account_id": check_account_id,
    "s3_bucket": check_bucket,
    "athena_database": check_database,
    "mlflow_experiment_name": check_text,
    "model_name": check_model_name,
    **{field: check_choice(field) for field in CHOICES},
}


def find_problems(context: dict[str, object]) -> list[str]:
    problems = []
    for field, rule in RULES.items():
        value = context.get(field)
        if not isinstance(value, str):
            problems.append(f"{field} must be given as text")
            continue
        reason = rule(value)
        if reason:
            problems.append(f"{field} {value!r} {reason}")
    return problems


def main() -> int:
    problems = find_problems(CONTEXT)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
