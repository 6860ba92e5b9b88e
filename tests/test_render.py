"""Rendering: every option combination gives exactly its files, fully rendered."""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE_ROOT, all_combinations, combination_id, render, run
from tests.expected_files import expected_files

COMBINATIONS = all_combinations()
# Files whose own braces are meant to stay (Prometheus, Grafana, Alertmanager and GitHub
# Actions templates) are copied without rendering: in them only cookiecutter variables
# are banned.
VERBATIM_PATTERNS: list[str] = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())[
    "_copy_without_render"
]


def is_verbatim(relative: str) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in VERBATIM_PATTERNS)


# `cookiecutter.` outside braces is a half-rendered variable; `.cookiecutter.json`, the
# answers file the project's README names, is not.
CONTEXT_VARIABLE = r"(?<![.\w])cookiecutter\."
LEFTOVER = re.compile(rf"\{{\{{|\{{%|\{{#|{CONTEXT_VARIABLE}")


def rendered_files(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, str], Path]]:
    rendered = {}
    for options in COMBINATIONS:
        key = combination_id(options)
        rendered[key] = (options, render(tmp_path_factory.mktemp(key), **options))
    return rendered


@pytest.mark.parametrize("key", [combination_id(options) for options in COMBINATIONS])
def test_exact_file_set(projects: dict[str, tuple[dict[str, str], Path]], key: str) -> None:
    options, project = projects[key]
    actual = rendered_files(project)
    expected = expected_files(options)
    assert sorted(actual - expected) == [], "unexpected files"
    assert sorted(expected - actual) == [], "missing files"


@pytest.mark.parametrize("key", [combination_id(options) for options in COMBINATIONS])
def test_no_template_syntax_left(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    _, project = projects[key]
    leftovers = []
    for path in sorted(project.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(project).as_posix()
        text = path.read_text(errors="replace")
        pattern = re.compile(CONTEXT_VARIABLE) if is_verbatim(relative) else LEFTOVER
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                leftovers.append(f"{relative}:{number}: {line.strip()}")
    assert leftovers == []


@pytest.mark.parametrize("key", [combination_id(options) for options in COMBINATIONS])
def test_shipped_lock_matches_the_rendered_dependencies(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    """Every render installs a lock that is current for its own pyproject.toml.

    This is what `make lock` in the template keeps true: it fails for a stale variant
    lock, and for an option that changes the dependencies without being one of
    `_lock_variant_options`. Offline, and with this interpreter (the lock serves every
    Python that requires-python allows), so it needs neither the network nor the
    project's own Python.
    """
    _, project = projects[key]
    result = run(["uv", "lock", "--check", "--offline", "--python", sys.executable], project)
    assert result.returncode == 0, result.stderr


def test_choice_options_cover_the_whole_matrix() -> None:
    assert len(COMBINATIONS) == 3 * 2 * 2 * 2 * 2 * 3


DANGLING = {
    ("include_airflow", "no"): re.compile(r"airflow", re.IGNORECASE),
    ("include_monitoring_stack", "no"): re.compile(
        r"grafana|alertmanager|monitoring-(up|local)", re.IGNORECASE
    ),
    ("ci_provider", "none"): re.compile(r"\.github|github actions", re.IGNORECASE),
}
# Where a dropped component would otherwise be referenced.
REFERRING_FILES = (
    "Makefile",
    "README.md",
    "pyproject.toml",
    ".env.example",
    ".pre-commit-config.yaml",
    "docker-compose.yml",
    "dvc.yaml",
    "config",
    "docker",
    "deploy",
    "docs",
    "infra",
    "tests",
)


@pytest.mark.parametrize(("option", "value"), list(DANGLING))
def test_unchosen_components_leave_no_reference(
    projects: dict[str, tuple[dict[str, str], Path]], option: str, value: str
) -> None:
    pattern = DANGLING[(option, value)]
    for options, project in projects.values():
        if options[option] != value:
            continue
        for name in REFERRING_FILES:
            target = project / name
            paths = sorted(target.rglob("*")) if target.is_dir() else [target]
            for path in paths:
                if path.is_file():
                    found = pattern.search(path.read_text())
                    assert found is None, f"{path.relative_to(project)} mentions {found.group(0)!r}"


def test_answers_are_kept_for_updates(tmp_path: Path) -> None:
    project = render(tmp_path, project_name="Churn Model", author_email="ml@example.org")
    answers = json.loads((project / ".cookiecutter.json").read_text())
    assert answers["repo_name"] == "churn-model"
    assert answers["author_email"] == "ml@example.org"
    # Where and from which commit it was rendered is cruft's business (.cruft.json): in the
    # answers it would differ between the renders `cruft update` compares.
    leaked = {"_output_dir", "_repo_dir", "_checkout", "_template", "_commit"} & answers.keys()
    assert not leaked, f"machine or provenance keys in .cookiecutter.json: {sorted(leaked)}"
    again = render(tmp_path / "again", project_name="Churn Model", author_email="ml@example.org")
    assert (again / ".cookiecutter.json").read_text() == (
        project / ".cookiecutter.json"
    ).read_text(), "the same answers must give the same .cookiecutter.json"


def test_derived_names_follow_the_project_name(tmp_path: Path) -> None:
    project = render(tmp_path, project_name="Fraud Detection")
    answers = json.loads((project / ".cookiecutter.json").read_text())
    assert project.name == "fraud-detection"
    assert answers["s3_bucket"] == "fraud-detection-ml-data"
    assert answers["model_name"] == "fraud_detection_model"
    assert answers["mlflow_experiment_name"] == "fraud-detection"
    assert 'name = "fraud-detection"' in (project / "pyproject.toml").read_text()


def test_env_file_has_fresh_private_secrets(tmp_path: Path) -> None:
    first = render(tmp_path / "a")
    second = render(tmp_path / "b")
    env_a = (first / ".env").read_text()
    env_b = (second / ".env").read_text()
    secrets_a = re.findall(r"^\w+_PASSWORD=(.+)$", env_a, re.MULTILINE)
    assert secrets_a and all(len(value) >= 32 for value in secrets_a)
    assert set(secrets_a).isdisjoint(re.findall(r"^\w+_PASSWORD=(.+)$", env_b, re.MULTILINE))
    assert "admin/admin" not in env_a and not re.search(r"_PASSWORD=admin$", env_a, re.MULTILINE)
    assert ".env" in (first / ".gitignore").read_text().splitlines()
    assert (first / ".env").stat().st_mode & 0o077 == 0
    (fernet,) = re.findall(r"^AIRFLOW_FERNET_KEY=(.+)$", env_a, re.MULTILINE)
    assert len(base64.urlsafe_b64decode(fernet)) == 32
    # `make env` (the same script) never overwrites an existing .env.
    run([sys.executable, "scripts/generate_env.py"], first)
    assert (first / ".env").read_text() == env_a


@pytest.mark.parametrize(
    ("license_name", "marker"),
    [
        ("MIT", "MIT License"),
        ("Apache-2.0", "Apache License"),
        ("Proprietary", "All rights reserved"),
    ],
)
def test_license_follows_the_choice(tmp_path: Path, license_name: str, marker: str) -> None:
    project = render(tmp_path, license=license_name, author_name="Data Team")
    text = (project / "LICENSE").read_text()
    assert marker in text and "Data Team" in text
