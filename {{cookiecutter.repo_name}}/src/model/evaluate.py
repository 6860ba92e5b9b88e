"""Holdout evaluation: metrics, the naive baseline, error analysis by segment, importances."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.inspection import permutation_importance

from src.errors import ConfigError
from src.model.config import Task
from src.model.metrics import get_metric, metric_names, predict, score, score_predictions

SEGMENT = "segment"
ROWS = "rows"
IMPORTANCE_REPEATS = 3


def build_baseline(task: Task) -> BaseEstimator:
    """The naive model a candidate must beat: class priors, or the mean."""
    if task == "classification":
        return DummyClassifier(strategy="prior")
    return DummyRegressor(strategy="mean")


def format_value(value: Any) -> str:
    return f"= {value:g}" if isinstance(value, float) else f"= {value}"


def segment_labels(values: pd.Series, segments: int) -> pd.Series:
    """Each row's segment, as an ordered categorical: the value itself for a feature with few
    values (sex, a category), else its quantile bin, named by its range."""
    if values.nunique() <= segments:
        names = values.map(format_value)
        return names.astype(pd.CategoricalDtype(sorted(names.dropna().unique()), ordered=True))
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        # A category of many values: its most frequent ones, the rest together.
        common = values.value_counts().index[: segments - 1]
        names = values.where(values.isin(common), other="(other)").map(format_value)
        return names.astype(pd.CategoricalDtype(sorted(names.dropna().unique()), ordered=True))
    bins = pd.qcut(values, q=segments, duplicates="drop")
    return bins.cat.rename_categories(
        [f"({interval.left:.4g}, {interval.right:.4g}]" for interval in bins.cat.categories]
    )


def score_segment(
    task: Task,
    labels: pd.Series,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    metric: str,
) -> float:
    """One metric on one segment; NaN where it is undefined (ROC AUC with a single class)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            return score_predictions(task, labels, predicted, probabilities, [metric])[metric]
    except ValueError:
        return float("nan")


def compute_segment_metrics(
    task: Task,
    model: Any,
    features: pd.DataFrame,
    label: pd.Series,
    feature: str,
    segments: int,
) -> pd.DataFrame:
    """One row per segment of `feature`: its size and every metric defined on it.

    A metric that needs both classes (ROC AUC) is NaN on a segment holding only one.
    """
    if feature not in features.columns:
        raise ConfigError(
            f"evaluation.segment_feature {feature!r} is not a feature; "
            f"choose one of: {', '.join(features.columns)}"
        )
    segment_of = segment_labels(features[feature], segments)
    predicted, probabilities = predict(task, model, features)
    rows = []
    for name, index in segment_of.groupby(segment_of, observed=True).groups.items():
        positions = segment_of.index.get_indexer(index)
        part = probabilities[positions] if probabilities is not None else None
        row: dict[str, Any] = {SEGMENT: f"{feature} {name}", ROWS: len(positions)}
        for metric in metric_names(task):
            row[metric] = score_segment(task, label.loc[index], predicted[positions], part, metric)
        rows.append(row)
    return pd.DataFrame(rows)


def compute_feature_importance(
    task: Task, model: Any, features: pd.DataFrame, label: pd.Series, metric: str, seed: int
) -> pd.DataFrame:
    """Permutation importance on the holdout: how much `metric` worsens when a feature is
    shuffled. Works for every estimator, linear or not, and for the whole model pipeline."""
    definition = get_metric(task, metric)
    sign = 1.0 if definition.higher_is_better else -1.0

    def scorer(estimator: Any, x: pd.DataFrame, y: pd.Series) -> float:
        return sign * score(task, estimator, x, y, [metric])[metric]

    result = permutation_importance(
        model, features, label, scoring=scorer, n_repeats=IMPORTANCE_REPEATS, random_state=seed
    )
    frame = pd.DataFrame(
        {
            "feature": features.columns,
            "importance": result.importances_mean,
            "std": result.importances_std,
        }
    )
    return frame.sort_values("importance", ascending=False, ignore_index=True)
