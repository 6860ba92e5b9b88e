"""Bronze-to-gold and training-set retrieval on the local lake: rows/s, peak memory, growth.

Runs inside a rendered project (its `src` and its virtual environment); `run.py` next to
this file renders one and calls this script there. For each size, synthetic raw CSV files
(one per day) land in a fresh local lake, then each phase runs in a process of its own so
that its peak RSS is its own:

- `pipeline`: bronze -> silver -> gold for every day, as `make data-pipeline` does, with
  typing, quality rules (0.1% of rows are bad and quarantined) and Iceberg commits;
- `parse_bound`: the same CSV files read with PyArrow and written as Parquet, nothing
  else: what any pipeline has to do at least;
- `retrieval`: the point-in-time training set from the gold table (`get_training_set`);
- `scan_bound`: the same gold columns scanned into pandas, without the join.

The ratios pipeline/parse_bound and retrieval/scan_bound are the figures to compare;
time(N2)/time(N1) against N2/N1 says how time grows with rows (1.0 = linear).
"""

from __future__ import annotations

import argparse
import itertools
import json
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

PHASES = ("pipeline", "parse_bound", "retrieval", "scan_bound")
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
        label=Column(name="label", dtype="int64"),
        features=[Column(name=f"f_{i:02d}", dtype="float64") for i in range(features)],
    )


def bench_rules() -> Any:
    from src.data.quality import (
        AllowedValuesRule,
        NotNullRule,
        QualityConfig,
        RangeRule,
        SchemaRule,
    )

    return QualityConfig(
        rules=[
            SchemaRule(name="raw_schema", type="schema", action="block"),
            NotNullRule(name="features_present", type="not_null", columns=["$features"]),
            RangeRule(name="plausible", type="range", columns=["$features"], min=-100, max=100),
            AllowedValuesRule(name="classes", type="allowed_values", column="label", values=[0, 1]),
        ]
    )


def settings_for(workdir: Path) -> Any:
    from src.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="local",
        data_dir=workdir / "data",
        reports_dir=workdir / "reports",
    )


def raw_folder(workdir: Path) -> Path:
    return workdir / "data" / "lake" / "raw" / "bench"


