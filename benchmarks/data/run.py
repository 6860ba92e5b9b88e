"""Render the template and run the data layer benchmark inside the generated project.

    uv run python benchmarks/data/run.py                          # 1M and 10M rows
    uv run python benchmarks/data/run.py --rows 100000 1000000    # quicker

Writes benchmarks/results/data.json and prints the table.
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
    parser.add_argument("--rows", nargs="+", default=["1000000", "10000000"])
    parser.add_argument("--features", default="10")
    parser.add_argument("--days", default="10")
    parser.add_argument("--workdir", type=Path, help="Where the lakes go (default: a temp dir)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "data.json"
    )
    args = parser.parse_args()
    project = args.project or render(ROOT / "build" / "bench")
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True)
    command = [
        "uv", "run", "python", str(HERE / "data_benchmark.py"),
        "--rows", *args.rows, "--features", args.features, "--days", args.days,
        "--output", str(args.output.resolve()),
    ]  # fmt: skip
    if args.workdir:
        command += ["--workdir", str(args.workdir.resolve())]
    # The project's own environment, not the template's.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return subprocess.run(command, cwd=project, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
