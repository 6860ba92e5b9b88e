"""Step 5: log the candidate and its reference set, and register a new version."""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404  # reads the git commit only, with a fixed argument list
from dataclasses import dataclass

import mlflow
import pandas as pd
from sklearn.base import BaseEstimator

from src.data.feature_store import FeatureView
from src.data.predictions import PREDICTION
from src.model.config import TrainingConfig
from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit


@dataclass(frozen=True)
class Registration:
    model_uri: str
    version: str


def current_git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        result = subprocess.run(  # noqa: S603  # nosec B603  # fixed arguments, no shell
            [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def build_reference(
    candidate: BaseEstimator, split: DatasetSplit, view: FeatureView, config: TrainingConfig
) -> pd.DataFrame:
    """The training features with their label and the candidate's predictions."""
    reference = split.x_train.copy()
    reference[view.label.name] = split.y_train
    scorer = Predictor(candidate, config.task, view.feature_names, "candidate", "", "", "")
    reference[PREDICTION] = scorer.predict_frame(split.x_train)[PREDICTION]
    return reference.reset_index(drop=True)


def model_card(view: FeatureView, config: TrainingConfig, evaluation: Evaluation) -> str:
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in evaluation.candidate.items())
    return (
        f"{config.task} model `{config.model.estimator}` on feature view `{view.name}` "
        f"({len(view.features)} features, label `{view.label.name}`). "
        f"Holdout metrics: {metrics}."
    )


def register_candidate(
    manager: MlflowManager,
    model_name: str,
    candidate: BaseEstimator,
    split: DatasetSplit,
    view: FeatureView,
    config: TrainingConfig,
    evaluation: Evaluation,
    run_id: str,
) -> Registration:
    model_uri = manager.log_model(candidate, split.x_train, config.task)
    manager.log_reference(build_reference(candidate, split, view, config))
    mlflow.log_text(json.dumps(evaluation.candidate, indent=2), "evaluation/holdout_metrics.json")
    tags = {
        "git_commit": current_git_commit(),
        "feature_view": view.name,
        "estimator": config.model.estimator,
        **{f"metric.{name}": f"{value:.6f}" for name, value in evaluation.candidate.items()},
    }
    version = manager.register(
        model_uri, model_name, run_id, tags, model_card(view, config, evaluation)
    )
    return Registration(model_uri=model_uri, version=str(version.version))
