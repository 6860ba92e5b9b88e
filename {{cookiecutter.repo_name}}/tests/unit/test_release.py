"""Delivery contracts: release facts, task commands, images and compose agree with the code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from src.cli import app
from src.settings import PROJECT_ROOT

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def release_facts(root: Path, commit: str) -> subprocess.CompletedProcess[str]:
    script = PROJECT_ROOT / "deploy" / "release-facts.sh"
    return subprocess.run([script, commit], cwd=root, capture_output=True, text=True, check=False)


def test_release_facts_tag_images_with_version_and_commit(tmp_path: Path) -> None:
    facts = dict(line.split("=", 1) for line in release_facts(PROJECT_ROOT, COMMIT).stdout.split())
    version = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert facts["image_tag"] == f"{version}-{COMMIT[:12]}"
    images = sorted(path.stem for path in (PROJECT_ROOT / "docker").glob("*.Dockerfile"))
    assert json.loads(facts["images"]) == images
    # Each image has its ECR repository, which the shared stack and init-aws create.
    repositories = yaml.safe_load((PROJECT_ROOT / "config" / "aws_config.yaml").read_text())
    expected = [f"{facts['project']}/{image}" for image in images]
    assert sorted(repositories["ecr"]["repositories"]) == expected
    assert "not a git commit" in release_facts(PROJECT_ROOT, "main; rm -rf /").stderr
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    pyproject = re.sub(r'(?m)^version = ".*"$', 'version = "1.2"', pyproject)
    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert "'1.2' is not a semantic version" in release_facts(tmp_path, COMMIT).stderr


def test_task_definitions_run_cli_commands_that_exist() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    used = set()
    # The jobs task definition's default command (infra/environment_stack.py).
    stack = (PROJECT_ROOT / "infra" / "environment_stack.py").read_text()
    used |= set(re.findall(r'command=\["([a-z-]+)"', stack))
    for dockerfile in (PROJECT_ROOT / "docker").glob("*.Dockerfile"):
        for match in re.finditer(
            r'"-m", "src", "([a-z-]+)"|^CMD \["([a-z-]+)"\]', dockerfile.read_text(), re.M
        ):
            used.add(match.group(1) or match.group(2))
{%- if cookiecutter.ci_provider == "github" %}
    workflow = PROJECT_ROOT / ".github" / "workflows" / "cd.yml"
    used |= set(re.findall(r'run-ecs-task\.sh "\S+" "\S+" ([a-z-]+)', workflow.read_text()))
{%- endif %}
    assert used, "no command found"
    assert used <= commands, f"unknown commands: {sorted(used - commands)}"


@pytest.mark.parametrize(
    "options", [[], ["--release", "s3://b/k"], ["--version", "1", "--digest", "sha256:0"]]
)
def test_promote_takes_a_version_or_a_release_with_its_digest(options: list[str]) -> None:
    result = CliRunner().invoke(app, ["promote", *options], env={"COLUMNS": "200"})
    shown = re.sub(r"\x1b\[[\d;]*m", "", result.output)  # rich colours it on CI runners
    assert result.exit_code == 2 and "give --version N, or --release URI" in shown


def test_every_image_installs_hashed_packages_only() -> None:
    for dockerfile in (PROJECT_ROOT / "docker").glob("*.Dockerfile"):
        text = dockerfile.read_text()
        assert "--no-hashes" not in text, dockerfile.name
        installs = re.findall(r"uv pip install[^&]*", text)
        assert all("--require-hashes" in install for install in installs), dockerfile.name
        assert installs or "uv sync --locked" in text, dockerfile.name


def test_compose_reads_only_variables_that_env_example_defines() -> None:
    compose = (PROJECT_ROOT / "docker-compose.yml").read_text()
    example = (PROJECT_ROOT / ".env.example").read_text()
    defined = set(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", example))
    # Set by the Makefile (image tags); ${NAME:-default} (the published ports) needs no entry.
    from_make = {"IMAGE_TAG", "APP_VERSION", "GIT_COMMIT"}
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(?![A-Z0-9_]|:-)", compose))
    secrets = yaml.safe_load(compose).get("secrets", {})
    used |= {secret["environment"] for secret in secrets.values()}
    assert used - from_make <= defined, (
        f"missing from .env.example: {sorted(used - from_make - defined)}"
    )


{%- if cookiecutter.include_airflow == "yes" %}


def test_airflow_image_matches_the_locked_airflow() -> None:
    dockerfile = PROJECT_ROOT / "docker" / "airflow.Dockerfile"
    lock = PROJECT_ROOT / "uv.lock"
    assert lock.exists(), "no uv.lock: `make setup` writes it"
    image = re.search(r"^FROM apache/airflow:(\d+\.\d+\.\d+)-python", dockerfile.read_text(), re.M)
    locked = re.search(r'name = "apache-airflow"\nversion = "([^"]+)"', lock.read_text())
    assert image and locked
    assert image.group(1) == locked.group(1), "bump the base image or the lock so they agree"
{%- endif %}
