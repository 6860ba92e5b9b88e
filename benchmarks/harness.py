"""What every benchmark runner does first: render the template and run inside the project.

Benchmarks measure the generated project's own code, so each runner renders the template
(defaults unless told otherwise), installs the project's environment with uv and runs its
script with the project's interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The environment the template's tests give a rendered project: the project's own
# interpreter (not the template's), telemetry off, make's variables dropped.
from tests.conftest import tool_env as project_env  # noqa: E402

# BENCH_RESULTS: where a run writes its figures (the template test keeps them out of results/).
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "benchmarks" / "results"))
# BENCH_BUILD: where the rendered project goes (each template test run has its own).
BENCH_BUILD = Path(os.environ.get("BENCH_BUILD", ROOT / "build" / "bench"))


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
    subprocess.run(
        ["uv", "sync", "--locked", "--quiet"], cwd=project, env=project_env(), check=True
    )
    return project


def run_in_project(project: Path, script: Path, *arguments: str) -> int:
    """Run a benchmark script with the project's Python, in the project folder."""
    command = ["uv", "run", "--quiet", "python", str(script), *arguments]
    return subprocess.run(command, cwd=project, env=project_env(), check=False).returncode
