"""The model pipeline: the configured estimator behind the steps its features need.

`model.estimator` names any class with scikit-learn's estimator API by import path
(`sklearn.linear_model.LogisticRegression`, `lightgbm.LGBMClassifier`). Everything learned
from data lives inside the one pipeline that is logged, built from the contract's feature
kinds: categories (strings, booleans) one-hot encoded, nullable numbers imputed unless the
estimator takes NaN, then optional selection and scaling. An all-numeric view without
missing values gets exactly [select] -> [scale] -> model.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from sklearn.base import is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import get_tags

from src.data.feature_store import FeatureView
from src.errors import ConfigError
from src.model.config import Task, TrainingConfig

# Estimators of these modules compare features by magnitude (coefficients, distances):
# they get standardised inputs unless preprocessing.scale says otherwise.
SCALED_MODULES = tuple(
    f"sklearn.{name}" for name in ("linear_model", "svm", "neighbors", "neural_network")
)


def construct_estimator(task: Task, path: str, params: Mapping[str, Any], seed: int) -> Any:
    """The estimator named by `path` (module.Class), seeded when it takes a `random_state`
    that config does not set; a ConfigError says what is wrong with it."""
    module_name, _, class_name = path.rpartition(".")
    try:
        estimator_class = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError as error:
        raise ConfigError(
            f"model.estimator {path!r}: module {module_name!r} cannot be imported ({error}); "
            "add its package to pyproject.toml and run `make setup`"
        ) from error
    if not (inspect.isclass(estimator_class) and hasattr(estimator_class, "fit")):
        raise ConfigError(
            f"model.estimator {path!r}: {module_name} has no estimator {class_name!r}"
        )
    arguments = dict(params)
    if "random_state" in inspect.signature(estimator_class).parameters:
        arguments.setdefault("random_state", seed)
    try:
        estimator = estimator_class(**arguments)
    except TypeError as error:
        raise ConfigError(f"invalid parameters for {path}: {error}") from error
    if not (is_classifier(estimator) if task == "classification" else is_regressor(estimator)):
        kind = "classifier" if task == "classification" else "regressor"
        raise ConfigError(f"model.estimator {path!r} is not a {kind}, as task {task!r} needs")
    return estimator


def build_encoder(view: FeatureView, impute: bool) -> Any:
    """Numbers (median-imputed where they may be missing and the estimator needs it) next to
    one-hot categories; an unseen category encodes as none of the known ones, a missing
    one is a category of its own. None when no step is needed."""
    nullable = impute and any(name in view.nullable_features for name in view.numeric_features)
    # keep_empty_features: the width never changes, so serving keeps its layout.
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    if not view.categorical_features:
        return imputer if nullable else None
    return ColumnTransformer(
        [
            ("numeric", imputer if nullable else "passthrough", view.numeric_features),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                view.categorical_features,
            ),
        ],
        verbose_feature_names_out=False,
    )


def build_model(
    config: TrainingConfig, view: FeatureView, searched: Mapping[str, Any] | None = None
) -> Pipeline:
    """The model pipeline of the configured estimator with `searched` parameters."""
    params = {**config.model.params, **(searched or {})}
    estimator = construct_estimator(config.task, config.model.estimator, params, config.seed)
    steps: list[tuple[str, Any]] = []
    encoder = build_encoder(view, impute=not get_tags(estimator).input_tags.allow_nan)
    if encoder is not None:
        steps.append(("encode", encoder))
    if config.preprocessing.select_k_best is not None:
        test = f_classif if config.task == "classification" else f_regression
        steps.append(("select", SelectKBest(test, k=config.preprocessing.select_k_best)))
    scale = config.preprocessing.scale
    inner = getattr(estimator, "estimator", estimator)  # threshold tuners, calibrators
    if scale or (scale is None and type(inner).__module__.startswith(SCALED_MODULES)):
        steps.append(("scale", StandardScaler()))
    return Pipeline([*steps, ("model", estimator)])


def encoded_categories(model: Any) -> frozenset[str]:
    """The features a model pipeline one-hot encodes (its `encode` step's categories)."""
    if not isinstance(model, Pipeline) or "encode" not in model.named_steps:
        return frozenset()
    steps = getattr(model.named_steps["encode"], "transformers", [])
    return frozenset(str(c) for name, _, columns in steps if name == "categorical" for c in columns)
