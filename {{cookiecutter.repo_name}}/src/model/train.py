"""Estimators: what can be trained, built from a name and parameters, with fixed seeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src.errors import ConfigError
from src.model.config import Task

EstimatorFactory = Callable[[dict[str, Any], int], BaseEstimator]


@dataclass(frozen=True)
class EstimatorSpec:
    build: EstimatorFactory
    # Linear models need standardised features; trees do not.
    scaled: bool


ESTIMATORS: dict[Task, dict[str, EstimatorSpec]] = {
    "classification": {
        "logistic_regression": EstimatorSpec(
            lambda p, seed: LogisticRegression(**{"max_iter": 2000, **p}, random_state=seed),
            scaled=True,
        ),
        "random_forest": EstimatorSpec(
            lambda p, seed: RandomForestClassifier(**p, random_state=seed), scaled=False
        ),
        "hist_gradient_boosting": EstimatorSpec(
            lambda p, seed: HistGradientBoostingClassifier(**p, random_state=seed), scaled=False
        ),
    },
    "regression": {
        "ridge": EstimatorSpec(lambda p, seed: Ridge(**p, random_state=seed), scaled=True),
        "random_forest": EstimatorSpec(
            lambda p, seed: RandomForestRegressor(**p, random_state=seed), scaled=False
        ),
        "hist_gradient_boosting": EstimatorSpec(
            lambda p, seed: HistGradientBoostingRegressor(**p, random_state=seed), scaled=False
        ),
    },
}
SELECTION_TESTS = {"classification": f_classif, "regression": f_regression}


def build_estimator(
    task: Task, name: str, params: dict[str, Any], seed: int, select_k_best: int | None = None
) -> Pipeline:
    """The model pipeline: optional feature selection, scaling when needed, the estimator."""
    specs = ESTIMATORS[task]
    if name not in specs:
        raise ConfigError(
            f"unknown {task} estimator {name!r}; choose one of: {', '.join(sorted(specs))}"
        )
    spec = specs[name]
    try:
        estimator = spec.build(params, seed)
    except TypeError as error:
        raise ConfigError(f"invalid parameters for {name}: {error}") from error
    steps: list[tuple[str, Any]] = []
    if select_k_best is not None:
        steps.append(("select", SelectKBest(SELECTION_TESTS[task], k=select_k_best)))
    if spec.scaled:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", estimator))
    return Pipeline(steps)
