"""The metrics the configuration, the gates and the reports name, as scikit-learn scorers.

Cross-validation, the holdout, the segments and permutation importance all score through
these scorers, so a metric means the same thing everywhere. A `neg_` scorer is one where
lower is better (log loss, errors); its value is reported positive.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring

if TYPE_CHECKING:
    from src.model.config import Task

# name -> scorer when the labels are 0/1, scorer otherwise (several classes or strings:
# macro averages; ROC AUC one-vs-rest, which is the plain ROC AUC for two classes).
CLASSIFICATION_SCORERS = {
    "roc_auc": ("roc_auc_ovr", "roc_auc_ovr"),
    "accuracy": ("accuracy", "accuracy"),
    "f1": ("f1", "f1_macro"),
    "precision": ("precision", "precision_macro"),
    "recall": ("recall", "recall_macro"),
    "log_loss": ("neg_log_loss", "neg_log_loss"),
}
REGRESSION_SCORERS = {
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}
# Metrics of the class probabilities: a classifier without predict_proba has none of them.
PROBABILISTIC = frozenset({"roc_auc", "log_loss"})


def metric_names(task: Task) -> list[str]:
    return list(CLASSIFICATION_SCORERS if task == "classification" else REGRESSION_SCORERS)


def higher_is_better(task: Task, name: str) -> bool:
    return not scorer_name(task, name, pd.Series([0, 1])).startswith("neg_")


def scorer_name(task: Task, name: str, labels: pd.Series) -> str:
    if task == "regression":
        return REGRESSION_SCORERS[name]
    binary, other = CLASSIFICATION_SCORERS[name]
    return binary if set(np.unique(labels)) <= {0, 1} else other


def default_metrics(task: Task, model: Any) -> list[str]:
    """Every metric of the task the model can give (no probabilities: LinearSVC)."""
    names = metric_names(task)
    if task == "classification" and not hasattr(model, "predict_proba"):
        return [name for name in names if name not in PROBABILISTIC]
    return names


def score(
    task: Task,
    model: Any,
    features: pd.DataFrame,
    labels: pd.Series,
    names: list[str] | None = None,
    all_labels: pd.Series | None = None,
) -> dict[str, float]:
    """The named metrics (by default all the model can give) of `model` on these rows; the
    model predicts once for all of them. On a part of a table (a segment) the scorers are
    chosen from `all_labels`, and a metric undefined there (ROC AUC of one class) is NaN."""
    chosen = default_metrics(task, model) if names is None else names
    reference = labels if all_labels is None else all_labels
    scorers = {name: scorer_name(task, name, reference) for name in chosen}
    scoring = check_scoring(model, scoring=scorers, raise_exc=all_labels is None)
    values = scoring(model, features, labels)
    return {
        name: (-1.0 if scorers[name].startswith("neg_") else 1.0) * as_number(values[name])
        for name in chosen
    }


def as_number(value: Any) -> float:
    """A scorer's value, or NaN where it failed (its error text, with raise_exc=False)."""
    return float(value) if isinstance(value, int | float | np.number) else math.nan


def improvement(candidate: float, reference: float, higher_better: bool) -> float:
    """How much better the candidate is; negative when it is worse."""
    return candidate - reference if higher_better else reference - candidate
