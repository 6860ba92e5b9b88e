"""The project's command line: every Makefile target calls one of these commands.

Each command ends with a one-line summary; a failure prints one `error:` line and exits
with a non-zero code (1 for failures, 2 for bad usage, 3 for drift found by drift-check).
"""

from __future__ import annotations

import functools
import json
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
    s3 = context.settings.aws.s3
    written = land_sample_files(context.store, context.view, s3.raw_prefix, end)
    interval = DataInterval(end - timedelta(days=SAMPLE_DAYS), end)
    result = run_data_pipeline(
        context.lake,
        context.store,
        context.view,
        s3.raw_prefix,
        interval,
        quality=context.quality,
        quality_prefix=s3.quality_prefix,
    )
    console.print(
        f"lake ready: {len(written)} sample files landed; {result.summary()}", highlight=False
    )


@app.command("data-pipeline")
@reports_errors
def data_pipeline(
    start: Annotated[
        str | None,
        typer.Option(help="First day of the interval (YYYY-MM-DD); default the first raw day."),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Day after the last one; default start + 1 day.")
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(help="Run only this step (bronze, silver, gold); repeatable."),
    ] = None,
    summary: Annotated[
        Path | None, typer.Option(help="Write rows and checksums of what the step wrote (JSON).")
    ] = None,
) -> None:
    """Run bronze -> silver -> gold for a data interval (idempotent for it).

    Without --start, the interval covers every day of the raw zone.
    """
    from src.data.intervals import DataInterval
    from src.pipelines.DE.bronze import list_raw_days
    from src.pipelines.DE.pipeline import describe_step, parse_steps, run_data_pipeline

    context = build_context()
    s3 = context.settings.aws.s3
    steps = parse_steps(step or [])
    if start:
        interval = DataInterval.parse(start, end)
    else:
        raw_days = list_raw_days(context.store, s3.raw_prefix, context.view.dataset)
        interval = DataInterval.covering(raw_days)
    days = list(interval.days())
    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"data pipeline {'+'.join(steps)}", total=len(days))
        for day in days:
            results.append(
                run_data_pipeline(
                    context.lake,
                    context.store,
                    context.view,
                    s3.raw_prefix,
                    DataInterval.for_day(day),
                    quality=context.quality,
                    quality_prefix=s3.quality_prefix,
                    steps=steps,
                )
            )
            progress.advance(task)
    if summary:
        described = [describe_step(context.lake, context.view, name, interval) for name in steps]
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(described, indent=2, sort_keys=True) + "\n")
    parts = []
    if "bronze" in steps:
        ingested = sum(r.bronze.files_ingested for r in results if r.bronze)
        skipped = sum(r.bronze.files_skipped for r in results if r.bronze)
        parts.append(f"{ingested} files ingested, {skipped} already there")
    if "silver" in steps:
        valid = sum(r.silver.rows_valid for r in results if r.silver)
        quarantined = sum(r.silver.rows_quarantined for r in results if r.silver)
        parts.append(f"{valid} rows valid, {quarantined} quarantined")
    if "gold" in steps:
        parts.append(f"{sum(r.gold.rows for r in results if r.gold)} gold rows")
    console.print(f"data pipeline {interval}: {'; '.join(parts)}", highlight=False)


@app.command("sample-data")
@reports_errors
def sample_data(
    out: Annotated[
        Path, typer.Option(help="Folder of raw files, laid out like the raw zone.")
    ] = Path("data/raw"),
    end_date: Annotated[
        str | None, typer.Option(help="Last day (exclusive) of the sample data; default today.")
    ] = None,
) -> None:
    """Write the sample raw files into a local folder (once): the data DVC versions."""
    from src.data.aws_integration import LocalObjectStore
    from src.data.sample_data import land_sample_files

    context = build_context()
    dataset_folder = out / context.view.dataset
    if dataset_folder.is_dir() and any(dataset_folder.rglob("*.csv")):
        console.print(
            f"sample data: {dataset_folder} already holds raw files; kept", highlight=False
        )
        return
    end = parse_day(end_date, "--end-date") or today()
    written = land_sample_files(LocalObjectStore(out), context.view, "", end)
    console.print(f"sample data: {len(written)} raw files written under {out}", highlight=False)


@app.command("ingest")
@reports_errors
def ingest(
    source: Annotated[Path, typer.Option(help="Folder of raw files to land.")] = Path("data/raw"),
    summary: Annotated[
        Path | None, typer.Option(help="Write the landed keys and checksums (JSON).")
    ] = None,
) -> None:
    """Land local raw files (the DVC-tracked data/raw) in the lake's raw zone."""
    from src.data.versioning import land_raw_files

    context = build_context()
    raw_prefix = context.settings.aws.s3.raw_prefix
    landed = land_raw_files(source, context.store, raw_prefix)
    if summary:
        # Where the files went is part of the result: pointed at another lake (APP_ENV,
        # DATA_DIR), the same files make a different summary and DVC reruns the chain.
        content = {
            "raw_zone": context.store.uri(raw_prefix),
            "warehouse": context.settings.warehouse_location,
            "files": [{"key": item.key, "sha256": item.sha256} for item in landed],
        }
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(content, indent=2) + "\n")
    copied = sum(item.copied for item in landed)
    console.print(
        f"ingest: {copied} files copied, {len(landed) - copied} already in place "
        f"under {context.store.uri(raw_prefix)}",
        highlight=False,
    )


@app.command("features")
@reports_errors
def features() -> None:
    """List the feature store's feature definitions."""
    context = build_context()
    definitions = context.view.definitions()
    table = Table(title=f"feature view {context.view.name}")
    for column in ("feature", "dtype", "entity", "source table", "description"):
        table.add_column(column)
    for item in definitions:
        table.add_row(item.name, item.dtype, item.entity, item.source_table, item.description)
    console.print(table)
    console.print(
        f"{len(definitions)} features of {context.view.name}; label {context.view.label.name}",
        highlight=False,
    )


@app.command("init-aws")
@reports_errors
def init_aws() -> None:
    """Create the S3 bucket, Glue database, Athena workgroup and ECR repositories (idempotent)."""
    from src.data.aws_resources import ResourceStatus, ensure_aws_resources

    context = build_context()
    settings = context.settings
    if settings.app_env != "aws":
        raise ProjectError(
            f"init-aws creates AWS resources and runs with APP_ENV=aws (now {settings.app_env}); "
            "set it in .env or the environment"
        )

    def show(result: ResourceStatus) -> None:
        detail = f" ({result.detail})" if result.detail else ""
        console.print(f"{result.status:>7}  {result.kind} {result.name}{detail}", highlight=False)

    results = ensure_aws_resources(settings, report=show)
    created = sum(result.status == "created" for result in results)
    console.print(
        f"init-aws: {created} created, {len(results) - created} found in {settings.aws.region}",
        highlight=False,
    )


@app.command("data-remote")
@reports_errors
def data_remote() -> None:
    """Point DVC at the remote for this environment (local folder, S3/MinIO or DVC_REMOTE_URL)."""
    from src.data.versioning import configure_dvc_remote, resolve_dvc_remote
    from src.settings import PROJECT_ROOT

    context = build_context()
    remote = resolve_dvc_remote(context.settings, PROJECT_ROOT)
    configure_dvc_remote(PROJECT_ROOT, remote)
    endpoint = f" via {remote.options['endpointurl']}" if "endpointurl" in remote.options else ""
    console.print(f"DVC remote: {remote.url}{endpoint}", highlight=False)


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
