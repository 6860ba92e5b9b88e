"""Reproducible installs: every render ships its variant's lock and installs exactly it,
with the Python the answers chose.

Each render test of test_render.py also checks that the shipped lock is current for the
rendered pyproject.toml; here: what `make setup` does with the lock and with
.python-version, as a user meets it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import render, run, run_ok, tool_env

STALE_LOCK_MESSAGE = "pyproject.toml and uv.lock disagree: run 'make lock'"


def interpreter(version: str) -> Path | None:
    """A real python<version> of this machine, pyenv's included, or None."""
    env = dict(os.environ)
    pyenv_versions = Path.home() / ".pyenv" / "versions"
    if pyenv_versions.is_dir():
        # pyenv's shims answer only for the versions PYENV_VERSION names.
        env["PYENV_VERSION"] = ":".join(sorted(path.name for path in pyenv_versions.iterdir()))
    found = shutil.which(f"python{version}", path=env.get("PATH"))
    if found is None:
        return None
    result = subprocess.run(
        [found, "-c", "import sys; print(sys.executable)"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def env_with_pythons(folder: Path, versions: list[str]) -> dict[str, str]:
    """tool_env() whose PATH offers exactly these Python versions and the system tools."""
    folder.mkdir(parents=True, exist_ok=True)
    for version in versions:
        found = interpreter(version)
        if found is None:
            pytest.skip(f"Python {version} is not installed on this machine")
        (folder / f"python{version}").symlink_to(found)
    env = tool_env()
    uv = shutil.which("uv", path=env["PATH"])
    assert uv is not None, "the template's tests run with uv on the PATH"
    # Only the system's own folders beside them: no pyenv shims, no other Pythons.
    env["PATH"] = os.pathsep.join([str(folder), str(Path(uv).parent), "/usr/bin", "/bin"])
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def make(target: str, project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", target],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def frozen_packages(project: Path) -> list[str]:
    """`uv pip freeze` of the project's venv, without the project's own editable line."""
    freeze = run_ok(["uv", "pip", "freeze", "--python", ".venv/bin/python"], project).stdout
    return [line for line in freeze.splitlines() if not line.startswith("-e ")]


def test_a_stale_lock_stops_setup_with_one_line_naming_make_lock(tmp_path: Path) -> None:
    project = render(tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"boto3>=1.35,<2"', '"boto3>=1.36,<2"'))
    for target in ("lock-check", "setup"):
        result = run(["make", target], project)
        assert result.returncode != 0
        ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
        assert len(ours) == 1 and STALE_LOCK_MESSAGE in ours[0], result.stderr
    assert not (project / ".venv").exists(), "nothing is installed from a stale lock"
    run_ok(["make", "lock"], project)
    run_ok(["make", "lock-check"], project)


@pytest.mark.slow
def test_renders_of_the_same_answers_install_the_same_packages(
    default_project: Path, tmp_path: Path
) -> None:
    again = render(tmp_path)
    run_ok(["make", "install"], again)
    assert (again / "uv.lock").read_bytes() == (default_project / "uv.lock").read_bytes()
    assert frozen_packages(again) == frozen_packages(default_project)


@pytest.mark.slow
@pytest.mark.parametrize("python", ["3.13"])
def test_the_chosen_python_is_installed_and_passes_the_fast_checks(
    tmp_path: Path, python: str
) -> None:
    """Renders run on 3.11, the regression render of tests/test_generated_project.py on 3.12
    (its whole suite); 3.13 gets the lint, type check and unit tests on its interpreter."""
    project = render(tmp_path / "render", python_version=python)
    assert (project / ".python-version").read_text().strip() == python
    env = env_with_pythons(tmp_path / "bin", ["3.11", "3.12", "3.13"])
    for target in ("install", "lint", "typecheck", "test-fast"):
        result = make(target, project, env)
        output = result.stdout[-3000:] + result.stderr[-3000:]
        assert result.returncode == 0, f"make {target}: {output}"
    version = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", "import sys; print(sys.version[:4])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == python


def test_a_missing_python_stops_setup_with_one_line_naming_it(tmp_path: Path) -> None:
    project = render(tmp_path / "render", python_version="3.12")
    env = env_with_pythons(tmp_path / "bin", ["3.11"])
    for target in ("install", "setup"):
        result = make(target, project, env)
        assert result.returncode != 0
        ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
        assert len(ours) == 1 and "Python 3.12 (.python-version)" in ours[0], result.stderr
    assert not (project / ".venv").exists(), "no other Python is used instead"
