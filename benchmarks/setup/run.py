"""Wall time of a new user's first steps: `make setup` (first and second run) and
`make train-local`, on a freshly rendered project with the uv cache warm.

    uv run python benchmarks/setup/run.py

Writes benchmarks/results/setup.json and prints the table. The ratios say how much of
setup is the dependency install, what a rerun costs against the first run, and how much of
train-local is the training itself against process start-up and imports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import RESULTS, project_env

ROOT = Path(__file__).resolve().parents[2]

# Time of the imports alone: what every CLI command pays before working.
IMPORTS = "import src.cli, src.pipelines.DS.training_pipeline.pipeline, mlflow.sklearn"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=project_env(), check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS / "setup.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["uv", "run", "cookiecutter", "--no-input", str(ROOT), "-o", folder],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        project = Path(folder) / "mlops-project"
        figures = {
            "uv_sync_seconds": timed(["uv", "sync", "--quiet"], project),
            "setup_first_seconds": timed(["make", "setup"], project),
            "setup_again_seconds": timed(["make", "setup"], project),
            "imports_seconds": timed(["uv", "run", "python", "-c", IMPORTS], project),
            "train_local_seconds": timed(["make", "train-local"], project),
        }
    figures["setup_first_seconds"] += figures["uv_sync_seconds"]
    ratios = {
        "install_share_of_setup": figures["uv_sync_seconds"] / figures["setup_first_seconds"],
        "rerun_vs_first_setup": figures["setup_again_seconds"] / figures["setup_first_seconds"],
        "imports_share_of_train_local": figures["imports_seconds"] / figures["train_local_seconds"],
    }
    print(f"{'figure':32} {'value':>10}")
    for name, value in {**figures, **ratios}.items():
        print(f"{name:32} {value:10.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"figures": figures, "ratios": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
