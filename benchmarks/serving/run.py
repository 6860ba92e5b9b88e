"""Render the template, set the project up and run the serving and batch benchmarks.

    uv run python benchmarks/serving/run.py [--seconds 15] [--rows 1000000]
                                            [--problem-type regression]

Figures are printed and written to benchmarks/results/{serving,batch_inference}.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15, help="Load per server and route.")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the batch run.")
    parser.add_argument("--problem-type", default="classification")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args()
    project = Path(
        cookiecutter(
            str(ROOT), no_input=True, overwrite_if_exists=True, output_dir=str(args.output),
            extra_context={"problem_type": args.problem_type, "include_airflow": "no"},
        )
    )  # fmt: skip
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True)
    state = args.output / f"state-{args.problem_type}"
    run = ["uv", "run", "--quiet", "python"]
    subprocess.run(
        [*run, str(HERE / "bench_serving.py"), "--seconds", str(args.seconds),
         "--connections", str(args.connections), "--state", str(state)],
        cwd=project, check=True,
    )  # fmt: skip
    subprocess.run(
        [*run, str(HERE / "bench_batch.py"), "--rows", str(args.rows), "--state", str(state)],
        cwd=project, check=True,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
