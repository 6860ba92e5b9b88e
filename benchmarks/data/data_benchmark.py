"""The data and ML steps of the local lake at scale: seconds, rows/s and peak RSS per step.

Runs inside a rendered project (its `src` and its virtual environment); `run.py` next to
this file renders one and calls this script there. For each size, synthetic raw Parquet
files (vectorised numpy; all rows on one ingest day by default, split into files of
`--rows-per-file`) land in a fresh local lake, then each phase runs in a process of its
own so that its peak RSS is its own:

- `bronze`, `silver`, `gold`: the medallion steps for every day, as `make data-pipeline`
  does, with typing, quality rules (0.1% of rows are bad and quarantined) and commits;
- `parse_bound`: the same raw files read with PyArrow and written as Parquet, nothing
  else: what any pipeline has to do at least;
- `retrieval`: the point-in-time training set from the gold table, the seeded sample of
  at most `--max-rows` rows that training reads (`get_training_set`);
- `scan_bound`: the same gold columns scanned into pandas, without the join;
- `training`: the training steps (`ProjectContext.run_training`, `--trials` trials of
  `--folds` folds) on that sample, to a `production` model in a local MLflow store;
- `batch_inference`: the day scored by that model (`run_batch_inference`: streamed
  batches, the predictions file, the table's rows of the day, the drift of the day);
- `drift_check`: the monitoring check of the predictions window (`run_drift_check`), as
  `make drift-check` runs it.

The ratios bronze+silver+gold/parse_bound and retrieval/scan_bound compare with the
bounds; time(N2)/time(N1) against N2/N1 says how time grows with rows (1.0 = linear);
the peak RSS ratio largest/smallest size says which steps hold memory that grows with
the data (targets: batch inference and the drift check within 1.5x; training set by
`--max-rows`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PIPELINE_STEPS = ("bronze", "silver", "gold")
PHASES = (*PIPELINE_STEPS, "parse_bound", "retrieval", "scan_bound", "training",
          "batch_inference", "drift_check")  # fmt: skip
MODEL_NAME = "bench_model"
FIRST_DAY = date(2025, 1, 1)
BAD_ROW_SHARE = 0.001


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_view(features: int) -> Any:
    from src.data.feature_store import Column, FeatureView

    return FeatureView(
        name="bench_features",
        dataset="bench",
        entity=Column(name="entity_id", dtype="string"),
        event_timestamp="event_time",
        label=Column(name="label", dtype="int64", values=[0, 1]),
        features=[
            Column(name=f"f_{i:02d}", dtype="float64", min=-100, max=100) for i in range(features)
        ],
    )


def bench_rules() -> Any:
    """The contract's checks (types, presence, bounds, the label's values); bad files block."""
    from src.data.quality import QualityConfig

    return QualityConfig(raw_files="block")


def settings_for(workdir: Path) -> Any:
    from src.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="local",
        data_dir=workdir / "data",
        reports_dir=workdir / "reports",
        mlflow_tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        mlflow_artifact_root=str(workdir / "mlartifacts"),
        model_name=MODEL_NAME,
    )


def raw_folder(workdir: Path) -> Path:
    return workdir / "data" / "lake" / "raw" / "bench"


def generate(
    workdir: Path, rows: int, features: int, days: int, rows_per_file: int, seed: int = 7
) -> None:
    """Parquet raw files, `rows_per_file` rows each, spread over `days` ingest days; ~10
    events per entity; half the rows labelled, the label a noisy function of two features
    (so a model beats the baseline and is promoted)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    entities = max(rows // 10, 1)
    per_day = rows // days
    for index in range(days):
        day = FIRST_DAY + timedelta(days=index)
        day_rows = per_day if index < days - 1 else rows - per_day * (days - 1)
        start = np.datetime64(datetime(day.year, day.month, day.day), "us")
        folder = raw_folder(workdir) / f"ingest_date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        for part, offset in enumerate(range(0, day_rows, rows_per_file)):
            count = min(rows_per_file, day_rows - offset)
            values = rng.normal(0, 10, (features, count)).round(4)
            signal = values[0] + values[1] + rng.normal(0, 10, count)
            label = pa.array((signal > 0).astype(np.int64), mask=rng.random(count) < 0.5)
            ids = pc.cast(pa.array(rng.integers(0, entities, count)), pa.string())
            columns: dict[str, Any] = {
                "entity_id": pc.binary_join_element_wise("E", ids, ""),
                "event_time": pa.array(
                    start + rng.integers(0, 86_400_000_000, count).astype("timedelta64[us]"),
                    pa.timestamp("us", tz="UTC"),
                ),
            }
            for feature in range(features):
                columns[f"f_{feature:02d}"] = pa.array(values[feature])
            columns["label"] = label
            bad = pa.array(rng.random(count) < BAD_ROW_SHARE)
            columns["f_00"] = pc.if_else(bad, "n/a", pc.cast(columns["f_00"], pa.string()))
            pq.write_table(pa.table(columns), folder / f"bench-{part:04d}.parquet")


def raw_files(workdir: Path) -> list[Path]:
    return sorted(raw_folder(workdir).rglob("*.parquet"))


def bench_context(workdir: Path, features: int) -> Any:
    """The project's own wiring (src/context.py) on the benchmark's lake, contract and rules."""
    from src.context import ProjectContext

    context = ProjectContext(settings_for(workdir))
    context.view, context.quality = bench_view(features), bench_rules()
    return context


def run_pipeline_step(workdir: Path, step: str, features: int, days: int) -> dict[str, Any]:
    from src.data.intervals import DataInterval

    context = bench_context(workdir, features)
    quarantined = gold = 0
    for index in range(days):
        interval = DataInterval.for_day(FIRST_DAY + timedelta(days=index))
        report = context.run_data_pipeline(interval, (step,))
        quarantined += report.rows_quarantined
        gold += report.gold_rows
    return {"quarantined": quarantined, "gold_rows": gold}


def run_parse_bound(workdir: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    out = workdir / "bound"
    out.mkdir(exist_ok=True)
    rows = 0
    for path in raw_files(workdir):
        table = pq.read_table(path)
        pq.write_table(table, out / f"{path.parent.name}-{path.name}")
        rows += table.num_rows
    return {"rows_written": rows}


def training_sample(max_rows: int) -> Any:
    from src.data.feature_store import TrainingSample

    return TrainingSample(max_rows=max_rows, seed=42, stratified=True)


def run_retrieval(workdir: Path, features: int, max_rows: int) -> dict[str, Any]:
    from src.data.feature_store import get_training_set

    context = bench_context(workdir, features)
    training, _ = get_training_set(context.lake, context.view, training_sample(max_rows))
    return {"training_rows": len(training)}


def bench_training_config(max_rows: int, trials: int, folds: int) -> Any:
    from src.model.train import TrainingConfig

    return TrainingConfig.model_validate(
        {
            "task": "classification",
            "data": {"max_rows": max_rows, "reference_rows": 50_000},
            "model": {"estimator": "sklearn.linear_model.LogisticRegression",
                      "params": {"max_iter": 200}},
            "search": {"n_trials": trials, "cv_folds": folds,
                       "space": {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}}},
            "evaluation": {"segments": 3},
            "promotion": {"gate_metric": "roc_auc", "min_improvement_over_baseline": 0.05,
                          "min_improvement_over_production": 0.0},
        }
    )  # fmt: skip


def run_training(
    workdir: Path, features: int, max_rows: int, trials: int, folds: int
) -> dict[str, Any]:
    context = bench_context(workdir, features)
    context.training = bench_training_config(max_rows, trials, folds)
    outcome = context.run_training()
    if outcome.decision.state != "production":
        raise SystemExit(f"the benchmark model was not promoted: {outcome.decision.reason}")
    return {"model_version": outcome.version, "max_rows": max_rows}


def run_batch_inference_phase(workdir: Path, features: int) -> dict[str, Any]:
    from src.monitoring.drift import MonitoringConfig
    from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

    context = bench_context(workdir, features)
    context.monitoring = MonitoringConfig()
    outcome = run_batch_inference(context, FIRST_DAY)
    return {"scored_rows": outcome.rows, "drift": outcome.drift}


def run_drift_check_phase(workdir: Path, features: int) -> dict[str, Any]:
    from src.monitoring.drift import MonitoringConfig
    from src.pipelines.DS.monitoring_pipeline import run_drift_check

    context = bench_context(workdir, features)
    context.monitoring = MonitoringConfig()
    run = run_drift_check(context, FIRST_DAY, datetime.now(UTC))
    return {"checked_rows": run.outcome.drift.current_rows, "verdict": run.outcome.verdict()}


def run_scan_bound(workdir: Path, features: int) -> dict[str, Any]:
    from src.data.feature_store import INGEST_DATE

    context = bench_context(workdir, features)
    view = context.view
    columns = [*view.key_columns, *view.feature_names, view.label.name, INGEST_DATE]
    frame = context.lake.read(view.table, columns=columns).to_pandas()
    return {"scanned_rows": len(frame)}


def import_everything() -> None:
    """Import before the clock starts: the figures are about work, not interpreter start."""
    import pyarrow.parquet  # noqa: F401
    import src.context
    import src.data.feature_store
    import src.monitoring.drift
    import src.pipelines.DE.pipeline
    import src.pipelines.DS.inference_pipeline.pipeline
    import src.pipelines.DS.monitoring_pipeline
    import src.pipelines.DS.training_pipeline  # noqa: F401


def run_phase(phase: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import_everything()
    baseline = peak_rss_mib()
    started = time.perf_counter()
    features = args.features
    if phase in PIPELINE_STEPS:
        detail = run_pipeline_step(workdir, phase, features, args.days)
    elif phase == "parse_bound":
        detail = run_parse_bound(workdir)
    elif phase == "retrieval":
        detail = run_retrieval(workdir, features, args.max_rows)
    elif phase == "scan_bound":
        detail = run_scan_bound(workdir, features)
    elif phase == "training":
        detail = run_training(workdir, features, args.max_rows, args.trials, args.folds)
    elif phase == "batch_inference":
        detail = run_batch_inference_phase(workdir, features)
    else:
        detail = run_drift_check_phase(workdir, features)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": baseline,
        **detail,
    }


def child(phase: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its last stdout line is the JSON result."""
    command = [
        sys.executable, __file__, "--phase", phase, "--workdir", str(workdir),
        "--features", str(args.features), "--days", str(args.days),
        "--max-rows", str(args.max_rows), "--trials", str(args.trials),
        "--folds", str(args.folds),
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{finished.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def measure(rows: int, args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    workdir = root / f"rows_{rows}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    generate(workdir, rows, args.features, args.days, args.rows_per_file)
    raw_bytes = sum(path.stat().st_size for path in raw_files(workdir))
    print(f"  {rows:>11,} rows: {raw_bytes / 2**20:,.0f} MiB of Parquet generated in "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    results = []
    for phase in args.phases:
        result = child(phase, workdir, args)
        result.update(rows=rows, phase=phase, rows_per_second=rows / result["seconds"])
        print(f"  {rows:>11,} rows: {phase:<15} {result['seconds']:8.1f} s "
              f"{result['peak_rss_mib']:8,.0f} MiB", flush=True)  # fmt: skip
        results.append(result)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def phase_result(results: list[dict[str, Any]], rows: int, phase: str) -> dict[str, Any] | None:
    return next((r for r in results if r["rows"] == rows and r["phase"] == phase), None)


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per phase, from each size to the next and from the smallest to the largest."""
    sizes = sorted({result["rows"] for result in results})
    pairs = list(itertools.pairwise(sizes))
    if len(sizes) > 2:
        pairs.append((sizes[0], sizes[-1]))
    table = []
    for small, large in pairs:
        for phase in PHASES:
            before = phase_result(results, small, phase)
            after = phase_result(results, large, phase)
            if before is None or after is None:
                continue
            time_ratio = after["seconds"] / before["seconds"]
            table.append(
                {
                    "phase": phase,
                    "from_rows": small,
                    "to_rows": large,
                    "rows_ratio": large / small,
                    "time_ratio": time_ratio,
                    "time_ratio_per_row_ratio": time_ratio / (large / small),
                    "peak_rss_ratio": after["peak_rss_mib"] / before["peak_rss_mib"],
                }
            )
    return table


BOUNDS = {"retrieval": "scan_bound"}


def print_tables(results: list[dict[str, Any]], growth_rows: list[dict[str, Any]]) -> None:
    columns = ("rows", "phase", "seconds", "rows/s", "peak MiB", "vs bound")
    print("\n{:>11} {:<15} {:>9} {:>12} {:>9} {:>9}".format(*columns))
    for result in results:
        ratio = ""
        bound = phase_result(results, result["rows"], BOUNDS.get(result["phase"], ""))
        if result["phase"] == "gold":
            bound = phase_result(results, result["rows"], "parse_bound")
            steps = [phase_result(results, result["rows"], step) for step in PIPELINE_STEPS]
            if bound and all(steps):
                total = sum(step["seconds"] for step in steps if step)
                ratio = f"{total / bound['seconds']:8.1f}x"
        elif bound:
            ratio = f"{result['seconds'] / bound['seconds']:8.1f}x"
        print(
            f"{result['rows']:>11,} {result['phase']:<15} {result['seconds']:>9.1f} "
            f"{result['rows_per_second']:>12,.0f} {result['peak_rss_mib']:>9,.0f} {ratio:>9}"
        )
    if growth_rows:
        print("\n(gold's 'vs bound' is bronze+silver+gold against parse_bound)")
        print(f"\n{'phase':<15} {'from':>11} {'to':>11} {'rows x':>7} {'time x':>7} "
              f"{'time x / rows x':>16} {'peak RSS x':>11}")  # fmt: skip
        for row in growth_rows:
            print(
                f"{row['phase']:<15} {row['from_rows']:>11,} {row['to_rows']:>11,} "
                f"{row['rows_ratio']:>7.1f} {row['time_ratio']:>7.1f} "
                f"{row['time_ratio_per_row_ratio']:>16.2f} {row['peak_rss_ratio']:>11.2f}"
            )


def write_output(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    if not args.output:
        return
    args.output.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "benchmark": "data",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "features": args.features,
        "days": args.days,
        "rows_per_file": args.rows_per_file,
        "max_rows": args.max_rows,
        "trials": args.trials,
        "folds": args.folds,
        "results": results,
        "growth": growth(results),
    }
    args.output.write_text(json.dumps(content, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", nargs="+", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--days", type=int, default=1, help="ingest days the rows spread over")
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    parser.add_argument(
        "--max-rows",
        type=int,
        default=200_000,
        help="training's max_rows (the sample retrieval and training read)",
    )
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--keep", action="store_true", help="keep each size's lake")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path.cwd()))
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.workdir, args)))
        return 0

    root = args.workdir or Path(tempfile.mkdtemp(prefix="data-bench-"))
    print(f"data benchmark: {args.features} features, {args.days} day(s), files of "
          f"{args.rows_per_file:,} rows, max_rows {args.max_rows:,}, in {root}; "
          f"load average {os.getloadavg()}")  # fmt: skip
    results: list[dict[str, Any]] = []
    for rows in args.rows:
        results.extend(measure(rows, args, root))
        write_output(args, results)
    print_tables(results, growth(results))
    print(f"\nload average at the end: {os.getloadavg()}")
    if args.output:
        print(f"written {args.output}")
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
