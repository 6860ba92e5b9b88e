"""Drift check vs a plain Evidently DataDriftPreset run: seconds and per-column decisions.

Runs inside a rendered project (its `src` and its virtual environment); `run.py` next to
this file renders one and calls this script there. Both sides get the same reference and
current frames; the plain side is `Report([DataDriftPreset(columns)], include_tests=True)`
with its snapshot turned into a dict (no HTML), exactly what the project used to run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Run with the project as its working folder: its tests package holds the reference run.
sys.path.insert(0, str(Path.cwd()))
from tests.drift_reference import run_plain_preset


def make_frames(rows: int, features: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current data whose drift scores straddle the default thresholds."""
    rng = np.random.default_rng(seed)
    names = [f"feature_{index:02d}" for index in range(features)]
    reference = pd.DataFrame(rng.normal(0, 1, (rows, features)), columns=names)
    current = pd.DataFrame(rng.normal(0, 1, (rows, features)), columns=names)
    # Mean shifts from 0 to 0.25 standard deviations: normed Wasserstein scores from ~0 to
    # ~0.25 around its 0.1 threshold, so several columns sit close to the decision.
    current += np.linspace(0, 0.25, features)
    # A spread change, a discrete column (Jensen-Shannon) and missing values.
    current[names[1]] *= 1.3
    reference[names[2]] = rng.integers(0, 5, rows).astype(float)
    current[names[2]] = rng.choice(5, rows, p=[0.3, 0.2, 0.2, 0.2, 0.1]).astype(float)
    current.loc[current.sample(frac=0.01, random_state=seed).index, names[3]] = np.nan
    return reference, current


def run_project(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, tuple[float, bool]]:
    from src.monitoring.config import DriftConfig
    from src.monitoring.drift import detect_drift

    result, _ = detect_drift(reference, current, list(reference.columns), DriftConfig())
    return {column.column: (column.score, column.drifted) for column in result.columns}


def time_import(statement: str) -> float:
    """Seconds a fresh interpreter needs for `statement` (best of three)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def measure(rows: int, features: int, seed: int) -> dict[str, Any]:
    reference, current = make_frames(rows, features, seed)
    # Both sides import Evidently and warm up on a slice before their clocks start.
    warm = (reference.head(2000), current.head(2000))
    run_project(*warm)
    run_plain_preset(*warm)

    started = time.perf_counter()
    ours = run_project(reference, current)
    project_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = run_plain_preset(reference, current)
    plain_seconds = time.perf_counter() - started
    differing = [c for c in plain if plain[c][1] != ours[c][1]]
    score_gap = max(abs(plain[c][0] - ours[c][0]) for c in plain)
    return {
        "rows": rows,
        "features": features,
        "plain_evidently_seconds": round(plain_seconds, 3),
        "project_seconds": round(project_seconds, 3),
        "speedup": round(plain_seconds / project_seconds, 2),
        "columns_drifted": sum(drifted for _, drifted in ours.values()),
        "decisions_agree": not differing,
        "differing_columns": differing,
        "max_score_difference": score_gap,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()

    imports = {
        "import_evidently_seconds": round(time_import("import evidently"), 2),
        "import_pandas_scipy_seconds": round(time_import("import pandas, scipy.stats"), 2),
    }
    runs = [measure(rows, args.features, args.seed) for rows in args.rows]
    print(f"{'rows':>10} {'features':>8} {'plain s':>9} {'project s':>10} {'speedup':>8} "
          f"{'drifted':>8} {'agree':>6} {'max score diff':>15}")  # fmt: skip
    for run in runs:
        print(
            f"{run['rows']:>10} {run['features']:>8} {run['plain_evidently_seconds']:>9.2f} "
            f"{run['project_seconds']:>10.2f} {run['speedup']:>7.1f}x {run['columns_drifted']:>8} "
            f"{'yes' if run['decisions_agree'] else 'NO':>6} {run['max_score_difference']:>15.3g}"
        )
    print(
        f"import evidently: {imports['import_evidently_seconds']} s "
        f"(pandas + scipy.stats alone: {imports['import_pandas_scipy_seconds']} s), "
        "paid once per process by both sides and not included above"
    )
    result = {
        "benchmark": "drift",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        **imports,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0 if all(run["decisions_agree"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
