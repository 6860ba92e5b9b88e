"""Step 4: holdout metrics of the candidate, the naive baseline and the production model."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from sklearn.base import BaseEstimator

from src.errors import ConfigError
from src.model.config import TrainingConfig
from src.model.evaluate import build_baseline, compute_metrics, improvement
from src.model.predictor import Predictor
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit


@dataclass(frozen=True)
class Evaluation:
    candidate: dict[str, float]
    baseline: dict[str, float]
    production: dict[str, float] | None
    production_version: str | None
    gate_metric: str
    higher_is_better: bool

    def gain_over_baseline(self) -> float:
        return improvement(
            self.candidate[self.gate_metric], self.baseline[self.gate_metric], self.higher_is_better
        )

    def gain_over_production(self) -> float | None:
        if self.production is None:
            return None
        return improvement(
            self.candidate[self.gate_metric],
            self.production[self.gate_metric],
            self.higher_is_better,
        )


def evaluate_candidate(
    candidate: BaseEstimator,
    split: DatasetSplit,
    config: TrainingConfig,
    production: Predictor | None,
) -> Evaluation:
    task = config.task
    candidate_metrics = compute_metrics(task, candidate, split.x_test, split.y_test)
    if config.promotion.gate_metric not in candidate_metrics:
        raise ConfigError(
            f"promotion.gate_metric {config.promotion.gate_metric!r} is not a {task} metric; "
            f"choose one of: {', '.join(candidate_metrics)}"
        )
    baseline = build_baseline(task).fit(split.x_train, split.y_train)
    baseline_metrics = compute_metrics(task, baseline, split.x_test, split.y_test)
    production_metrics = None
    if production is not None:
        production_metrics = compute_metrics(
            task, production.estimator, split.x_test[production.feature_names], split.y_test
        )
    mlflow.log_metrics({f"holdout_{name}": value for name, value in candidate_metrics.items()})
    mlflow.log_metrics({f"baseline_{name}": value for name, value in baseline_metrics.items()})
    if production_metrics:
        mlflow.log_metrics(
            {f"production_{name}": value for name, value in production_metrics.items()}
        )
    return Evaluation(
        candidate=candidate_metrics,
        baseline=baseline_metrics,
        production=production_metrics,
        production_version=production.version if production else None,
        gate_metric=config.promotion.gate_metric,
        higher_is_better=config.promotion.higher_is_better,
    )
