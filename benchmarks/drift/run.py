"""Render the template and run the drift benchmark inside the generated project.

    uv run python benchmarks/drift/run.py                    # 1M rows x 30 features
    uv run python benchmarks/drift/run.py --rows 3000        # the smallest, a minute

Writes benchmarks/results/drift.json and prints the table. Exit 1 if any per-column
decision differs from the plain Evidently run on the whole table.
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
    parser.add_argument("--rows", nargs="+", default=["1000000"])
    parser.add_argument("--features", default="30")
    parser.add_argument("--output", type=Path, default=RESULTS / "drift.json")
    args = parser.parse_args()
    project = prepare_project(args.project)
    arguments = [
        "--rows", *args.rows, "--features", args.features, "--output", str(args.output.resolve()),
    ]  # fmt: skip
    return run_in_project(project, HERE / "drift_benchmark.py", *arguments)


if __name__ == "__main__":
    sys.exit(main())
