"""The project's command line: every Makefile target calls one of these commands.

Each command ends with a one-line summary; a failure prints one `error:` line and exits
with a non-zero code (1 for failures, 2 for bad usage, 3 for drift found by drift-check).
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.table import Table

from src.context import build_context, run_step
from src.data.aws_integration import build_filesystem, ensure_aws_resources, locate, write_bytes
from src.data.feature_store import INGEST_DATE
from src.data.intervals import DataInterval
from src.data.raw_data import (
    SAMPLE_DAYS,
    configure_dvc_remote,
    has_raw_files,
    land_raw_files,
    write_sample_files,
)
from src.errors import ProjectError
from src.monitoring.performance import read_labels_file, record_labels
from src.names import EcsStep
from src.pipelines.DE.bronze import raw_interval
from src.pipelines.DE.pipeline import fingerprint_steps, parse_steps
from src.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    import optuna

    from src.data.quality import QualityReport
    from src.pipelines.DS.training_pipeline import TrainingOutcome

app = typer.Typer(
    help="{{ cookiecutter.project_name }}: data, training, inference and monitoring commands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Messages are printed as text (a regex or a list in brackets is not Rich markup), and
# summaries stay on one line whatever the terminal width.
console = Console(soft_wrap=True, markup=False, highlight=False)
errors = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


def command(function: Callable[..., None]) -> Callable[..., None]:
    """Register a command (named after the function, `_` as `-`) whose ProjectError is one
    `error:` line and exit code 1, without a traceback."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except ProjectError as error:
            errors.print(f"error: {error}", style="red")
            raise typer.Exit(code=1) from None

    return app.command()(run)


def write_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, sort_keys=True, default=str) + "\n")


RAW_DIR = Path("data/raw")
Summary = Annotated[Path | None, typer.Option(help="Write the command's result here (JSON).")]


@command
def setup_lake() -> None:
    """Land the sample raw files (up to today) and build bronze, silver and gold from them."""
    context = build_context()
    end = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory() as folder:
        write_sample_files(Path(folder), context.view, end)
        copied, *_ = land_raw_files(Path(folder), context.store, context.settings.aws.s3.raw_prefix)
    report = context.run_data_pipeline(DataInterval(end - timedelta(days=SAMPLE_DAYS), end))
    console.print(f"lake ready: {copied} sample files landed; {describe(report)}")


def describe(report: QualityReport) -> str:
    """A data pipeline run in one line."""
    refused = f", {len(report.files_refused)} refused" if report.files_refused else ""
    return (
        f"{len(report.files_ingested)} files ingested{refused}; {report.rows_valid} rows valid, "
        f"{report.rows_quarantined} quarantined; {report.gold_rows} gold rows"
    )


@command
def lake_maintenance() -> None:
    """Expire old snapshots and unreferenced files of the lake's tables (docs/data.md)."""
    with console.status("maintaining the lake"):
        lines = build_context().run_lake_maintenance()
    console.print(*lines, f"lake maintenance: {len(lines)} tables maintained", sep="\n")


@command
def data_pipeline(
    start: Annotated[str | None, typer.Option(help="First day; default the first raw day.")] = None,
    end: Annotated[str | None, typer.Option(help="Day after the last; default start + 1.")] = None,
    step: Annotated[list[str] | None, typer.Option(help="bronze, silver or gold.")] = None,
    summary: Summary = None,
) -> None:
    """Run bronze -> silver -> gold for a data interval (idempotent for it); without
    --start, the interval covers every day of the raw zone."""
    context = build_context()
    steps = parse_steps(step or [])
    raw_prefix = context.settings.aws.s3.raw_prefix
    interval = (
        DataInterval.parse(start, end)
        if start
        else raw_interval(context.store, raw_prefix, context.view.dataset)
    )
    with console.status(f"data pipeline {'+'.join(steps)} {interval}"):
        report = context.run_data_pipeline(interval, steps)
    for file, why in report.files_refused.items():
        errors.print(f"warning: raw file {file} {why}")
    if summary:
        write_json(summary, fingerprint_steps(context.lake, context.view, steps))
    console.print(f"data pipeline {interval}: {describe(report)}")


@command
def step(
    name: Annotated[EcsStep, typer.Argument()],
    start: Annotated[str, typer.Option(help="First day of the data interval (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Day after the interval's last day.")],
    result_key: Annotated[str | None, typer.Option(help="Object store key of the result.")] = None,
    reason: Annotated[str, typer.Option(help="Why the step runs (logged by training).")] = "manual",
) -> None:
    """Run one heavy step for a data interval, as an ECS task of the project's image does."""
    context, interval = build_context(), DataInterval.parse(start, end)
    document = json.dumps(run_step(context, name, interval, reason), sort_keys=True, default=str)
    if result_key:
        write_bytes(context.store, result_key, document.encode())
    console.print(f"step {name} {interval}: {document}")


