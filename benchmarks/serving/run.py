"""Render the template, set the project up and run the serving, hostile-body and batch
benchmarks.

    uv run python benchmarks/serving/run.py [--seconds 15] [--rows 1000000]
                                            [--problem-type regression]

Figures are printed and written to benchmarks/results/{serving,hostile,batch_inference}.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import BENCH_BUILD, prepare_project, run_in_project

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=15, help="Load per server and route, and per hostile body."
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the batch run.")
    parser.add_argument("--problem-type", default="classification")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=PROJECT",
        help="Also serve another rendered project's API (an older revision).",
    )
    parser.add_argument(
        "--state-root", type=Path, default=BENCH_BUILD, help="Where the benchmark's state goes."
    )
    args = parser.parse_args()
    project = prepare_project(None, problem_type=args.problem_type, include_airflow="no")
    state = args.state_root / f"state-{args.problem_type}"
    # A fresh lake and MLflow store: a model or rows left by an earlier run (older template
    # code, another --rows) would otherwise be measured again.
    shutil.rmtree(state, ignore_errors=True)
    compare = [option for item in args.compare for option in ("--compare", item)]
    serving = run_in_project(
        project, HERE / "bench_serving.py", "--seconds", str(args.seconds),
        "--connections", str(args.connections), "--state", str(state), *compare,
    )  # fmt: skip
    if serving:
        return serving
    hostile = run_in_project(
        project, HERE / "bench_hostile.py", "--seconds", str(args.seconds),
        "--state", str(state), *compare,
    )  # fmt: skip
    if hostile:
        return hostile
    return run_in_project(
        project, HERE / "bench_batch.py", "--rows", str(args.rows), "--state", str(state)
    )


if __name__ == "__main__":
    sys.exit(main())
