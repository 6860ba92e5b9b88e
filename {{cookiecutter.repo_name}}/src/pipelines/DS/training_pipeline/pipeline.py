"""The six training steps in order, under one MLflow run with a child run per trial."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.model.config import TrainingConfig
from src.model.mlflow_manager import MlflowManager
from src.pipelines.DS.training_pipeline.evaluation import Evaluation, evaluate_candidate
from src.pipelines.DS.training_pipeline.extraction import extract_training_set
from src.pipelines.DS.training_pipeline.preprocessing import split_dataset
from src.pipelines.DS.training_pipeline.promotion import (
    LeaseGuard,
    PromotionDecision,
    promote_candidate,
    record_decision,
    unguarded,
)
from src.pipelines.DS.training_pipeline.registration import (
    ModelCard,
    current_git_commit,
    register_candidate,
)
from src.pipelines.DS.training_pipeline.training import SearchResult, TrialCallback, train_candidate

STEPS = ("extraction", "preprocessing", "training", "evaluation", "registration", "promotion")


@dataclass(frozen=True)
class TrainingOutcome:
    run_id: str
    version: str
    snapshot_id: str
    search: SearchResult
    evaluation: Evaluation
    decision: PromotionDecision


def ignore(*_: object) -> None:
    pass


def run_training_pipeline(
    lake: Lake,
    view: FeatureView,
    config: TrainingConfig,
    manager: MlflowManager,
    model_name: str,
    stage_only: bool = False,
    guard: LeaseGuard = unguarded,
    on_step: Callable[[str], None] = ignore,
    on_trial: TrialCallback = ignore,
) -> TrainingOutcome:
    """The six steps. `guard` holds the promotion lock while production is compared and
    moved; with `stage_only`, `production` is left for a deployment to move (`promote`)."""
    on_step("extraction")
    extract = extract_training_set(lake, view, config)
    on_step("preprocessing")
    split = split_dataset(extract.frame, view, config)
    with manager.start_run(run_name=f"train-{config.model.estimator}") as run:
        run_id, commit = run.info.run_id, current_git_commit()
        on_step("training")
        model, search = train_candidate(split, view, config, run, on_trial)
        on_step("evaluation")
        evaluation = evaluate_candidate(model, split, config)
        on_step("registration")
        version = register_candidate(
            manager, model_name, model, view, config, extract, split, evaluation, commit
        )
        on_step("promotion")
        decision = promote_candidate(
            manager,
            model_name,
            version,
            model,
            evaluation,
            split,
            config,
            guard,
            stage_only,
            f"training run {run_id}",
        )
        record_decision(manager, model_name, version, decision)
        card = ModelCard(
            model_name,
            version,
            run_id,
            commit,
            view,
            config,
            extract,
            split,
            search,
            evaluation,
            decision,
        )
        card.record(manager)
    return TrainingOutcome(run_id, version, extract.snapshot_id, search, evaluation, decision)
