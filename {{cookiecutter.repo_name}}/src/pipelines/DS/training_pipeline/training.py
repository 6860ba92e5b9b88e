"""Step 3: train the candidate with its parameters and metrics tracked in MLflow."""

from __future__ import annotations

import mlflow
from sklearn.base import BaseEstimator

from src.model.config import TrainingConfig
from src.model.train import build_estimator, fit_estimator
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit


def train_candidate(split: DatasetSplit, config: TrainingConfig) -> BaseEstimator:
    estimator = build_estimator(
        config.task, config.model.estimator, config.model.params, config.seed
    )
    mlflow.log_params(
        {"estimator": config.model.estimator, "seed": config.seed, **config.model.params}
    )
    mlflow.log_params({"train_rows": len(split.x_train), "holdout_rows": len(split.x_test)})
    return fit_estimator(estimator, split.x_train, split.y_train)
