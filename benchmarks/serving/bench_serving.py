"""Online serving: the generated API against `mlflow models serve`, and the bound.

Run inside a rendered project's environment (see run.py, which does it for you):

    cd <rendered project> && uv run python <template>/benchmarks/serving/bench_serving.py

The same production model is served, one worker each, one server at a time:
- mlflow: `mlflow models serve --env-manager local -w 1`, POST /invocations (dataframe_split)
- api: `python -m src serve --prod --workers 1` (audit, access and prediction logs on),
  POST /invocations with the very same body, and POST /predict (the seed's body)
- bound: a no-op FastAPI route on the same uvicorn, plus the in-process predict cost of
  one row; what a server that does nothing but call the model could reach.
Each is loaded by the same generator (wrk, else a Python client) with the same number of
connections. Prints a table and the ratios; writes benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import prepare_state, wait_until_up, write_results
from loadgen import LoadResult, run_load

TARGET_RATIO = 20.0
TARGET_P99_MS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure_predict_seconds(predictor: object, row: object, calls: int = 2000) -> float:
    """Median seconds of one in-process model call on one row (the API's own call)."""
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        predictor.predict_array(row, assume_finite=True)  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def serve_and_load(
    name: str,
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    ready_url: str,
    loads: list[tuple[str, str, bytes, str]],
    connections: int,
    seconds: float,
) -> dict[str, LoadResult]:
    print(f"  {name}: {' '.join(command)}", flush=True)
    server = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    results = {}
    try:
        wait_until_up(ready_url, server)
        for label, url, body, content_type in loads:
            run_load(url, body, connections, min(3.0, seconds), content_type)  # warm up
            results[label] = run_load(url, body, connections, seconds, content_type)
            print(f"    {label}: {results[label].requests_per_second:.0f} req/s", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=120)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--state", type=Path, help="Reuse this state folder (trained once).")
    args = parser.parse_args()
    project = Path.cwd()
    root = (args.state or Path(tempfile.mkdtemp(prefix="serving-bench-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"state in {root}")
    env = prepare_state(project, root)

    import numpy as np
    from mlflow.models import convert_input_example_to_serving_input
    from src.context import build_context
    from src.model.mlflow_manager import PRODUCTION_ALIAS

    context = build_context()
    model_name = context.settings.model_name
    predictor = context.mlflow.load_predictor(model_name, PRODUCTION_ALIAS)
    frame = context.lake.read(context.view.table).to_pandas()[predictor.feature_names].head(1)
    features = {name: float(frame.iloc[0][name]) for name in predictor.feature_names}
    predict_body = json.dumps({"features": features}).encode()
    mlflow_body = convert_input_example_to_serving_input(frame).encode()  # type: ignore[union-attr]
    predict_seconds = measure_predict_seconds(predictor, np.array([list(features.values())]))

    here = Path(__file__).resolve().parent
    connections, seconds = args.connections, args.seconds
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow = serve_and_load(
        "mlflow models serve",
        [sys.executable, "-m", "mlflow", "models", "serve",
         "-m", f"models:/{model_name}@{PRODUCTION_ALIAS}",
         "--env-manager", "local", "-w", "1", "-h", "127.0.0.1", "-p", str(port)],
        env, project, f"{base}/ping",
        [("invocations", f"{base}/invocations", mlflow_body, "application/json")],
        connections, seconds,
    )  # fmt: skip
    api_env = {
        **env,
        # The benchmark's own server on 127.0.0.1: open on purpose (serve-prod refuses else).
        "API__ALLOW_OPEN": "true",
        "API__AUDIT_LOG": str(root / "audit.jsonl"),
        "API__ACCESS_LOG": str(root / "access.jsonl"),
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = serve_and_load(
        "generated API",
        [sys.executable, "-m", "src", "serve", "--prod", "--workers", "1", "--host", "127.0.0.1",
         "--port", str(port)],
        api_env, project, f"{base}/ready",
        [("predict", f"{base}/predict", predict_body, "application/json"),
         ("invocations", f"{base}/invocations", mlflow_body, "application/json")],
        connections, seconds,
    )  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    unlogged = serve_and_load(
        "generated API, prediction log off",
        [sys.executable, "-m", "src", "serve", "--prod", "--workers", "1", "--host", "127.0.0.1",
         "--port", str(port)],
        {**api_env, "API__PREDICTION_LOG_ENABLED": "false"}, project, f"{base}/ready",
        [("predict", f"{base}/predict", predict_body, "application/json")],
        connections, seconds,
    )  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    noop = serve_and_load(
        "no-op FastAPI route",
        [sys.executable, "-m", "uvicorn", "noop_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        {**env, "PYTHONPATH": str(here)}, here, f"{base}/health",
        [("noop", f"{base}/noop", predict_body, "application/json")],
        connections, seconds,
    )  # fmt: skip

    baseline = mlflow["invocations"].requests_per_second
    noop_rps = noop["noop"].requests_per_second
    bound_rps = 1 / (1 / noop_rps + predict_seconds)
    rows = [
        ("mlflow models serve  POST /invocations", mlflow["invocations"]),
        ("generated API        POST /invocations", api["invocations"]),
        ("generated API        POST /predict", api["predict"]),
        ("  same, prediction log off", unlogged["predict"]),
        ("no-op FastAPI route  POST /noop", noop["noop"]),
    ]
    print(f"\nserving benchmark: {connections} connections, {seconds:.0f} s each, one worker, "
          f"load generator {mlflow['invocations'].generator}")  # fmt: skip
    print(f"{'':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x mlflow':>9}")
    for label, result in rows:
        print(
            f"{label:40} {result.requests_per_second:9.0f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {result.errors:7d} {result.requests_per_second / baseline:9.1f}"
        )
    print(f"{'bound: no-op route + in-process predict':40} {bound_rps:9.0f}"
          f"   (predict of one row in process: {predict_seconds * 1e6:.0f} us)")  # fmt: skip
    predict_ratio = api["predict"].requests_per_second / baseline
    invocations_ratio = api["invocations"].requests_per_second / baseline
    p99 = api["predict"].p99_ms
    print(
        f"\nratios: /predict {predict_ratio:.1f}x and /invocations {invocations_ratio:.1f}x "
        f"mlflow models serve (target >= {TARGET_RATIO:.0f}x); /predict at "
        f"{api['predict'].requests_per_second / bound_rps:.2f} of the bound; "
        f"p99 {p99:.2f} ms (target < {TARGET_P99_MS:.0f} ms)"
    )
    results = {
        "connections": connections,
        "seconds": seconds,
        "generator": mlflow["invocations"].generator,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "mlflow_invocations": mlflow["invocations"].as_dict(),
        "api_invocations": api["invocations"].as_dict(),
        "api_predict": api["predict"].as_dict(),
        "api_predict_prediction_log_off": unlogged["predict"].as_dict(),
        "noop": noop["noop"].as_dict(),
        "predict_seconds_in_process": predict_seconds,
        "bound_requests_per_second": bound_rps,
        "ratio_predict_vs_mlflow": predict_ratio,
        "ratio_invocations_vs_mlflow": invocations_ratio,
        "ratio_predict_vs_bound": api["predict"].requests_per_second / bound_rps,
        "targets": {
            "ratio_at_least": TARGET_RATIO,
            "p99_ms_below": TARGET_P99_MS,
            "ratio_met": predict_ratio >= TARGET_RATIO,
            "p99_met": p99 < TARGET_P99_MS,
        },
    }
    print(f"wrote {write_results('serving', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
