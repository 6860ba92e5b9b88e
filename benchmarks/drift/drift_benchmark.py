"""The project's drift check vs a plain Evidently DataDriftPreset run: seconds and decisions.

Runs inside a rendered project (its `src` and its virtual environment); `run.py` next to
this file renders one and calls this script there. Both sides get the same reference and
current tables. The plain side is `Report([DataDriftPreset(columns)], include_tests=True)` on
the whole tables, turned into a dict (no HTML). The project's side is what `make drift-check`
does with them: a seeded sample of at most `drift.max_current_rows` current and
`drift.max_reference_rows` reference rows (config/monitoring.yaml), then its Evidently
report (drift of every column and data quality). Decisions are compared column by column.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

# Mean shifts in standard deviations, cycled over the numerical columns: none, small, clear
# and large, so that some columns drift and others do not, none at the edge of its threshold
# where a sample and the whole table could decide differently.
SHIFTS = (0.0, 0.03, 0.3, 1.0)
CATEGORY, FLAG = "plan", "is_member"


def make_frames(rows: int, features: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current data: `features` columns, a category, a boolean, the rest numbers."""
    rng = np.random.default_rng(seed)
    numbers = features - 2
    names = [f"feature_{index:02d}" for index in range(numbers)]
    reference = pd.DataFrame(rng.normal(0, 1, (rows, numbers)), columns=names)
    current = pd.DataFrame(rng.normal(0, 1, (rows, numbers)), columns=names)
    current += [SHIFTS[index % len(SHIFTS)] for index in range(numbers)]
    current.loc[current.sample(frac=0.01, random_state=seed).index, names[0]] = np.nan
    plans = ["basic", "plus", "pro", "team"]
    reference[CATEGORY] = rng.choice(plans, rows)
    current[CATEGORY] = rng.choice(plans, rows, p=[0.55, 0.15, 0.15, 0.15])
    reference[FLAG] = rng.random(rows) < 0.3
    current[FLAG] = rng.random(rows) < 0.31
    return reference, current


def run_plain_preset(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, bool]:
    """Each column's decision from a plain DataDriftPreset run on the whole tables."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    categorical = [CATEGORY, FLAG]
    numerical = [column for column in reference.columns if column not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    content = (
        Report([DataDriftPreset(columns=list(reference.columns))], include_tests=True)
        .run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        .dict()
    )
    return {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in content["tests"]
        if test["id"] == "drift"
    }


def run_project(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, bool]:
    """What `make drift-check` does with the two tables, decisions per column."""
    from src.context import build_context
    from src.data.feature_store import Column
    from src.data.sampling import sample_batches
    from src.monitoring.drift import MonitoringConfig, run_drift_report

    config = MonitoringConfig()
    types = {CATEGORY: "string", FLAG: "bool"}
    columns = [Column(name=name, dtype=types.get(name, "float64")) for name in reference.columns]
    view = build_context().view.model_copy(update={"features": columns})
    drift = config.drift
    sizes = [(reference, drift.max_reference_rows), (current, drift.max_current_rows)]
    bounded = [
        sample_batches(pa.Table.from_pandas(frame).to_batches(), rows, drift.sample_seed)
        for frame, rows in sizes
    ]
    sampled_reference, sampled_current = (table.to_pandas() for table in bounded)
    result, _ = run_drift_report(sampled_reference, sampled_current, view, "classification", config)
    return {column.column: column.drifted for column in result.columns}


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
    differing = [column for column in plain if plain[column] != ours[column]]
    return {
        "rows": rows,
        "features": features,
        "plain_evidently_seconds": round(plain_seconds, 3),
        "project_seconds": round(project_seconds, 3),
        "speedup": round(plain_seconds / project_seconds, 2),
        "columns_drifted": sum(ours.values()),
        "drifted": sorted(column for column, drifted in plain.items() if drifted),
        "decisions_agree": not differing,
        "differing_columns": differing,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--features", type=int, default=30, help="columns, two of them categorical")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()

    runs = [measure(rows, args.features, args.seed) for rows in args.rows]
    print(f"{'rows':>10} {'columns':>8} {'plain s':>9} {'project s':>10} {'speedup':>8} "
          f"{'drifted':>8} {'agree':>6}")  # fmt: skip
    for run in runs:
        print(
            f"{run['rows']:>10} {run['features']:>8} {run['plain_evidently_seconds']:>9.2f} "
            f"{run['project_seconds']:>10.2f} {run['speedup']:>7.1f}x {run['columns_drifted']:>8} "
            f"{'yes' if run['decisions_agree'] else 'NO':>6}"
        )
    machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
    result = {"benchmark": "drift", "machine": machine, "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0 if all(run["decisions_agree"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
