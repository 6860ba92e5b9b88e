"""The six training steps in order, under one MLflow run."""

from __future__ import annotations

from dataclasses import dataclass

from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.model.config import TrainingConfig
from src.model.mlflow_manager import PRODUCTION_ALIAS, MlflowManager
from src.pipelines.DS.training_pipeline.evaluation import Evaluation, evaluate_candidate
from src.pipelines.DS.training_pipeline.extraction import extract_training_set
from src.pipelines.DS.training_pipeline.preprocessing import split_training_set
from src.pipelines.DS.training_pipeline.promotion import (
    PromotionDecision,
    decide_promotion,
    hold_production,
    promote,
)
from src.pipelines.DS.training_pipeline.registration import register_candidate
from src.pipelines.DS.training_pipeline.training import train_candidate


@dataclass(frozen=True)
class TrainingOutcome:
    run_id: str
    version: str
    evaluation: Evaluation
    decision: PromotionDecision


def run_training_pipeline(
    lake: Lake,
    view: FeatureView,
    config: TrainingConfig,
    manager: MlflowManager,
    model_name: str,
    stage_only: bool = False,
) -> TrainingOutcome:
    frame = extract_training_set(lake, view)
    split = split_training_set(frame, view, config)
    production_version = manager.get_version(model_name, PRODUCTION_ALIAS)
    production = (
        manager.load_version(model_name, production_version, PRODUCTION_ALIAS)
        if production_version
        else None
    )
    with manager.start_run(run_name=f"train-{config.model.estimator}") as run:
        candidate = train_candidate(split, config)
        evaluation = evaluate_candidate(candidate, split, config, production)
        registration = register_candidate(
            manager, model_name, candidate, split, view, config, evaluation, run.info.run_id
        )
        decision = decide_promotion(evaluation, config)
        if stage_only:
            decision = hold_production(decision)
        promote(manager, model_name, registration.version, decision)
    return TrainingOutcome(
        run_id=run.info.run_id,
        version=registration.version,
        evaluation=evaluation,
        decision=decision,
    )
