"""Training, registration and promotion against a real SQLite-backed MLflow."""

from __future__ import annotations

import pytest

from src.context import ProjectContext
from src.model.mlflow_manager import PRODUCTION_ALIAS, STAGING_ALIAS
from src.pipelines.DS.training_pipeline.pipeline import TrainingOutcome, run_training_pipeline

pytestmark = pytest.mark.integration


def train(context: ProjectContext) -> TrainingOutcome:
    return run_training_pipeline(
        context.lake, context.view, context.training, context.mlflow, context.settings.model_name
    )


def test_first_model_is_registered_and_promoted(trained_context: ProjectContext) -> None:
    manager = trained_context.mlflow
    name = trained_context.settings.model_name
    production = manager.get_version(name, PRODUCTION_ALIAS)
    staging = manager.get_version(name, STAGING_ALIAS)
    assert production is not None and staging is not None
    assert production.version == staging.version
    assert production.tags["decision"] == "production"
    predictor = manager.load_predictor(name, PRODUCTION_ALIAS)
    assert predictor.feature_names == trained_context.view.feature_names


def test_the_holdout_meets_the_performance_threshold(trained_context: ProjectContext) -> None:
    manager = trained_context.mlflow
    version = manager.get_version(trained_context.settings.model_name, PRODUCTION_ALIAS)
    assert version is not None and version.run_id
    metrics = manager.client.get_run(version.run_id).data.metrics
    if trained_context.training.task == "classification":
        assert metrics["holdout_roc_auc"] >= 0.95
        assert metrics["holdout_accuracy"] >= 0.9
    else:
        assert metrics["holdout_r2"] >= 0.3


def test_a_worse_candidate_never_reaches_production(lake_context: ProjectContext) -> None:
    name = lake_context.settings.model_name
    first = train(lake_context)
    worse = lake_context.training.model_copy(
        update={
            "model": lake_context.training.model.model_copy(
                update={
                    "estimator": "random_forest",
                    "params": {"n_estimators": 1, "max_depth": 1},
                }
            )
        }
    )
    lake_context.training = worse
    second = train(lake_context)
    manager = lake_context.mlflow
    production = manager.get_version(name, PRODUCTION_ALIAS)
    assert production is not None and str(production.version) == first.version
    assert not second.decision.promoted
    version = manager.client.get_model_version(name, second.version)
    assert version.tags["decision"] in {"staging", "rejected"}