def generate(workdir: Path, rows: int, features: int, days: int, seed: int = 7) -> None:
    """One CSV per day; ~10 events per entity over the days; half the rows labelled."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    entities = max(rows // 10, 1)
    per_day = rows // days
    for index in range(days):
        day = FIRST_DAY + timedelta(days=index)
        count = per_day if index < days - 1 else rows - per_day * (days - 1)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        seconds = rng.integers(0, 86_400, count)
        label = rng.integers(0, 2, count).astype(float)
        label[rng.random(count) < 0.5] = np.nan
        columns: dict[str, Any] = {
            "entity_id": pa.array(np.char.add("E", rng.integers(0, entities, count).astype(str))),
            "event_time": pa.array(
                np.datetime64(start.replace(tzinfo=None), "us") + seconds.astype("timedelta64[s]"),
                pa.timestamp("us", tz="UTC"),
            ),
        }
        for feature in range(features):
            columns[f"f_{feature:02d}"] = pa.array(rng.normal(0, 10, count).round(4))
        columns["label"] = pa.array(label, pa.float64(), from_pandas=True).cast(pa.int64())
        table = pa.table(columns)
        bad = rng.random(count) < BAD_ROW_SHARE
        first = table.column("f_00").cast(pa.string()).to_numpy(zero_copy_only=False).astype(object)
        first[bad] = "n/a"
        table = table.set_column(2, "f_00", pa.array(first, pa.string()))
        folder = raw_folder(workdir) / f"ingest_date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        pa_csv.write_csv(table, folder / "bench.csv")


def run_pipeline(workdir: Path, features: int, days: int) -> dict[str, Any]:
    from src.context import ProjectContext
    from src.data.intervals import DataInterval
    from src.pipelines.DE.pipeline import run_data_pipeline

    context = ProjectContext(settings_for(workdir))
    view, rules = bench_view(features), bench_rules()
    steps: dict[str, float] = {}
    quarantined = gold = 0
    for step in ("bronze", "silver", "gold"):
        started = time.perf_counter()
        for index in range(days):
            day = FIRST_DAY + timedelta(days=index)
            result = run_data_pipeline(
                context.lake, context.store, view, "raw", DataInterval.for_day(day),
                quality=rules, steps=(step,),  # type: ignore[arg-type]
            )  # fmt: skip
            quarantined += result.silver.rows_quarantined if result.silver else 0
            gold += result.gold.rows if result.gold else 0
        steps[step] = time.perf_counter() - started
    return {"steps": steps, "quarantined": quarantined, "gold_rows": gold}


def run_parse_bound(workdir: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    out = workdir / "bound"
    out.mkdir(exist_ok=True)
    rows = 0
    for path in sorted(raw_folder(workdir).rglob("*.csv")):
        header = path.open().readline().strip().split(",")
        as_text = pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
        table = pa_csv.read_csv(path, convert_options=as_text)
        pq.write_table(table, out / f"{path.parent.name}.parquet")
        rows += table.num_rows
    return {"rows_written": rows}


def run_retrieval(workdir: Path, features: int) -> dict[str, Any]:
    from src.context import ProjectContext
    from src.data.feature_store import get_training_set

    context = ProjectContext(settings_for(workdir))
    training = get_training_set(context.lake, bench_view(features))
    return {"training_rows": len(training)}


def run_scan_bound(workdir: Path, features: int) -> dict[str, Any]:
    from src.context import ProjectContext
    from src.data.feature_store import INGEST_DATE

    view = bench_view(features)
    context = ProjectContext(settings_for(workdir))
    columns = [*view.key_columns, *view.feature_names, view.label.name, INGEST_DATE]
    frame = context.lake.read(view.table, columns=columns).to_pandas()
    return {"scanned_rows": len(frame)}


def import_everything() -> None:
    """Import before the clock starts: the figures are about work, not interpreter start."""
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401
    import src.context
    import src.data.feature_store
    import src.pipelines.DE.pipeline  # noqa: F401


def run_phase(phase: str, workdir: Path, features: int, days: int) -> dict[str, Any]:
    import_everything()
    baseline = peak_rss_mib()
    started = time.perf_counter()
    if phase == "pipeline":
        detail = run_pipeline(workdir, features, days)
    elif phase == "parse_bound":
        detail = run_parse_bound(workdir)
    elif phase == "retrieval":
        detail = run_retrieval(workdir, features)
    else:
        detail = run_scan_bound(workdir, features)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": baseline,
        **detail,
    }


def child(phase: str, workdir: Path, features: int, days: int) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its last stdout line is the JSON result."""
    command = [
        sys.executable, __file__, "--phase", phase, "--workdir", str(workdir),
        "--features", str(features), "--days", str(days),
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{finished.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def measure(rows: int, features: int, days: int, root: Path) -> list[dict[str, Any]]:
    workdir = root / f"rows_{rows}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    generate(workdir, rows, features, days)
    raw_bytes = sum(path.stat().st_size for path in raw_folder(workdir).rglob("*.csv"))
    print(f"  {rows:>11,} rows: {raw_bytes / 2**20:,.0f} MiB of CSV generated in "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    results = []
    for phase in PHASES:
        result = child(phase, workdir, features, days)
        result.update(rows=rows, phase=phase, rows_per_second=rows / result["seconds"])
        print(f"  {rows:>11,} rows: {phase:<12} {result['seconds']:8.1f} s", flush=True)
        results.append(result)
    shutil.rmtree(workdir, ignore_errors=True)
    return results


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sizes = sorted({result["rows"] for result in results})
    table = []
    for small, large in itertools.pairwise(sizes):
        for phase in PHASES:
            before = next(r for r in results if r["rows"] == small and r["phase"] == phase)
            after = next(r for r in results if r["rows"] == large and r["phase"] == phase)
            time_ratio = after["seconds"] / before["seconds"]
            table.append(
                {
                    "phase": phase,
                    "from_rows": small,
                    "to_rows": large,
                    "rows_ratio": large / small,
                    "time_ratio": time_ratio,
                    "time_ratio_per_row_ratio": time_ratio / (large / small),
                }
            )
    return table


def print_tables(results: list[dict[str, Any]], growth_rows: list[dict[str, Any]]) -> None:
    columns = ("rows", "phase", "seconds", "rows/s", "peak MiB", "vs bound")
    print("\n{:>11} {:<12} {:>9} {:>12} {:>9} {:>9}".format(*columns))
    for result in results:
        bound = {"pipeline": "parse_bound", "retrieval": "scan_bound"}.get(result["phase"])
        ratio = ""
        if bound:
            other = next(r for r in results if r["rows"] == result["rows"] and r["phase"] == bound)
            ratio = f"{result['seconds'] / other['seconds']:8.1f}x"
        print(
            f"{result['rows']:>11,} {result['phase']:<12} {result['seconds']:>9.1f} "
            f"{result['rows_per_second']:>12,.0f} {result['peak_rss_mib']:>9,.0f} {ratio:>9}"
        )
    if growth_rows:
        print(f"\n{'phase':<12} {'rows x':>7} {'time x':>7} {'time x / rows x (1.0 = linear)':>32}")
        for row in growth_rows:
            print(
                f"{row['phase']:<12} {row['rows_ratio']:>7.1f} {row['time_ratio']:>7.1f} "
                f"{row['time_ratio_per_row_ratio']:>32.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", nargs="+", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path.cwd()))
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.workdir, args.features, args.days)))
        return 0

    root = args.workdir or Path(tempfile.mkdtemp(prefix="data-bench-"))
    print(f"data layer benchmark: {args.features} features, {args.days} daily files, in {root}")
    results = []
    for rows in args.rows:
        results.extend(measure(rows, args.features, args.days, root))
    growth_rows = growth(results)
    print_tables(results, growth_rows)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        content = {
            "benchmark": "data",
            "machine": {"platform": platform.platform(), "python": platform.python_version()},
            "features": args.features,
            "days": args.days,
            "results": results,
            "growth": growth_rows,
        }
        args.output.write_text(json.dumps(content, indent=2) + "\n")
        print(f"\nwritten {args.output}")
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
