"""The project's command line: every Makefile target calls one of these commands.

Each command ends with a one-line summary; a failure prints one `error:` line and exits
with a non-zero code (1 for failures, 2 for bad usage, 3 for drift found by drift-check).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from src.context import ProjectContext, build_context
from src.errors import ProjectError

if TYPE_CHECKING:
    from src.pipelines.DS.training_pipeline.pipeline import TrainingOutcome

app = typer.Typer(
    help="{{ cookiecutter.project_name }}: data, training, inference and monitoring commands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# soft_wrap: summaries stay on one line whatever the terminal width.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a ProjectError into one `error:` line and exit code 1, without a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ProjectError as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False)
            raise typer.Exit(code=1) from None

    return run


def today() -> date:
    return datetime.now(UTC).date()


def parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


@app.command("setup-lake")
@reports_errors
def setup_lake(
    end_date: Annotated[
        str | None, typer.Option(help="Last day (exclusive) of the sample data; default today.")
    ] = None,
) -> None:
    """Land the sample raw files and build bronze, silver and gold from them."""
    from src.data.intervals import DataInterval
    from src.data.sample_data import SAMPLE_DAYS, land_sample_files
    from src.pipelines.DE.pipeline import run_data_pipeline

    context = build_context()
    end = parse_day(end_date, "--end-date") or today()
    raw_prefix = context.settings.aws.s3.raw_prefix
    written = land_sample_files(context.store, context.view, raw_prefix, end)
    interval = DataInterval(end - timedelta(days=SAMPLE_DAYS), end)
    result = run_data_pipeline(context.lake, context.store, context.view, raw_prefix, interval)
    console.print(
        f"lake ready: {len(written)} sample files landed; {result.summary()}", highlight=False
    )


@app.command("data-pipeline")
@reports_errors
def data_pipeline(
    start: Annotated[str, typer.Option(help="First day of the data interval (YYYY-MM-DD).")],
    end: Annotated[
        str | None, typer.Option(help="Day after the last one; default start + 1 day.")
    ] = None,
) -> None:
    """Run bronze -> silver -> gold for a data interval (idempotent for it)."""
    from src.data.intervals import DataInterval
    from src.pipelines.DE.pipeline import run_data_pipeline

    context = build_context()
    interval = DataInterval.parse(start, end)
    days = list(interval.days())
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("data pipeline", total=len(days))
        results = []
        for day in days:
            results.append(
                run_data_pipeline(
                    context.lake,
                    context.store,
                    context.view,
                    context.settings.aws.s3.raw_prefix,
                    DataInterval.for_day(day),
                )
            )
            progress.advance(task)
    files = sum(result.bronze.files_ingested for result in results)
    rows = sum(result.gold.rows for result in results)
    quarantined = sum(result.silver.rows_quarantined for result in results)
    console.print(
        f"data pipeline {interval}: {files} files ingested, {rows} gold rows, "
        f"{quarantined} rows quarantined",
        highlight=False,
    )


@app.command("init-mlflow")
@reports_errors
def init_mlflow() -> None:
    """Create the MLflow experiment (idempotent)."""
    context = build_context()
    experiment_id = context.mlflow.get_or_create_experiment()
    console.print(
        f"MLflow experiment {context.settings.mlflow_experiment_name!r} ready "
        f"(id {experiment_id}) at {context.settings.resolved_tracking_uri}",
        highlight=False,
    )


def print_decision_table(context: ProjectContext, outcome: TrainingOutcome) -> None:
    evaluation = outcome.evaluation
    table = Table(title=f"model {context.settings.model_name} v{outcome.version}")
    table.add_column("metric")
    table.add_column("baseline", justify="right")
    table.add_column(f"production v{evaluation.production_version or '-'}", justify="right")
    table.add_column("candidate", justify="right")
    for name, value in evaluation.candidate.items():
        production = evaluation.production.get(name) if evaluation.production else None
        table.add_row(
            name,
            f"{evaluation.baseline[name]:.4f}",
            f"{production:.4f}" if production is not None else "-",
            f"{value:.4f}",
        )
    console.print(table)


@app.command("train")
@reports_errors
def train() -> None:
    """Train, evaluate, register and promote a model from the feature store."""
    from src.pipelines.DS.training_pipeline.pipeline import run_training_pipeline

    context = build_context()
    with console.status("training"):
        outcome = run_training_pipeline(
            context.lake,
            context.view,
            context.training,
            context.mlflow,
            context.settings.model_name,
        )
    print_decision_table(context, outcome)
    decision = outcome.decision
    state = "production" if decision.promoted else "staging" if decision.staged else "rejected"
    console.print(
        f"trained {context.settings.model_name} v{outcome.version}: {state} ({decision.reason})",
        highlight=False,
    )


@app.command("batch-inference")
@reports_errors
def batch_inference(
    run_date: Annotated[
        str | None,
        typer.Option("--date", help="Run date to score (YYYY-MM-DD); default the latest day."),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Score this CSV/Parquet file instead.")
    ] = None,
) -> None:
    """Score a day of the feature store (or a file) with the production model."""
    from src.data.feature_store import INGEST_DATE
    from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

    context = build_context()
    day = parse_day(run_date, "--date")
    if day is None:
        days = context.lake.read(context.view.table, columns=[INGEST_DATE]).column(INGEST_DATE)
        if len(days) == 0:
            raise ProjectError(f"{context.view.table} is empty; run `make setup` first")
        day = max(days.to_pylist())
    outcome = run_batch_inference(
        context.lake,
        context.store,
        context.view,
        context.mlflow,
        context.settings.model_name,
        day,
        context.settings.aws.s3.processed_prefix,
        context.monitoring.drift,
        context.settings.reports_dir,
        input_file,
    )
    drift = (
        outcome.drift.verdict() if outcome.drift else f"skipped ({outcome.drift_skipped_reason})"
    )
    console.print(
        f"batch inference {day}: {outcome.rows} rows scored by v{outcome.model_version} "
        f"-> {outcome.output_uri}; drift: {drift}",
        highlight=False,
    )


@app.command("serve")
@reports_errors
def serve(
    prod: Annotated[
        bool, typer.Option(help="Production: API__WORKERS workers, JSON access log, no reload.")
    ] = False,
    reload: Annotated[bool, typer.Option(help="Restart when a file under src/ changes.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to bind; default API__HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default API__PORT.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes with --prod; default API__WORKERS.")
    ] = None,
) -> None:
    """Serve the production model over HTTP until interrupted."""
    from src.inference.server import ServerOptions, run_server
    from src.settings import get_settings

    settings = get_settings()
    if prod and reload:
        raise typer.BadParameter("--reload is for development; drop it with --prod")
    options = ServerOptions(
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        prod=prod,
        reload=reload,
    )
    run_server(settings, options)


@app.command("drift-check")
@reports_errors
def drift_check(
    current: Annotated[
        Path | None,
        typer.Option(help="CSV/Parquet file of current data; default the predictions table."),
    ] = None,
    window_days: Annotated[
        int | None, typer.Option(help="Days of predictions to check; default from config.")
    ] = None,
    html: Annotated[bool, typer.Option(help="Also write the HTML report.")] = True,
) -> None:
    """Compare current data with the production model's reference set.

    Exit codes: 0 no drift, 3 drift detected, 1 the check could not run.
    """
    from src.data.predictions import read_prediction_window
    from src.model.mlflow_manager import PRODUCTION_ALIAS
    from src.monitoring.drift import EXIT_DRIFT, detect_drift, write_reports
    from src.pipelines.DS.inference_pipeline.loading import load_scoring_file

    context = build_context()
    config = context.monitoring.drift
    predictor = context.mlflow.load_predictor(context.settings.model_name, PRODUCTION_ALIAS)
    reference = context.mlflow.load_reference(predictor.run_id)
    if current is not None:
        frame = load_scoring_file(current)
        source = str(current)
    else:
        days = window_days or config.window_days
        frame = read_prediction_window(context.lake, today(), days)
        source = f"predictions of the last {days} days"
        if frame.empty:
            raise ProjectError(f"no {source}; run `make batch-inference` or pass --current FILE")
    result, snapshot = detect_drift(reference, frame, predictor.feature_names, config)
    paths = write_reports(result, snapshot, context.settings.reports_dir, datetime.now(UTC), html)
    console.print(f"reports: {', '.join(str(path) for path in paths)}", highlight=False)
    console.print(f"drift check of {source}: {result.verdict()}", highlight=False)
    if result.dataset_drift:
        raise typer.Exit(code=EXIT_DRIFT)


def main() -> None:
    # MLflow's INFO lines and download bars would bury the one-line summaries.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    app()


if __name__ == "__main__":
    main()
