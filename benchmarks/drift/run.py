"""Render the template and run the drift benchmark inside the generated project.

    uv run python benchmarks/drift/run.py                    # 1M rows x 30 features
    uv run python benchmarks/drift/run.py --rows 20000 100000 --features 30   # quick

Writes benchmarks/results/drift.json and prints the table. Exit 1 if any per-column
decision differs from the plain Evidently run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def render(output: Path) -> Path:
    from cookiecutter.main import cookiecutter

    return Path(
        cookiecutter(str(ROOT), no_input=True, output_dir=str(output), overwrite_if_exists=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--project", type=Path, help="An already rendered project (default: render one)"
    )
    parser.add_argument("--rows", nargs="+", default=["1000000"])
    parser.add_argument("--features", default="30")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "drift.json"
    )
    args = parser.parse_args()
    project = args.project or render(ROOT / "build" / "bench")
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True)
    command = [
        "uv", "run", "python", str(HERE / "drift_benchmark.py"),
        "--rows", *args.rows, "--features", args.features, "--output", str(args.output.resolve()),
    ]  # fmt: skip
    # The project's own environment, not the template's.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return subprocess.run(command, cwd=project, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
