"""Finish a freshly rendered project.

Removes the components that were not chosen, installs the uv.lock of the project's
structural variant, writes a gitignored `.env` with freshly generated secrets, and records
the answers in `.cookiecutter.json` so the project can later be linked to the template and
updated from it with cruft (`cruft link`, `cruft update`).
"""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

# JSON text never contains three quotes in a row, so any answer survives this raw string.
CONTEXT: dict[str, object] = json.loads(r"""{{ cookiecutter | jsonify }}""")

# Paths that belong to an optional component, removed when the component is not chosen.
COMPONENT_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("include_airflow", "no"): (
        "airflow",
        "docker/airflow.Dockerfile",
        "docs/orchestration.md",
        "tests/integration/test_dags.py",
    ),
    ("include_monitoring_stack", "no"): (
        "monitoring",
        "tests/integration/test_prometheus.py",
    ),
    # GitHub's OIDC provider and roles (infra/github.py); the stacks serve any CI/CD.
    ("ci_provider", "none"): (
        ".github",
        "infra/github.py",
    ),
}

# The template keeps one resolved lock per structural variant (the options that change
# pyproject.toml's dependencies) under .locks/, with this token where the project's own
# name goes; `make lock` in the template repository writes them.
LOCKS_FOLDER = ".locks"
LOCK_NAME_TOKEN = "__repo_name__"

# Context keys that describe the machine or the template checkout that rendered the project,
# not the project. cruft keeps the template and its commit in .cruft.json; in
# .cookiecutter.json they would change on every update and conflict in linked projects.
MACHINE_KEYS = ("_output_dir", "_repo_dir", "_checkout", "_template", "_commit")


def remove_unchosen_components(root: Path) -> None:
    for (field, value), paths in COMPONENT_PATHS.items():
        if CONTEXT.get(field) != value:
            continue
        for relative in paths:
            path = root / relative
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def lock_variant(context: dict[str, object]) -> str:
    """The file name, under .locks/, of the lock that fits these answers."""
    options = context["_lock_variant_options"]
    if not isinstance(options, list):
        raise SystemExit("cookiecutter.json: _lock_variant_options must list option names")
    return "_".join(f"{option}-{context[option]}" for option in options) + ".lock"


def install_lock(root: Path) -> None:
    """uv.lock for this project: the variant's lock with the project's name in it.

    A render never resolves dependencies: every project of a variant installs the very
    versions the template was tested with.
    """
    locks = root / LOCKS_FOLDER
    variant = locks / lock_variant(CONTEXT)
    token = f'name = "{LOCK_NAME_TOKEN}"'
    lock = variant.read_text() if variant.is_file() else ""
    if lock.count(token) != 1:
        raise SystemExit(
            f"the template has no usable {LOCKS_FOLDER}/{variant.name} (one {token} line): "
            "run `make lock` in the template repository"
        )
    (root / "uv.lock").write_text(lock.replace(token, f'name = "{CONTEXT["repo_name"]}"'))
    shutil.rmtree(locks)


def write_answers(root: Path) -> None:
    answers = {key: value for key, value in CONTEXT.items() if key not in MACHINE_KEYS}
    (root / ".cookiecutter.json").write_text(json.dumps(answers, indent=2, sort_keys=True) + "\n")


def write_env_file(root: Path) -> None:
    generate_env = runpy.run_path(str(root / "scripts" / "generate_env.py"))
    generate_env["write_env_file"](root / ".env.example", root / ".env")


def main() -> None:
    root = Path.cwd()
    remove_unchosen_components(root)
    install_lock(root)
    write_answers(root)
    write_env_file(root)


if __name__ == "__main__":
    main()
