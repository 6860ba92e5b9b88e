"""Everything a pipeline needs, built once from the settings: the entry points' wiring.

The entry points (the CLI, the API, the orchestrator's tasks) build a `ProjectContext` and
pass its parts to the library code, which never reads the environment itself. The jobs
that both the CLI and a DAG run are wired here once, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from src.data.aws_integration import ObjectStore, build_object_store
from src.data.feature_store import FeatureView, load_feature_view
from src.data.intervals import DataInterval
from src.data.lake import Lake, build_lake
from src.data.leases import LeaseGuard, LeasePolicy, build_lease_guard
from src.data.quality import QualityConfig, load_quality_config
from src.model.config import TrainingConfig, load_training_config
from src.monitoring.config import MonitoringConfig, load_monitoring_config
from src.names import BATCH_INFERENCE_LEASE, DATA_PIPELINE_LEASE, LAKE_MAINTENANCE_LEASE
from src.pipelines.DE.pipeline import STEPS, DataPipelineResult, Step, run_data_pipeline
from src.settings import CONFIG_DIR, FEATURES_FILE, Settings, get_settings

if TYPE_CHECKING:
    # MLflow and skops take seconds to import; data commands never need them.
    import pandas as pd

    from src.data.maintenance import TableMaintenance
    from src.model.mlflow_manager import MlflowManager
    from src.pipelines.DS.inference_pipeline.pipeline import BatchInferenceOutcome
    from src.pipelines.DS.monitoring_pipeline import DriftCheckRun, SourceKind

TRAINING_FILE = CONFIG_DIR / "training.yaml"
MONITORING_FILE = CONFIG_DIR / "monitoring.yaml"
QUALITY_FILE = CONFIG_DIR / "quality.yaml"


@dataclass(frozen=True)
class LakeMaintenanceRun:
    """Per-table results (PyIceberg), or the Athena statements that ran (AWS)."""

    tables: list[TableMaintenance]
    statements: list[str]


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
    def store(self) -> ObjectStore:
        return build_object_store(self.settings)

    @cached_property
    def mlflow(self) -> MlflowManager:
        from src.model.mlflow_manager import MlflowManager

        return MlflowManager(
            self.settings.resolved_tracking_uri,
            self.settings.mlflow_experiment_name,
            self.settings.resolved_artifact_root,
        )

    @cached_property
    def guard(self) -> LeaseGuard:
        """Leases in the project's object store: shared by the CLI, the DAGs and CD's tasks."""
        lease = self.settings.lease
        policy = LeasePolicy(lease.ttl_seconds, lease.wait_seconds, lease.poll_seconds)
        return build_lease_guard(self.store, policy)

    def run_data_pipeline(
        self, interval: DataInterval, steps: tuple[Step, ...] = STEPS
    ) -> DataPipelineResult:
        """The medallion `steps` for `interval`, with the project's quality rules and prefixes.

        Under the interval's `data-pipeline` lease: a second run of the same interval waits
        (LEASE__WAIT_SECONDS) and then exits naming the holder, rather than interleave.
        """
        with self.guard(DATA_PIPELINE_LEASE, str(interval)):
            return self._run_data_pipeline(interval, steps)

    def _run_data_pipeline(
        self, interval: DataInterval, steps: tuple[Step, ...]
    ) -> DataPipelineResult:
        s3 = self.settings.aws.s3
        return run_data_pipeline(
            self.lake,
            self.store,
            self.view,
            s3.raw_prefix,
            interval,
            quality=self.quality,
            quality_prefix=s3.quality_prefix,
            steps=steps,
        )

    def run_lake_maintenance(self, tables: list[str] | None = None) -> LakeMaintenanceRun:
        """Compact, expire and clean the project's tables, under the `lake-maintenance` lease.

        PyIceberg locally and on compose; Athena's OPTIMIZE and VACUUM on AWS.
        """
        from src.data.maintenance import (
            MaintenancePolicy,
            maintain_lake,
            maintain_lake_on_athena,
        )

        config = self.settings.lake_maintenance
        policy = MaintenancePolicy(
            snapshot_retention_hours=config.snapshot_retention_hours,
            small_file_mb=config.small_file_mb,
            min_files_to_compact=config.min_files_to_compact,
            orphan_min_age_hours=config.orphan_min_age_hours,
        )
        names = tables if tables is not None else self.lake.list_tables()
        with self.guard(LAKE_MAINTENANCE_LEASE, self.lake.database):
            if self.settings.sql_engine_kind == "athena":
                from src.data.aws_integration import build_athena_runner

                runner = build_athena_runner(self.settings)
                statements = maintain_lake_on_athena(runner, self.lake.database, names, policy)
                return LakeMaintenanceRun(tables=[], statements=statements)
            results = maintain_lake(
                self.lake, self.store, self.settings.object_store_root, policy, names
            )
            return LakeMaintenanceRun(tables=results, statements=[])

    def run_batch_inference(
        self, day: date, input_file: Path | None = None
    ) -> BatchInferenceOutcome:
        """Score `day` of the feature store (or `input_file`) with the production model.

        Under the model's `batch-inference` lease for the day.
        """
        from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference

        scope = f"{self.settings.model_name}/{day.isoformat()}"
        with self.guard(BATCH_INFERENCE_LEASE, scope):
            return run_batch_inference(
                self.lake,
                self.store,
                self.view,
                self.mlflow,
                self.settings.model_name,
                day,
                self.settings.aws.s3.processed_prefix,
                self.monitoring.drift,
                self.settings.reports_dir,
                input_file,
            )

    def run_drift_check(
        self,
        current: pd.DataFrame,
        source: str,
        source_kind: SourceKind,
        stamp: datetime,
        html: bool = True,
    ) -> DriftCheckRun:
        """The monitoring job on `current`, alerting where the settings say."""
        from src.pipelines.DS.monitoring_pipeline import AlertTargets, run_drift_check

        webhook = self.settings.alert_webhook_url
        targets = AlertTargets(
            self.settings.pushgateway_url, webhook.get_secret_value() if webhook else None
        )
        return run_drift_check(
            self.mlflow,
            self.settings.model_name,
            current,
            self.view.label.name,
            self.monitoring,
            self.settings.reports_dir,
            source,
            source_kind,
            targets,
            stamp,
            html,
        )


def build_context(settings: Settings | None = None) -> ProjectContext:
    return ProjectContext(settings or get_settings())
