"""Metrics, the naive baseline and the comparison rule the promotion gates use."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier, DummyRegressor
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

from src.model.config import Task


def build_baseline(task: Task) -> BaseEstimator:
    """The naive model a candidate must beat: class priors, or the mean."""
    if task == "classification":
        return DummyClassifier(strategy="prior")
    return DummyRegressor(strategy="mean")


def compute_metrics(
    task: Task, model: BaseEstimator, features: pd.DataFrame, label: pd.Series
) -> dict[str, float]:
    predicted = model.predict(features)
    if task == "regression":
        return {
            "rmse": math.sqrt(mean_squared_error(label, predicted)),
            "mae": float(mean_absolute_error(label, predicted)),
            "r2": float(r2_score(label, predicted)),
        }
    probabilities = model.predict_proba(features)
    binary = probabilities.shape[1] == 2
    scores = probabilities[:, 1] if binary else probabilities
    average = "binary" if binary else "macro"
    return {
        "accuracy": float(accuracy_score(label, predicted)),
        "f1": float(f1_score(label, predicted, average=average, zero_division=0)),
        "precision": float(precision_score(label, predicted, average=average, zero_division=0)),
        "recall": float(recall_score(label, predicted, average=average, zero_division=0)),
        "roc_auc": float(roc_auc_score(label, scores, multi_class="ovr")),
        "log_loss": float(log_loss(label, np.clip(probabilities, 1e-15, 1 - 1e-15))),
    }


def improvement(candidate: float, reference: float, higher_is_better: bool) -> float:
    """How much better the candidate is; negative when it is worse."""
    return candidate - reference if higher_is_better else reference - candidate
