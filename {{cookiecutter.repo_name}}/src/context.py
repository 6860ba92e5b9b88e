"""Everything a pipeline needs, built once from the settings: the entry points' wiring.

The entry points (the CLI, the API, the orchestrator's tasks) build a `ProjectContext` and
pass its parts to the library code, which never reads the environment itself. The jobs
that both the CLI and a DAG run are wired here once, so the two cannot drift apart.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

from src.data.aws_integration import build_object_store, hold_lock
from src.data.feature_store import FeatureView, load_feature_view
from src.data.intervals import DataInterval
from src.data.lake import Lake, build_lake
from src.data.quality import QualityConfig, QualityReport, load_quality_config
from src.model.train import TrainingConfig, load_training_config
from src.monitoring.config import MonitoringConfig, load_monitoring_config
from src.pipelines.DE.pipeline import STEPS, Step, run_data_pipeline
from src.settings import CONFIG_DIR, FEATURES_FILE, Settings, get_settings

if TYPE_CHECKING:
    # MLflow and skops take seconds to import; data commands never need them.
    from src.model.mlflow_manager import MlflowManager
    from src.pipelines.DS.inference_pipeline.pipeline import BatchInferenceOutcome
    from src.pipelines.DS.monitoring_pipeline import DriftCheckRun

TRAINING_FILE = CONFIG_DIR / "training.yaml"
MONITORING_FILE = CONFIG_DIR / "monitoring.yaml"
QUALITY_FILE = CONFIG_DIR / "quality.yaml"


@dataclass
class ProjectContext:
    settings: Settings

    @cached_property
    def view(self) -> FeatureView:
        return load_feature_view(FEATURES_FILE)

    @cached_property
    def quality(self) -> QualityConfig:
        return load_quality_config(QUALITY_FILE, self.view)

    @cached_property
    def training(self) -> TrainingConfig:
        return load_training_config(TRAINING_FILE)

    @cached_property
    def monitoring(self) -> MonitoringConfig:
        return load_monitoring_config(MONITORING_FILE)

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
        )

    def guard(self, name: str, scope: str) -> AbstractContextManager[None]:
        """The lock `name/scope` in the project's object store (src.data.aws_integration)."""
        return hold_lock(self.settings, f"{name}/{scope}")

    def run_data_pipeline(
        self, interval: DataInterval, steps: tuple[Step, ...] = STEPS
    ) -> QualityReport:
        """The medallion `steps` for `interval`, with the project's quality rules and prefixes."""
        s3 = self.settings.aws.s3
        prefixes = (s3.raw_prefix, s3.quality_prefix)
        return run_data_pipeline(
            self.lake, self.store, self.view, self.quality, prefixes, interval, steps
        )

    def run_lake_maintenance(self, tables: list[str] | None = None) -> list[str]:
        """Expire old snapshots and unreferenced files (Athena's OPTIMIZE and VACUUM on AWS)
        of the project's tables; one line per table."""
        names = tables or [name for _, name in self.lake.catalog.list_tables(self.lake.database)]
        retention = timedelta(hours=self.settings.lake_snapshot_retention_hours)
        return [self.lake.maintain(name, retention, timedelta(hours=24)) for name in names]

    def run_batch_inference(
        self, day: date, input_file: Path | None = None
    ) -> BatchInferenceOutcome:
        """Score `day` of the feature store (or `input_file`) with the production model."""
        from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

        return run_batch_inference(
            self.lake,
            self.store,
            self.view,
            self.mlflow,
            self.settings.model_name,
            day,
            self.settings.aws.s3.processed_prefix,
            self.monitoring,
            self.settings.reports_dir,
            input_file,
        )

    def run_drift_check(self, current: Path | date, stamp: datetime) -> DriftCheckRun:
        """The monitoring job on a file or the window ending that day, alerting by the one
        route the settings configure (src/monitoring/alerts.py)."""
        from src.monitoring.alerts import AlertTargets
        from src.pipelines.DS.monitoring_pipeline import run_drift_check

        webhook = self.settings.alert_webhook_url
        secret = webhook.get_secret_value() if webhook else None
        targets = AlertTargets(self.settings.pushgateway_url, secret)
        return run_drift_check(
            self.mlflow, self.lake, self.view, self.settings.model_name, self.monitoring,
            current, self.settings.reports_dir, targets, stamp,
        )  # fmt: skip


def build_context(settings: Settings | None = None) -> ProjectContext:
    return ProjectContext(settings or get_settings())
