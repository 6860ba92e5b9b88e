"""A rendered project stays updatable from the template with cruft.

Each test works on a git copy of this template (its tracked and new files, committed), so
that cruft can render it at one commit, the template can move on by a commit, and
`cruft update` has something real to bring over: the user's edits must stay, the template's
change must arrive, and the project's own `.env` (fresh secrets per render) is never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from tests.conftest import TEMPLATE_ROOT, run, run_ok

PROJECT_DIR = "{{cookiecutter.repo_name}}"
GIT = ["git", "-c", "user.name=Template Test", "-c", "user.email=test@example.com"]
GIT_COMMIT = [*GIT, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify"]

# The template's side of an update: a new Makefile target and a change in src.
NEW_TARGET = """
.PHONY: template-news
template-news: ## Print what the template brought in its latest update
\t@echo "template-news: arrived with cruft update"
"""
NEW_ERROR = '''

class UpgradeRequiredError(ProjectError):
    """The project's data or models predate a change that needs a migration first."""
'''

# The user's side: a config value, a Makefile variable and a module of their own.
USER_MODULE = '''"""Business metrics of this team, not part of the template."""


def compute_uplift(treated: float, control: float) -> float:
    """Relative uplift of the treated group over the control group."""
    if control == 0:
        raise ValueError("control rate is zero: uplift is undefined")
    return (treated - control) / control
'''


def cruft(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "cruft", *arguments], cwd)


def make_template_copy(destination: Path) -> tuple[Path, str]:
    """This template's files (tracked, and new ones not ignored) committed in a fresh repo."""
    listed = run_ok(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], TEMPLATE_ROOT
    ).stdout
    for relative in filter(None, listed.split("\0")):
        source = TEMPLATE_ROOT / relative
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination, commit_all(destination, "Template as tested", init=True)


def commit_all(repo: Path, message: str, init: bool = False) -> str:
    if init:
        run_ok(["git", "init", "--quiet", "--initial-branch=main"], repo)
    run_ok(["git", "add", "--all"], repo)
    run_ok([*GIT_COMMIT, "-m", message], repo)
    return run_ok(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def change_template(template: Path) -> str:
    """Commit the template's side of an update; returns the new commit."""
    project = template / PROJECT_DIR
    with (project / "Makefile").open("a") as makefile:
        makefile.write(NEW_TARGET)
    with (project / "src" / "errors.py").open("a") as errors:
        errors.write(NEW_ERROR)
    return commit_all(template, "Add a template-news target and UpgradeRequiredError")


def edit_as_user(project: Path) -> None:
    replace_once(project / "config" / "training.yaml", "\nseed: 42\n", "\nseed: 7\n")
    replace_once(project / "Makefile", "\nAPI_PORT ?= 8000\n", "\nAPI_PORT ?= 8080\n")
    (project / "src" / "model" / "uplift.py").write_text(USER_MODULE)
    commit_all(project, "Our seed, our port, our uplift metric")


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer holds {old!r} exactly once"
    path.write_text(text.replace(old, new))


def changed_paths(project: Path) -> set[str]:
    status = run_ok(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout
    return {line[3:] for line in status.splitlines()}


def assert_update_applied(project: Path, env_before: bytes, new_commit: str) -> None:
    """`cruft update -y` brings exactly the template's change and nothing else."""
    result = cruft("update", "-y", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    # Exactly the template's change: no .rej file, no touched .env, no answers churn.
    assert changed_paths(project) == {".cruft.json", "Makefile", "src/errors.py"}, (
        result.stdout + result.stderr
    )
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
    assert (project / ".env").read_bytes() == env_before, "cruft update touched .env"
    assert "class UpgradeRequiredError(ProjectError):" in (project / "src/errors.py").read_text()
    news = run_ok(["make", "--no-print-directory", "template-news"], project).stdout
    assert "arrived with cruft update" in news
    commit_all(project, "Update from the template")
    checked = cruft("check", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.slow
def test_cruft_update_brings_template_changes_and_keeps_user_edits(tmp_path: Path) -> None:
    template, first_commit = make_template_copy(tmp_path / "template")
    created = cruft(
        "create",
        "--no-input",
        "--output-dir",
        str(tmp_path / "projects"),
        str(template),
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "projects" / "mlops-project"
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (str(template), first_commit)
    assert (project / ".env").is_file(), "cruft create must run the post-gen hook"
    env_before = (project / ".env").read_bytes()
    commit_all(project, "Rendered with cruft create", init=True)
    edit_as_user(project)

    new_commit = change_template(template)
    stale = cruft("check", cwd=project)
    assert stale.returncode != 0, "cruft check must notice the template moved on"
    assert_update_applied(project, env_before, new_commit)

    training = (project / "config" / "training.yaml").read_text()
    assert "\nseed: 7\n" in training
    makefile = (project / "Makefile").read_text()
    assert "\nAPI_PORT ?= 8080\n" in makefile
    assert (project / "src" / "model" / "uplift.py").read_text() == USER_MODULE
    # The merged project is still clean for its own checks (uv run installs the venv).
    run_ok(["make", "lint", "typecheck"], project)


@pytest.mark.slow
def test_plain_cookiecutter_project_links_with_its_answers(tmp_path: Path) -> None:
    template, first_commit = make_template_copy(tmp_path / "template")
    options = {"project_name": "Churn Model", "problem_type": "regression", "ci_provider": "none"}
    project = Path(
        cookiecutter(
            str(template),
            no_input=True,
            output_dir=str(tmp_path / "projects"),
            extra_context=options,
        )
    )
    env_before = (project / ".env").read_bytes()
    commit_all(project, "Rendered with plain cookiecutter", init=True)

    answers = (project / ".cookiecutter.json").read_text()
    linked = cruft(
        "link",
        "--no-input",
        "--checkout",
        first_commit,
        "--extra-context",
        answers,
        str(template),
        cwd=project,
    )
    assert linked.returncode == 0, linked.stdout + linked.stderr
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == first_commit
    public = {key: value for key, value in json.loads(answers).items() if not key.startswith("_")}
    assert {key: state["context"]["cookiecutter"][key] for key in public} == public
    # The answers reproduce the project exactly: nothing differs from the template's render.
    same = cruft("diff", "--exit-code", cwd=project)
    assert same.returncode == 0, same.stdout + same.stderr
    commit_all(project, "Link to the template with cruft")

    new_commit = change_template(template)
    assert_update_applied(project, env_before, new_commit)
