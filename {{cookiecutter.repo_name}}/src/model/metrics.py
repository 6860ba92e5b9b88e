"""The metrics of each task: one definition of each, with the direction that counts as better.

Cross-validation, holdout evaluation, the promotion gates, permutation importance and the
segment analysis all score through `score`, so a metric means the same thing everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from src.errors import ConfigError

if TYPE_CHECKING:
    from src.model.config import Task

# Probabilities are clipped before the log loss so a confident mistake costs a lot, not inf.
PROBABILITY_EPSILON = 1e-15

Scorer = Callable[[pd.Series, np.ndarray, np.ndarray | None], float]


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    needs_probabilities: bool
    compute: Scorer


BINARY = 2


def _required(probabilities: np.ndarray | None) -> np.ndarray:
    if probabilities is None:
        raise ValueError("this metric needs predicted probabilities")
    return probabilities


def _roc_auc(labels: pd.Series, _: np.ndarray, probabilities: np.ndarray | None) -> float:
    scores = _required(probabilities)
    if scores.shape[1] == BINARY:
        scores = scores[:, 1]
    return float(roc_auc_score(labels, scores, multi_class="ovr"))


def _log_loss(labels: pd.Series, _: np.ndarray, probabilities: np.ndarray | None) -> float:
    clipped = np.clip(_required(probabilities), PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
    return float(log_loss(labels, clipped))


def _averaged(function: Callable[..., Any]) -> Scorer:
    """A precision-style metric: of class 1 for 0/1 labels, else a macro average."""

    def compute(labels: pd.Series, predicted: np.ndarray, _: np.ndarray | None) -> float:
        average = "binary" if set(np.unique(labels)) <= {0, 1} else "macro"
        return float(function(labels, predicted, average=average, zero_division=0))

    return compute


CLASSIFICATION_METRICS = (
    Metric("roc_auc", True, True, _roc_auc),
    Metric("accuracy", True, False, lambda y, p, _: float(accuracy_score(y, p))),
    Metric("f1", True, False, _averaged(f1_score)),
    Metric("precision", True, False, _averaged(precision_score)),
    Metric("recall", True, False, _averaged(recall_score)),
    Metric("log_loss", False, True, _log_loss),
)
REGRESSION_METRICS = (
    Metric("rmse", False, False, lambda y, p, _: math.sqrt(mean_squared_error(y, p))),
    Metric("mae", False, False, lambda y, p, _: float(mean_absolute_error(y, p))),
    Metric("r2", True, False, lambda y, p, _: float(r2_score(y, p))),
)
METRICS: dict[str, tuple[Metric, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}


def metric_names(task: Task) -> list[str]:
    return [metric.name for metric in METRICS[task]]


def get_metric(task: Task, name: str) -> Metric:
    for metric in METRICS[task]:
        if metric.name == name:
            return metric
    raise ConfigError(f"{name!r} is not a {task} metric; choose one of: {metric_names(task)}")


def score_predictions(
    task: Task,
    labels: pd.Series,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    names: list[str] | None = None,
) -> dict[str, float]:
    """The named metrics of predictions already made; by default all of the task's, less
    those needing probabilities when the model gives none (LinearSVC, RidgeClassifier)."""
    if names:
        metrics = [get_metric(task, name) for name in names]
    else:
        metrics = [
            metric
            for metric in METRICS[task]
            if probabilities is not None or not metric.needs_probabilities
        ]
    return {metric.name: metric.compute(labels, predicted, probabilities) for metric in metrics}


def predict(task: Task, model: Any, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's own predictions and, for a classifier that has predict_proba, its class
    probabilities (columns in `model.classes_` order).

    Predictions come from `predict`, never an argmax of the probabilities: a threshold-tuned
    classifier keeps its decision rule, as served (see Predictor).
    """
    predicted = np.asarray(model.predict(features))
    if task == "regression" or not hasattr(model, "predict_proba"):
        return predicted, None
    return predicted, np.asarray(model.predict_proba(features))


def score(
    task: Task,
    model: Any,
    features: pd.DataFrame,
    labels: pd.Series,
    names: list[str] | None = None,
) -> dict[str, float]:
    """The named metrics (all of the task's by default) of `model` on `features`."""
    predicted, probabilities = predict(task, model, features)
    return score_predictions(task, labels, predicted, probabilities, names)


def improvement(candidate: float, reference: float, higher_is_better: bool) -> float:
    """How much better the candidate is; negative when it is worse."""
    return candidate - reference if higher_is_better else reference - candidate
