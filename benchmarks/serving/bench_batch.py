"""Batch inference: rows/s through lake read -> predict -> lake write, against raw predict.

Run inside a rendered project's environment (run.py does it). A day of `--rows` rows
(the sample feature rows, repeated) is appended to the gold table; the pipeline's steps
1-5 (load with schema checks, features, predict, store to the object store and the
Iceberg predictions table) are timed on it, the model being loaded beforehand as the
pipeline's fixed cost; the day's earlier benchmark predictions are dropped first, so the
timed run is a first run (a rerun's store step is timed after it). "Raw" is the same
model's predict on the same rows already in memory: the pipeline's own model call
(NumPy), and MLflow's pyfunc on a DataFrame.
Step 6 (the drift check) is Evidently's cost and has its own benchmark.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import prepare_state, write_results

TARGET_SHARE = 0.5
BENCH_DAY = date(2030, 1, 1)


def add_benchmark_day(context: object, rows: int) -> None:
    """`rows` gold rows for BENCH_DAY: the sample rows repeated under new entity ids."""
    import numpy as np
    import pyarrow as pa
    from src.data.feature_store import INGEST_DATE

    view = context.view  # type: ignore[attr-defined]
    lake = context.lake  # type: ignore[attr-defined]
    if lake.read(
        view.table, where=f"{INGEST_DATE} = '{BENCH_DAY.isoformat()}'", columns=[INGEST_DATE]
    ).num_rows:
        return
    sample = lake.read(view.table)
    picks = np.arange(rows) % sample.num_rows
    columns = {
        name: sample.column(name).take(pa.array(picks))
        for name in [*view.feature_names, view.label.name]
    }
    columns[view.entity.name] = pa.array([f"bench-{index}" for index in range(rows)])
    columns[view.event_timestamp] = pa.repeat(pa.scalar(datetime(2030, 1, 1, tzinfo=UTC)), rows)
    columns[INGEST_DATE] = pa.repeat(pa.scalar(BENCH_DAY), rows)
    schema = view.arrow_schema()
    lake.append(
        view.table,
        pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema),
    )


def clear_benchmark_day(context: object) -> None:
    from src.data.predictions import predictions_schema, replace_batch_predictions

    view = context.view  # type: ignore[attr-defined]
    empty = predictions_schema(view).empty_table()
    replace_batch_predictions(context.lake, view, empty, BENCH_DAY)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--state", type=Path, help="Reuse this state folder (trained once).")
    args = parser.parse_args()
    project = Path.cwd()
    root = (args.state or Path(tempfile.mkdtemp(prefix="batch-bench-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"state in {root}")
    prepare_state(project, root)

    import mlflow.pyfunc
    from src.context import build_context
    from src.model.mlflow_manager import PRODUCTION_ALIAS
    from src.pipelines.DS.inference_pipeline.features import prepare_features
    from src.pipelines.DS.inference_pipeline.loading import load_scoring_rows, validate_schema
    from src.pipelines.DS.inference_pipeline.prediction import predict_batch
    from src.pipelines.DS.inference_pipeline.storage import store_predictions

    context = build_context()
    view, lake = context.view, context.lake
    print(f"  adding {args.rows} rows for {BENCH_DAY} to {view.table}", flush=True)
    add_benchmark_day(context, args.rows)
    predictor = context.mlflow.load_predictor(context.settings.model_name, PRODUCTION_ALIAS)
    prefix = context.settings.aws.s3.processed_prefix

    # Time a first run of the day, as a daily schedule makes: drop earlier benchmark rows.
    clear_benchmark_day(context)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    table = load_scoring_rows(lake, view, BENCH_DAY)
    steps["load"] = time.perf_counter() - started
    mark = time.perf_counter()
    validate_schema(table, view.feature_names)
    steps["validate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    matrix = prepare_features(table, view)
    steps["features"] = time.perf_counter() - mark
    mark = time.perf_counter()
    scored = predict_batch(predictor, table, matrix, view, BENCH_DAY)
    steps["predict"] = time.perf_counter() - mark
    mark = time.perf_counter()
    store_predictions(lake, context.store, view, scored, prefix, BENCH_DAY)
    steps["store"] = time.perf_counter() - mark
    pipeline_seconds = time.perf_counter() - started
    rows = table.num_rows

    mark = time.perf_counter()
    predictor.predict_array(matrix)
    raw_seconds = time.perf_counter() - mark
    frame = table.select(view.feature_names).to_pandas()
    pyfunc = mlflow.pyfunc.load_model(f"models:/{context.settings.model_name}@{PRODUCTION_ALIAS}")
    mark = time.perf_counter()
    pyfunc.predict(frame)
    pyfunc_seconds = time.perf_counter() - mark

    mark = time.perf_counter()
    store_predictions(lake, context.store, view, scored, prefix, BENCH_DAY)
    rerun_store_seconds = time.perf_counter() - mark
    share = raw_seconds / pipeline_seconds
    model = f"{predictor.model_name} v{predictor.version}"
    print(f"\nbatch inference benchmark: {rows} rows, model {model}")
    print(f"{'':44} {'seconds':>8} {'rows/s':>12}")
    for label, seconds in [
        ("pipeline steps 1-5 (lake -> predict -> lake)", pipeline_seconds),
        ("raw predict, NumPy in memory", raw_seconds),
        ("raw predict, MLflow pyfunc on a DataFrame", pyfunc_seconds),
    ]:
        print(f"{label:44} {seconds:8.2f} {rows / seconds:12.0f}")
    print("steps: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items()))
    print(f"storing the day again (a rerun replacing its rows): {rerun_store_seconds:.2f} s")
    print(
        f"pipeline throughput = {share:.2f} of raw NumPy predict (target >= {TARGET_SHARE}), "
        f"{pyfunc_seconds / pipeline_seconds:.2f} of MLflow pyfunc predict"
    )
    results = {
        "rows": rows,
        "pipeline_seconds": pipeline_seconds,
        "steps_seconds": steps,
        "rerun_store_seconds": rerun_store_seconds,
        "raw_numpy_predict_seconds": raw_seconds,
        "raw_pyfunc_predict_seconds": pyfunc_seconds,
        "share_of_raw_numpy": share,
        "share_of_raw_pyfunc": pyfunc_seconds / pipeline_seconds,
        "target_share": TARGET_SHARE,
        "target_met": share >= TARGET_SHARE,
    }
    print(f"wrote {write_results('batch_inference', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
