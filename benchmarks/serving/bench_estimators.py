"""Serving by estimator: the sample's linear model beside a LightGBM model of the same data,
each through the generated API and through `mlflow models serve`, same load, same run.

Run inside a rendered project's environment (run.py does it with --estimators):

    cd <rendered project> && uv run python <template>/benchmarks/serving/bench_estimators.py

The linear model is the one `train` promotes (its pipeline folds into one matrix product
in the API); the LightGBM model (lightgbm.LGBMClassifier or LGBMRegressor, 100 trees,
one thread) is
built by the same pipeline builder from config/training.yaml's seed, logged and registered
as `<model name>_lightgbm` with the `production` alias, so both servers load it by alias.
Prints a table and the ratios; writes benchmarks/results/serving_estimators.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serving import free_port, measure_predict_seconds, serve_and_load
from common import prepare_state, write_results

LIGHTGBM_SUFFIX = "_lightgbm"
# One thread, as docs/own-data.md advises for serving: OpenMP threads cost more than they
# give on one row (measured 28 ms vs 1.2 ms per row on a busy 2-core machine).
LIGHTGBM_PARAMS = {"n_estimators": 100, "n_jobs": 1, "verbosity": -1}


def register_lightgbm(context: object, name: str) -> None:
    """A LightGBM model of the training set, registered under `name` as production."""
    from src.data.feature_store import get_training_set
    from src.model.mlflow_manager import PRODUCTION_ALIAS
    from src.model.train import build_estimator
    from src.pipelines.DS.training_pipeline.preprocessing import feature_kinds

    manager = context.mlflow  # type: ignore[attr-defined]
    if manager.get_version(name, PRODUCTION_ALIAS) is not None:
        return
    view = context.view  # type: ignore[attr-defined]
    config = context.training  # type: ignore[attr-defined]
    frame = get_training_set(context.lake, view)  # type: ignore[attr-defined]
    features, label = frame[view.feature_names], frame[view.label.name]
    kind = "Classifier" if config.task == "classification" else "Regressor"
    model = build_estimator(
        config.task, f"lightgbm.LGBM{kind}", LIGHTGBM_PARAMS, config.seed,
        kinds=feature_kinds(view),
    ).fit(features, label)  # fmt: skip
    with manager.start_run(run_name="bench-lightgbm") as run:
        info = manager.log_model(model, features, config.task)
        version = manager.register(info, name, run.info.run_id, {}, "serving benchmark")
    manager.set_alias(name, PRODUCTION_ALIAS, str(version.version))


def bench_model(
    label: str, model_name: str, env: dict[str, str], project: Path, root: Path,
    connections: int, seconds: float, next_port: Callable[[], int] = free_port,
) -> dict[str, object]:  # fmt: skip
    """One model: in-process predict of a row, `mlflow models serve`, the generated API."""
    import numpy as np
    from mlflow.models import convert_input_example_to_serving_input
    from src.context import build_context
    from src.model.mlflow_manager import PRODUCTION_ALIAS

    context = build_context()
    predictor = context.mlflow.load_predictor(model_name, PRODUCTION_ALIAS)
    frame = context.lake.read(context.view.table).to_pandas()[predictor.feature_names].head(1)
    features = {name: float(frame.iloc[0][name]) for name in predictor.feature_names}
    predict_body = json.dumps({"features": features}).encode()
    mlflow_body = convert_input_example_to_serving_input(frame).encode()  # type: ignore[union-attr]
    predict_seconds = measure_predict_seconds(predictor, np.array([list(features.values())]))
    port = next_port()
    base = f"http://127.0.0.1:{port}"
    mlflow = serve_and_load(
        f"{label}: mlflow models serve",
        [sys.executable, "-m", "mlflow", "models", "serve",
         "-m", f"models:/{model_name}@{PRODUCTION_ALIAS}",
         "--env-manager", "local", "-w", "1", "-h", "127.0.0.1", "-p", str(port)],
        env, project, f"{base}/ping",
        [("invocations", f"{base}/invocations", mlflow_body, "application/json")],
        connections, seconds,
    )  # fmt: skip
    port = next_port()
    base = f"http://127.0.0.1:{port}"
    api = serve_and_load(
        f"{label}: generated API",
        [sys.executable, "-m", "src", "serve", "--prod", "--workers", "1", "--host", "127.0.0.1",
         "--port", str(port)],
        {**env, "MODEL_NAME": model_name, "API__AUDIT_LOG": str(root / f"audit-{label}.jsonl"),
         "API__ACCESS_LOG": str(root / f"access-{label}.jsonl")},
        project, f"{base}/ready",
        [("predict", f"{base}/predict", predict_body, "application/json"),
         ("invocations", f"{base}/invocations", mlflow_body, "application/json")],
        connections, seconds,
    )  # fmt: skip
    return {
        "model_name": model_name,
        "folded_linear_form": predictor.linear_form is not None,
        "predict_seconds_in_process": predict_seconds,
        "mlflow_invocations": mlflow["invocations"],
        "api_predict": api["predict"],
        "api_invocations": api["invocations"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--state", type=Path, help="Reuse this state folder (trained once).")
    parser.add_argument("--port-base", type=int, help="Serve on ports from here (default: free).")
    args = parser.parse_args()
    counter = itertools.count(args.port_base or 0)
    next_port: Callable[[], int] = (lambda: next(counter)) if args.port_base else free_port
    project = Path.cwd()
    root = (args.state or Path(tempfile.mkdtemp(prefix="serving-estimators-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"state in {root}")
    env = prepare_state(project, root)

    from src.context import build_context

    context = build_context()
    linear_name = context.settings.model_name
    lightgbm_name = linear_name + LIGHTGBM_SUFFIX
    register_lightgbm(context, lightgbm_name)
    measured = {
        label: bench_model(
            label, name, env, project, root, args.connections, args.seconds, next_port
        )
        for label, name in (("linear", linear_name), ("lightgbm", lightgbm_name))
    }
    print(f"\nserving by estimator: {args.connections} connections, {args.seconds:.0f} s each, "
          "one worker")  # fmt: skip
    print(f"{'':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x mlflow':>9} {'predict us':>11}")
    results: dict[str, object] = {
        "connections": args.connections,
        "seconds": args.seconds,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    for label, figures in measured.items():
        baseline = figures["mlflow_invocations"].requests_per_second  # type: ignore[attr-defined]
        in_process = figures["predict_seconds_in_process"] * 1e6  # type: ignore[operator]
        for route in ("mlflow_invocations", "api_invocations", "api_predict"):
            load = figures[route]
            print(
                f"{label + ' ' + route:38} {load.requests_per_second:9.0f} "  # type: ignore[attr-defined]
                f"{load.p50_ms:8.2f} {load.p99_ms:8.2f} "  # type: ignore[attr-defined]
                f"{load.requests_per_second / baseline:9.1f} {in_process:11.0f}"  # type: ignore[attr-defined]
            )
        results[label] = {
            key: value.as_dict() if hasattr(value, "as_dict") else value
            for key, value in figures.items()
        }
        results[label]["ratio_predict_vs_mlflow"] = (  # type: ignore[index]
            figures["api_predict"].requests_per_second / baseline  # type: ignore[attr-defined]
        )
    print(f"wrote {write_results('serving_estimators', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