@command
def sample_data(
    out: Annotated[Path, typer.Option(help="Folder of raw files, as the raw zone.")] = RAW_DIR,
) -> None:
    """Write the sample raw files (up to today) into a local folder, unless it holds some."""
    if out.is_dir() and has_raw_files(out):
        console.print(f"sample data: {out} already holds raw files; kept")
        return
    written = write_sample_files(out, build_context().view, datetime.now(UTC).date())
    console.print(f"sample data: {written} raw files written under {out}")


@command
def ingest(
    source: Annotated[Path, typer.Option(help="Folder of raw files to land.")] = RAW_DIR,
    summary: Summary = None,
) -> None:
    """Land local raw files (the DVC-tracked data/raw) in the lake's raw zone."""
    context = build_context()
    settings, raw_prefix = context.settings, context.settings.aws.s3.raw_prefix
    copied, same, checksum = land_raw_files(source, context.store, raw_prefix)
    where = f"{settings.object_store_root}/{raw_prefix}"
    if summary:
        # DVC reruns bronze when this changes: other files, or the same files landed in
        # another lake (APP_ENV, DATA_DIR).
        content = {"raw_zone": where, "warehouse": settings.warehouse_location}
        write_json(summary, {**content, "sha256": checksum})
    console.print(f"ingest: {copied} files copied, {same} already in place under {where}")


@command
def features() -> None:
    """List the feature store's feature definitions."""
    view = build_context().view
    table = Table("feature", "dtype", "nullable", "description")
    table.title = f"feature view {view.name} (gold table {view.table})"
    for item in view.features:
        table.add_row(item.name, item.dtype, "yes" if item.nullable else "no", item.description)
    console.print(table)
    console.print(f"{len(view.features)} features; label {view.label.name}")


@command
def init_aws() -> None:
    """Create the S3 bucket, Glue database, Athena workgroup and ECR repositories (idempotent)."""
    settings = build_context().settings
    if settings.app_env != "aws":
        raise ProjectError(
            f"init-aws creates AWS resources and runs with APP_ENV=aws (now {settings.app_env}); "
            "set it in .env or the environment"
        )
    lines = ensure_aws_resources(settings)
    created = sum(line.startswith("created") for line in lines)
    console.print(*lines, f"init-aws: {created} created, {len(lines) - created} found", sep="\n")


@command
def data_remote() -> None:
    """Point DVC at the remote for this environment (local folder, S3/MinIO or DVC_REMOTE_URL)."""
    console.print(f"DVC remote: {configure_dvc_remote(build_context().settings, PROJECT_ROOT)}")


@command
def init_mlflow() -> None:
    """Create the MLflow experiment (idempotent)."""
    context = build_context()
    experiment_id = context.mlflow.get_or_create_experiment()
    console.print(
        f"MLflow experiment {context.settings.mlflow_experiment_name!r} ready "
        f"(id {experiment_id}) at {context.settings.resolved_tracking_uri}"
    )


def who() -> str:
    """Who moves `production` by hand, as the version's tag records it."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    console.print(f"  trial {trial.number + 1}: cv {trial.value:.4f}; best {study.best_value:.4f}")


def print_decision_table(model_name: str, outcome: TrainingOutcome) -> None:
    search, production = outcome.search, outcome.decision.production
    params = ", ".join(f"{name}={value}" for name, value in search.best_params.items())
    console.print(
        f"search: {len(search.history)} trials; best cv {search.metric} {search.cv_mean:.4f} "
        f"± {search.cv_std:.4f}" + (f" with {params}" if params else ""),
    )
    version, metrics = (production.version, production.metrics) if production else ("-", None)
    columns = ("metric", "baseline", f"production v{version}", f"candidate v{outcome.version}")
    table = Table(*columns, title=f"{model_name}: holdout metrics and decision")
    for name, value in outcome.evaluation.candidate.items():
        other = f"{metrics[name]:.4f}" if metrics else "-"
        baseline = f"{outcome.evaluation.baseline[name]:.4f}"
        gate = " (gate)" if name == search.metric else ""
        table.add_row(name + gate, baseline, other, f"{value:.4f}")
    table.add_section()
    table.add_row("decision", "", "", outcome.decision.state, style="bold")
    console.print(table)


@command
def train(
    trials: Annotated[int | None, typer.Option(min=1, help="Default search.n_trials.")] = None,
    stage_only: Annotated[bool, typer.Option(help="Move `staging` at most.")] = False,
) -> None:
    """Search, train, evaluate, register and promote a model from the feature store."""
    context = build_context()
    name = context.settings.model_name
    outcome = context.run_training(
        trials, stage_only, on_step=lambda step: console.print("step:", step), on_trial=print_trial
    )
    print_decision_table(name, outcome)
    decision = outcome.decision
    console.print(
        f"trained {name} v{outcome.version}: {decision.state} "
        f"({decision.reason}; data snapshot {outcome.snapshot_id})",
    )


@command
def promote(
    version: Annotated[str | None, typer.Option(help="The version `staging` holds.")] = None,
    release: Annotated[str | None, typer.Option(help="Or a release of `export-model`.")] = None,
    digest: Annotated[str | None, typer.Option(help="The release's artifact digest.")] = None,
) -> None:
    """Point `production` at the staged version, or at a release another environment tested
    (registered here by its digest first): the CD's promotion step."""
    from src.pipelines.DS.training_pipeline import promotion

    if (version is None) == (release is None) or (release is None) != (digest is None):
        raise typer.BadParameter("give --version N, or --release URI with --digest sha256:...")
    context = build_context()
    model, registry, guard = context.settings.model_name, context.mlflow, context.guard
    if version:
        previous = promotion.promote_staged_version(registry, model, version, guard, who())
    elif release and digest:
        files = build_filesystem(context.settings)
        version, previous = promotion.promote_release(
            registry, model, files, locate(files, release), digest, guard, who()
        )
    change = f"replacing v{previous}" if previous else "the first production version"
    change = "unchanged" if previous == version else change
    print(f"model_version={version}")  # plain, for the CD to read from the task's log
    console.print(f"{model} v{version} in production ({change})")


