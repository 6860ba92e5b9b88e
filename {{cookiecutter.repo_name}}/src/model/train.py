"""Estimators: what can be trained, built from a name and parameters, with fixed seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src.errors import ConfigError
from src.model.config import Task

EstimatorFactory = Callable[[dict[str, Any], int], BaseEstimator]


def _scaled(estimator: BaseEstimator) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


ESTIMATORS: dict[Task, dict[str, EstimatorFactory]] = {
    "classification": {
        "logistic_regression": lambda p, seed: _scaled(
            LogisticRegression(max_iter=2000, random_state=seed, **p)
        ),
        "random_forest": lambda p, seed: RandomForestClassifier(random_state=seed, **p),
        "hist_gradient_boosting": lambda p, seed: HistGradientBoostingClassifier(
            random_state=seed, **p
        ),
    },
    "regression": {
        "ridge": lambda p, seed: _scaled(Ridge(random_state=seed, **p)),
        "random_forest": lambda p, seed: RandomForestRegressor(random_state=seed, **p),
        "hist_gradient_boosting": lambda p, seed: HistGradientBoostingRegressor(
            random_state=seed, **p
        ),
    },
}


def build_estimator(task: Task, name: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    factories = ESTIMATORS[task]
    if name not in factories:
        raise ConfigError(
            f"unknown {task} estimator {name!r}; choose one of: {', '.join(sorted(factories))}"
        )
    try:
        return factories[name](params, seed)
    except TypeError as error:
        raise ConfigError(f"invalid parameters for {name}: {error}") from error


def fit_estimator(
    estimator: BaseEstimator, features: pd.DataFrame, label: pd.Series
) -> BaseEstimator:
    fitted: BaseEstimator = estimator.fit(features, label)
    return fitted
