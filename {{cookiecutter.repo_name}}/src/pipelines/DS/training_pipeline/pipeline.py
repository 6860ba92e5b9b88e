"""The six training steps in order, under one MLflow run with a child run per trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from src.data.feature_store import FeatureView, TrainingSample
from src.data.lake import Lake
from src.model.config import TrainingConfig
from src.model.mlflow_manager import PRODUCTION_ALIAS, MlflowManager
from src.model.predictor import Predictor
from src.model.tuning import SearchProgress, SearchResult, TrialResult
from src.pipelines.DS.training_pipeline.evaluation import (
    Evaluation,
    evaluate_candidate,
    score_production,
)
from src.pipelines.DS.training_pipeline.extraction import extract_snapshot
from src.pipelines.DS.training_pipeline.preprocessing import (
    check_feature_settings,
    split_training_set,
    with_segment_feature,
)
from src.pipelines.DS.training_pipeline.promotion import (
    LeaseGuard,
    PromotionDecision,
    promote_candidate,
    unguarded,
)
from src.pipelines.DS.training_pipeline.registration import register_candidate
from src.pipelines.DS.training_pipeline.training import train_candidate

STEPS = ("extraction", "preprocessing", "training", "evaluation", "registration", "promotion")


class TrainingProgress(Protocol):
    """Where the pipeline reports what it is doing (the CLI shows it with rich)."""

    def step(self, name: str) -> None: ...

    def trial(self, result: TrialResult, progress: SearchProgress) -> None: ...


class SilentProgress:
    def step(self, name: str) -> None:
        pass

    def trial(self, result: TrialResult, progress: SearchProgress) -> None:
        pass


@dataclass(frozen=True)
class TrainingOutcome:
    run_id: str
    version: str
    snapshot_id: str
    search: SearchResult
    evaluation: Evaluation
    decision: PromotionDecision


def load_production(manager: MlflowManager, model_name: str) -> Predictor | None:
    version = manager.get_version(model_name, PRODUCTION_ALIAS)
    return manager.load_version(model_name, version, PRODUCTION_ALIAS) if version else None


def run_training_pipeline(
    lake: Lake,
    view: FeatureView,
    config: TrainingConfig,
    manager: MlflowManager,
    model_name: str,
    progress: TrainingProgress | None = None,
    stage_only: bool = False,
    guard: LeaseGuard = unguarded,
) -> TrainingOutcome:
    """The six steps; `guard` holds the promotion lease while `production` moves."""
    report = progress or SilentProgress()
    report.step("extraction")
    training_sample = TrainingSample(
        max_rows=config.data.max_rows,
        seed=config.seed,
        stratified=config.task == "classification",
    )
    extract = extract_snapshot(lake, view, training_sample)
    report.step("preprocessing")
    check_feature_settings(view, config)
    config = with_segment_feature(extract.frame, view, config)
    split = split_training_set(extract.frame, view, config)
    production = load_production(manager, model_name)
    with manager.start_run(run_name=f"train-{config.model.estimator}") as run:
        run_id = run.info.run_id
        report.step("training")
        trained = train_candidate(split, config, manager, report.trial)
        report.step("evaluation")
        evaluation = evaluate_candidate(trained.model, split, config, production, manager)
        report.step("registration")
        registration = register_candidate(
            manager, model_name, trained, split, view, config, extract, evaluation, run_id
        )
        report.step("promotion")
        sample = split.x_test.head(config.integration.sample_rows)
        decision = promote_candidate(
            manager,
            model_name,
            registration,
            trained.model,
            sample,
            evaluation,
            config,
            stage_only,
            guard,
            rescore=lambda production: score_production(production, split, config),
        )
    return TrainingOutcome(
        run_id=run_id,
        version=registration.version,
        snapshot_id=extract.snapshot_id,
        search=trained.search,
        evaluation=evaluation,
        decision=decision,
    )