@command
def export_model(
    version: Annotated[str, typer.Option(help="The version `staging` holds, tested.")],
) -> None:
    """Copy the staged, gated version to the object store as a release named by its digest,
    for production's registry (`promote --release ... --digest ...`)."""
    from src.pipelines.DS.training_pipeline.promotion import export_release

    context = build_context()
    model = context.settings.model_name
    digest, key = export_release(context.mlflow, model, version, context.store)
    print(f"artifact_digest={digest}")  # plain, for the CD to read from the task's log
    print(f"release_uri={context.settings.object_store_root}/{key}")


@command
def batch_inference(
    run_date: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"])] = None,
    input_file: Annotated[Path | None, typer.Option("--input", help="A CSV/Parquet file.")] = None,
) -> None:
    """Score a day (default the latest) of the feature store, or a file, with the production
    model."""
    from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

    context = build_context()
    day = run_date.date() if run_date else None
    if day is None:
        days = context.lake.read(context.view.table, columns=[INGEST_DATE]).column(INGEST_DATE)
        day = pc.max(days).as_py()
        if day is None:
            raise ProjectError(f"{context.view.table} is empty; run `make setup` first")
    outcome = run_batch_inference(context, day, input_file)
    console.print(
        f"batch inference {day}: {outcome.rows} rows scored by v{outcome.model_version} "
        f"-> {outcome.output_uri}; drift: {outcome.drift}",
    )


@command
def serve(
    prod: Annotated[bool, typer.Option(help="Workers, JSON access log, no reload.")] = False,
    reload: Annotated[bool, typer.Option(help="Restart when a file under src/ changes.")] = False,
    host: Annotated[str | None, typer.Option(help="Default API__HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default API__PORT.")] = None,
    workers: Annotated[int | None, typer.Option(help="With --prod; default API__WORKERS.")] = None,
) -> None:
    """Serve the production model over HTTP until interrupted."""
    from src.inference.api import run_server

    settings = get_settings()
    if prod and reload:
        raise typer.BadParameter("--reload is for development; drop it with --prod")
    run_server(
        settings,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        prod=prod,
        reload=reload,
    )


@command
def drift_check(
    current: Annotated[Path | None, typer.Option(help="Default the predictions table.")] = None,
) -> None:
    """Check current data against the production model's reference set: data quality, data
    drift, prediction drift and, once labels arrived, live performance (exit 3 on a problem)."""
    from src.pipelines.DS.monitoring_pipeline import run_drift_check

    now = datetime.now(UTC)
    with console.status("checking"):
        run = run_drift_check(build_context(), current or now.date(), now)
    console.print(f"reports: {', '.join(str(path) for path in run.reports)}")
    verdict = f"drift check of {run.outcome.source}: {run.outcome.verdict()}"
    console.print(*run.outcome.notes, run.delivery, verdict, sep="\n")
    if not run.delivered:
        raise ProjectError(run.delivery)
    if run.outcome.problems:
        raise typer.Exit(code=3)  # a problem found (docs/monitoring.md)


@command
def log_labels(
    labels_file: Annotated[Path, typer.Option("--file", help="prediction_id and the label.")],
) -> None:
    """Record ground-truth labels of earlier predictions (upsert by prediction id)."""
    context = build_context()
    labels = read_labels_file(labels_file, context.view)
    rows = record_labels(context.lake, context.view, labels, datetime.now(UTC))
    console.print(f"labels recorded: {rows} rows from {labels_file}")


@command
def rollback(
    version: Annotated[str, typer.Option(help="Registered version to serve as production.")],
) -> None:
    """Point `production` at an earlier version (incident response), under the promotion
    lock; the version records who moved it."""
    from src.pipelines.DS.training_pipeline.promotion import rollback_production

    context = build_context()
    model_name = context.settings.model_name
    previous = rollback_production(context.mlflow, model_name, version, context.guard, who())
    before = f"v{previous}" if previous else "none"
    console.print(f"rolled back {model_name}: production {before} -> v{version}")


def main() -> None:
    # MLflow's INFO lines and download bars would bury the one-line summaries.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow set up its logger when this module imported it, before the line above.
    logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"])
    app()
