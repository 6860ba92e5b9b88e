"""What every benchmark runner does first: render the template and run inside the project.

Benchmarks measure the generated project's own code, so each runner renders the template
(defaults unless told otherwise), installs the project's environment with uv and runs its
script with the project's interpreter.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCH_BUILD = ROOT / "build" / "bench"


def prepare_project(project: Path | None = None, **options: Any) -> Path:
    """An installed rendered project: `project` as given, or the template rendered anew."""
    if project is None:
        project = Path(
            cookiecutter(
                str(ROOT),
                no_input=True,
                output_dir=str(BENCH_BUILD),
                overwrite_if_exists=True,
                extra_context=options,
            )
        )
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=project_env(), check=True)
    return project


def project_env() -> dict[str, str]:
    """The environment for the project's own interpreter, not the template's."""
    return {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}


def run_in_project(project: Path, script: Path, *arguments: str) -> int:
    """Run a benchmark script with the project's Python, in the project folder."""
    command = ["uv", "run", "--quiet", "python", str(script), *arguments]
    return subprocess.run(command, cwd=project, env=project_env(), check=False).returncode
