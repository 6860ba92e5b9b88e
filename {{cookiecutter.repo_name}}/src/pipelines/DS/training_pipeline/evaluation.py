"""Step 4: the candidate, the naive baseline and the production model on the same holdout,
with the error analysis by segment, permutation importance and the evaluation pictures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlflow
import pandas as pd

from src.model.config import TrainingConfig
from src.model.evaluate import (
    build_baseline,
    compute_feature_importance,
    compute_segment_metrics,
)
from src.model.metrics import get_metric, improvement, score
from src.model.mlflow_manager import MlflowManager
from src.model.plots import build_evaluation_figures, plot_feature_importance
from src.model.predictor import Predictor
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit
from src.pipelines.DS.training_pipeline.training import PLOTS_DIR

EVALUATION_DIR = "evaluation"


@dataclass(frozen=True)
class Evaluation:
    candidate: dict[str, float]
    baseline: dict[str, float]
    production: dict[str, float] | None
    production_version: str | None
    gate_metric: str
    higher_is_better: bool
    # Why production could not be scored on this holdout (it needs other features).
    production_unavailable: str | None = None
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)

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


def score_production(
    production: Predictor, split: DatasetSplit, config: TrainingConfig
) -> tuple[dict[str, float] | None, str | None]:
    missing = [name for name in production.feature_names if name not in split.x_test.columns]
    if missing:
        return None, (
            f"production v{production.version} needs features the holdout lacks: "
            f"{', '.join(missing)}"
        )
    features = split.x_test[production.feature_names]
    return score(config.task, production.estimator, features, split.y_test), None


def log_evaluation(manager: MlflowManager, evaluation: Evaluation) -> None:
    for prefix, metrics in (
        ("holdout", evaluation.candidate),
        ("baseline", evaluation.baseline),
        ("production", evaluation.production or {}),
    ):
        mlflow.log_metrics({f"{prefix}_{name}": value for name, value in metrics.items()})
    mlflow.log_table(evaluation.segments, f"{EVALUATION_DIR}/segments.json")
    mlflow.log_table(evaluation.importance, f"{EVALUATION_DIR}/feature_importance.json")
    manager.log_figure(
        plot_feature_importance(evaluation.importance, evaluation.gate_metric),
        f"{PLOTS_DIR}/feature_importance.png",
    )


def evaluate_candidate(
    candidate: Any,
    split: DatasetSplit,
    config: TrainingConfig,
    production: Predictor | None,
    manager: MlflowManager,
) -> Evaluation:
    task = config.task
    gate = get_metric(task, config.promotion.gate_metric)
    baseline = build_baseline(task).fit(split.x_train, split.y_train)
    production_metrics, unavailable = (
        score_production(production, split, config) if production else (None, None)
    )
    evaluation = Evaluation(
        candidate=score(task, candidate, split.x_test, split.y_test),
        baseline=score(task, baseline, split.x_test, split.y_test),
        production=production_metrics,
        production_version=production.version if production else None,
        gate_metric=gate.name,
        higher_is_better=gate.higher_is_better,
        production_unavailable=unavailable,
        segments=compute_segment_metrics(
            task,
            candidate,
            split.x_test,
            split.y_test,
            config.evaluation.segment_feature or str(split.x_test.columns[0]),
            config.evaluation.segments,
        ),
        importance=compute_feature_importance(
            task, candidate, split.x_test, split.y_test, gate.name, config.seed
        ),
    )
    log_evaluation(manager, evaluation)
    for name, figure in build_evaluation_figures(
        task, candidate, split.x_test, split.y_test
    ).items():
        manager.log_figure(figure, f"{PLOTS_DIR}/{name}")
    return evaluation
