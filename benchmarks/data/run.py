"""Render the template and run the data layer benchmark inside the generated project.

    uv run python benchmarks/data/run.py                              # 1M and 10M rows
    uv run python benchmarks/data/run.py --rows 1000000 10000000 50000000
    uv run python benchmarks/data/run.py --rows 100000 1000000        # quicker
    uv run python benchmarks/data/run.py --phases bronze silver gold  # some steps only

Writes benchmarks/results/data.json and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import RESULTS, prepare_project, run_in_project

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--project", type=Path, help="An already rendered project (default: render one)"
    )
    parser.add_argument("--rows", nargs="+", default=["1000000", "10000000"])
    parser.add_argument("--features", default="10")
    parser.add_argument("--days", default="1", help="ingest days (1: one day holds all rows)")
    parser.add_argument("--max-rows", default="200000", help="training's max_rows")
    parser.add_argument("--phases", nargs="+", help="default: every phase")
    parser.add_argument("--workdir", type=Path, help="Where the lakes go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each size's lake")
    parser.add_argument("--output", type=Path, default=RESULTS / "data.json")
    args = parser.parse_args()
    project = prepare_project(args.project)
    arguments = [
        "--rows", *args.rows, "--features", args.features, "--days", args.days,
        "--max-rows", args.max_rows, "--output", str(args.output.resolve()),
    ]  # fmt: skip
    if args.phases:
        arguments += ["--phases", *args.phases]
    if args.workdir:
        arguments += ["--workdir", str(args.workdir.resolve())]
    if args.keep:
        arguments.append("--keep")
    return run_in_project(project, HERE / "data_benchmark.py", *arguments)


if __name__ == "__main__":
    sys.exit(main())
