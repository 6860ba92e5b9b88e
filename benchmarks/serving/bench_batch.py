"""Batch inference: rows/s of `make batch-inference` on a day of `--rows` rows, against
MLflow's pyfunc predict of the same rows already in memory.

Run inside a rendered project's environment (run.py does it). A day of `--rows` rows (the
sample feature rows, repeated under new entity ids) is appended to the gold table; the
batch pipeline (`run_batch_inference`: read, check, predict, store to the object store and
the Iceberg predictions table, drift check on its bounded sample) is timed on it, the
day's earlier benchmark predictions being dropped first so the run is a first run. "Raw"
is the same model on the same rows in memory: the project's own call (NumPy) and MLflow's
pyfunc on a DataFrame.
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
    name = context.settings.model_name  # type: ignore[attr-defined]
    replace_batch_predictions(context.lake, view, lambda: [empty], BENCH_DAY, name)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--state", type=Path, help="Reuse this state folder (trained once).")
    args = parser.parse_args()
    root = (args.state or Path(tempfile.mkdtemp(prefix="batch-bench-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"state in {root}")
    prepare_state(Path.cwd(), root)

    import mlflow.pyfunc
    from src.context import build_context
    from src.data.feature_store import INGEST_DATE
    from src.names import PRODUCTION_ALIAS
    from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

    context = build_context()
    view, name = context.view, context.settings.model_name
    print(f"  adding {args.rows} rows for {BENCH_DAY} to {view.table}", flush=True)
    add_benchmark_day(context, args.rows)
    clear_benchmark_day(context)
    started = time.perf_counter()
    outcome = run_batch_inference(context, BENCH_DAY)
    pipeline_seconds = time.perf_counter() - started

    where = f"{INGEST_DATE} = '{BENCH_DAY.isoformat()}'"
    frame = context.lake.read(view.table, where=where).to_pandas()[view.feature_names]
    predictor = context.mlflow.load_predictor(name, PRODUCTION_ALIAS)
    matrix = frame.to_numpy(dtype=object if predictor.categorical else float)
    mark = time.perf_counter()
    predictor.predict_array(matrix)
    raw_seconds = time.perf_counter() - mark
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@{PRODUCTION_ALIAS}")
    mark = time.perf_counter()
    pyfunc.predict(frame)
    pyfunc_seconds = time.perf_counter() - mark

    rows = outcome.rows
    print(f"\nbatch inference benchmark: {rows} rows, model {name} v{outcome.model_version}")
    print(f"{'':44} {'seconds':>8} {'rows/s':>12}")
    for label, seconds in [
        ("make batch-inference (lake -> lake, drift)", pipeline_seconds),
        ("raw predict, NumPy in memory", raw_seconds),
        ("raw predict, MLflow pyfunc on a DataFrame", pyfunc_seconds),
    ]:
        print(f"{label:44} {seconds:8.2f} {rows / seconds:12.0f}")
    share = pyfunc_seconds / pipeline_seconds
    print(f"the pipeline's rows/s: {share:.2f} of MLflow pyfunc predict's")
    results = {
        "rows": rows,
        "pipeline_seconds": pipeline_seconds,
        "raw_numpy_predict_seconds": raw_seconds,
        "raw_pyfunc_predict_seconds": pyfunc_seconds,
        "share_of_raw_pyfunc": share,
    }
    print(f"wrote {write_results('batch_inference', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
