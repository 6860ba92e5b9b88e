"""Everything a pipeline needs, built once from the settings: the entry points' wiring.

The entry points (the CLI, the API, the orchestrator's tasks) build a `ProjectContext` and
pass its parts to the library code, which never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from src.data.aws_integration import ObjectStore, build_object_store
from src.data.feature_store import FeatureView, load_feature_view
from src.data.lake import Lake, build_lake
from src.data.quality import QualityConfig, load_quality_config
from src.model.config import TrainingConfig, load_training_config
from src.monitoring.config import MonitoringConfig, load_monitoring_config
from src.settings import CONFIG_DIR, Settings, get_settings

if TYPE_CHECKING:
    # MLflow and skops take seconds to import; data commands never need them.
    from src.model.mlflow_manager import MlflowManager

FEATURES_FILE = CONFIG_DIR / "features.yaml"
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


def build_context(settings: Settings | None = None) -> ProjectContext:
    return ProjectContext(settings or get_settings())
