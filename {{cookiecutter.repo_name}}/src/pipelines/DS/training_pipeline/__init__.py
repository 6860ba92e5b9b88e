"""The training pipeline: the seed's six steps in order (one module each), under one MLflow run
with a child run per trial."""

import os
from collections.abc import Callable

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.model.mlflow_manager import MAX_DESCRIPTION, MODEL_CARD_FILE, MlflowManager
from src.model.train import TrainingConfig
from src.pipelines.DS.training_pipeline.dataset import extract_training_set, split_dataset
from src.pipelines.DS.training_pipeline.evaluation import evaluate_candidate
from src.pipelines.DS.training_pipeline.promotion import LeaseGuard, promote_candidate, unguarded
from src.pipelines.DS.training_pipeline.registration import (
    TrainingOutcome,
    register_candidate,
    render_model_card,
)
from src.pipelines.DS.training_pipeline.training import TrialCallback, train_candidate

__all__ = ["TrainingOutcome", "run_training_pipeline"]


def run_training_pipeline(
    lake: Lake,
    view: FeatureView,
    config: TrainingConfig,
    manager: MlflowManager,
    model_name: str,
    stage_only: bool = False,
    guard: LeaseGuard = unguarded,
    on_step: Callable[[str], None] = lambda step: None,
    on_trial: TrialCallback = lambda study, trial: None,
) -> TrainingOutcome:
    """`guard` holds the promotion lock; `stage_only` leaves `production` to `promote`."""
    on_step("extraction")
    frame, snapshot_id = extract_training_set(lake, view, config)
    on_step("preprocessing")
    split = split_dataset(frame, view, config)
    manager.activate()
    experiment_id, run_name = manager.get_or_create_experiment(), f"train-{config.model.estimator}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        # The commit MLflow found for the code it runs or, in an image (no .git), its build's.
        commit = run.data.tags.get(MLFLOW_GIT_COMMIT) or os.environ.get("GIT_COMMIT", "unknown")
        run_id = run.info.run_id
        on_step("training")
        model, search = train_candidate(split, view, config, run, on_trial)
        on_step("evaluation")
        evaluation = evaluate_candidate(model, split, config)
        on_step("registration")
        version = register_candidate(
            manager, model_name, model, view, config, split, evaluation, commit, snapshot_id
        )
        on_step("promotion")
        actor = f"training run {run_id}"
        decision = promote_candidate(
            manager, model_name, version, model, evaluation, split, config, guard, stage_only, actor
        )
        outcome = TrainingOutcome(
            model_name, version, run_id, commit, snapshot_id, split, search, evaluation, decision
        )
        card = render_model_card(outcome, view, config)  # the run's artifact, the version's text
        mlflow.log_text(card, MODEL_CARD_FILE)
        manager.client.update_model_version(model_name, version, card[:MAX_DESCRIPTION])
    return outcome
