"""Finish a freshly rendered project.

Removes the components that were not chosen, writes a gitignored `.env` with freshly
generated secrets, and records the answers in `.cookiecutter.json` so the project can
later be updated from the template (cruft).
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
        "scripts/airflow_local.py",
        "tests/integration/test_dags.py",
        "tests/unit/test_airflow_local.py",
    ),
    ("include_monitoring_stack", "no"): (
        "monitoring",
        "src/monitoring/local_stack.py",
        "tests/integration/test_prometheus.py",
        "tests/promql_names.py",
        "tests/unit/test_monitoring_stack.py",
    ),
    # GitHub's OIDC provider and roles (infra/github.py); the stacks serve any CI/CD.
    ("ci_provider", "none"): (
        ".github",
        "infra/github.py",
    ),
}

# Context keys that describe the machine that rendered the project, not the project.
MACHINE_KEYS = ("_output_dir", "_repo_dir", "_checkout")


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


def write_answers(root: Path) -> None:
    answers = {key: value for key, value in CONTEXT.items() if key not in MACHINE_KEYS}
    (root / ".cookiecutter.json").write_text(json.dumps(answers, indent=2, sort_keys=True) + "\n")


def write_env_file(root: Path) -> None:
    generate_env = runpy.run_path(str(root / "scripts" / "generate_env.py"))
    generate_env["write_env_file"](root / ".env.example", root / ".env")


def main() -> None:
    root = Path.cwd()
    remove_unchosen_components(root)
    write_answers(root)
    write_env_file(root)


if __name__ == "__main__":
    main()
