"""Everything a pipeline needs, built once from the settings: the entry points' wiring.

The CLI, the API and the DAGs build a `ProjectContext` and pass it to the batch inference and
monitoring pipelines, or its parts to the library code, which never reads the environment.
`run_step` runs one heavy step for an interval (in a DAG task or an ECS task's `step`).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from src.data.aws_integration import build_object_store, hold_lock
from src.data.feature_store import FeatureView, load_feature_view
from src.data.intervals import DataInterval
from src.data.lake import Lake, build_lake
from src.data.quality import QualityConfig, QualityReport, load_quality_config
from src.model.train import TrainingConfig
from src.names import PREDICTIONS_TABLE, EcsStep
from src.pipelines.DE.pipeline import STEPS, Step, parse_steps, run_data_pipeline
from src.settings import CONFIG_DIR, FEATURES_FILE, Settings, get_settings, load_yaml_config

if TYPE_CHECKING:
    # MLflow and skops take seconds to import; data commands never need them.
    from src.model.mlflow_manager import MlflowManager
    from src.monitoring.drift import MonitoringConfig
    from src.pipelines.DS.training_pipeline import TrainingOutcome

log = logging.getLogger(__name__)

Summary = dict[str, Any]
TRAINING_FILE = CONFIG_DIR / "training.yaml"


@dataclass
class ProjectContext:
    settings: Settings

    @cached_property
    def view(self) -> FeatureView:
        return load_feature_view(FEATURES_FILE)

    @cached_property
    def quality(self) -> QualityConfig:
        return load_quality_config(CONFIG_DIR / "quality.yaml", self.view)

    @cached_property
    def training(self) -> TrainingConfig:
        return load_yaml_config(TRAINING_FILE, TrainingConfig)

    @cached_property
    def monitoring(self) -> MonitoringConfig:
        from src.monitoring.drift import MonitoringConfig  # Evidently takes seconds

        return load_yaml_config(CONFIG_DIR / "monitoring.yaml", MonitoringConfig)

    @cached_property
    def lake(self) -> Lake:
        return build_lake(self.settings)

    @cached_property
    def store(self) -> pafs.FileSystem:
        return build_object_store(self.settings)

    @cached_property
    def mlflow(self) -> MlflowManager:
        from src.model.mlflow_manager import MlflowManager

        return MlflowManager(
            self.settings.resolved_tracking_uri,
            self.settings.mlflow_experiment_name,
            self.settings.resolved_artifact_root,
            [self.training.model.estimator.split(".")[0], *self.training.model.trusted_packages],
        )

    def guard(self, name: str, scope: str) -> AbstractContextManager[None]:
        """The lock `name/scope` in the project's object store (src.data.aws_integration)."""
        return hold_lock(self.settings, f"{name}/{scope}")

    def run_data_pipeline(
        self, interval: DataInterval, steps: tuple[Step, ...] = STEPS
    ) -> QualityReport:
        """The medallion `steps` for `interval`, with the project's quality rules and prefixes."""
        prefixes = (self.settings.aws.s3.raw_prefix, self.settings.aws.s3.quality_prefix)
        return run_data_pipeline(
            self.lake, self.store, self.view, self.quality, prefixes, interval, steps
        )

    def run_lake_maintenance(self) -> list[str]:
        """Expire old snapshots and unreferenced files (Athena's OPTIMIZE and VACUUM on AWS)
        of the project's tables; one line per table."""
        names = [name for _, name in self.lake.catalog.list_tables(self.lake.database)]
        retention = timedelta(hours=self.settings.lake_snapshot_retention_hours)
        return [self.lake.maintain(name, retention, timedelta(hours=24)) for name in names]

    def run_training(
        self, trials: int | None = None, stage_only: bool = False, **progress: Any
    ) -> TrainingOutcome:
        """The training pipeline under one MLflow run; `trials` overrides search.n_trials,
        `progress` takes its on_step and on_trial callbacks."""
        from src.pipelines.DS.training_pipeline import run_training_pipeline

        config = self.training if trials is None else self.training.with_search(n_trials=trials)
        name = self.settings.model_name
        return run_training_pipeline(
            self.lake, self.view, config, self.mlflow, name, stage_only, self.guard, **progress
        )


def build_context(settings: Settings | None = None) -> ProjectContext:
    return ProjectContext(settings or get_settings())


def run_training_step(context: ProjectContext, reason: str, trials: int | None) -> Summary:
    log.info("training on %s (%s)", context.view.table, reason)
    # On AWS, scheduled training stages only: production moves by the CD or `promote`.
    outcome = context.run_training(trials, stage_only=context.settings.app_env == "aws")
    state, why = outcome.decision.state, outcome.decision.reason
    name, version, run_id = context.settings.model_name, outcome.version, outcome.run_id
    return {"model_name": name, "version": version, "run_id": run_id, "state": state, "reason": why}


def run_batch_inference_step(context: ProjectContext, interval: DataInterval) -> Summary:
    """The interval's last day scored by the production model."""
    from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

    day = interval.end - timedelta(days=1)
    outcome = run_batch_inference(context, day)
    return {"day": day.isoformat(), "table": PREDICTIONS_TABLE, **asdict(outcome)}


def run_drift_check_step(context: ProjectContext, interval: DataInterval) -> Summary:
    """The drift check of the `drift.window_days` days up to the interval's last day."""
    from src.pipelines.DS.monitoring_pipeline import run_drift_check

    end = interval.end - timedelta(days=1)
    # Named after the window's end, so a re-run of the day rewrites the same reports.
    run = run_drift_check(context, end, datetime.combine(interval.end, time(), tzinfo=UTC))
    if not run.delivered:
        log.error("monitoring delivery failed: %s", run.delivery)
    outcome = run.outcome
    return {
        "window_end": end.isoformat(),
        "model_version": outcome.model_version,
        "problems": outcome.problems,
        "verdict": outcome.verdict(),
        "report": str(run.reports[0]),
        "delivery": run.delivery,
        # One retraining per drifted window, however often the day is re-run.
        "retrain_run_id": f"drift_{end.isoformat()}",
    }


def run_step(
    context: ProjectContext,
    step: EcsStep,
    interval: DataInterval,
    reason: str = "manual",
    trials: int | None = None,
) -> Summary:
    """Run `step` for `interval` and return its summary."""
    if step in ("bronze", "silver", "gold"):
        report = context.run_data_pipeline(interval, parse_steps([step]))
        days = {"start": interval.start.isoformat(), "end": interval.end.isoformat()}
        return {**days, "step": step, **asdict(report)}
    if step == "training":
        return run_training_step(context, reason, trials)
    if step == "batch-inference":
        return run_batch_inference_step(context, interval)
    return run_drift_check_step(context, interval)
