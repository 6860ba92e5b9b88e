"""The model pipeline: the configured estimator, built from its import path, behind the
encoding, imputation and scaling that the feature types and the estimator need.

`model.estimator` in config/training.yaml names any class with scikit-learn's estimator
API by import path (`sklearn.linear_model.LogisticRegression`, `lightgbm.LGBMClassifier`,
`xgboost.XGBRegressor`). Everything learned from data lives inside the one pipeline that
is logged, so the MLflow model takes the raw feature values, strings included.

The pipeline only holds the steps the features need: an all-numeric view without missing
values gets exactly [select] -> [scale] -> model.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from src.errors import ConfigError
from src.model.config import Task

SELECTION_TESTS = {"classification": f_classif, "regression": f_regression}
# Estimators of these modules compare features by magnitude (coefficients, distances,
# margins): they get standardised inputs unless preprocessing.scale says otherwise.
SCALED_MODULES = (
    "sklearn.linear_model",
    "sklearn.svm",
    "sklearn.neighbors",
    "sklearn.neural_network",
)
MODEL_STEP = "model"


@dataclass(frozen=True)
class FeatureKinds:
    """How the model pipeline treats each feature: numbers pass through (imputed when
    missing values are allowed and the estimator cannot take NaN), categories (strings
    and booleans) are one-hot encoded."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    nullable: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> FeatureKinds:
        """Kinds read off a DataFrame: non-numeric columns are categorical, columns with
        missing values nullable (for callers without a feature view: tests, notebooks)."""
        numeric = tuple(
            str(name)
            for name in frame.columns
            if pd.api.types.is_numeric_dtype(frame[name])
            and not pd.api.types.is_bool_dtype(frame[name])
        )
        categorical = tuple(str(name) for name in frame.columns if name not in numeric)
        nullable = frozenset(str(name) for name in frame.columns if frame[name].isna().any())
        return cls(numeric, categorical, nullable)


def resolve_estimator_class(path: str) -> type[BaseEstimator]:
    """The class named by `path` (module.Class), or a ConfigError saying what is wrong."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name or not class_name:
        raise ConfigError(
            f"model.estimator {path!r} is not an import path; name the class with its module, "
            "e.g. sklearn.linear_model.LogisticRegression or lightgbm.LGBMClassifier"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"model.estimator {path!r}: module {module_name!r} cannot be imported ({error}); "
            "add its package to pyproject.toml and run `make setup`"
        ) from error
    estimator = getattr(module, class_name, None)
    if not (
        inspect.isclass(estimator) and hasattr(estimator, "fit") and hasattr(estimator, "predict")
    ):
        raise ConfigError(
            f"model.estimator {path!r}: {module_name} has no estimator class {class_name!r} "
            "(a class with fit and predict)"
        )
    resolved: type[BaseEstimator] = estimator
    return resolved


def construct_estimator(task: Task, path: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """An instance of the configured estimator; seeded when it takes a `random_state`."""
    estimator_class = resolve_estimator_class(path)
    accepted = set(estimator_class().get_params()) if _constructible(estimator_class) else set()
    arguments = dict(params)
    if "random_state" in accepted and "random_state" not in arguments:
        arguments["random_state"] = seed
    try:
        estimator = estimator_class(**arguments)
    except TypeError as error:
        raise ConfigError(f"invalid parameters for {path}: {error}") from error
    fits_task = is_classifier(estimator) if task == "classification" else is_regressor(estimator)
    if not fits_task:
        kind = "classifier" if task == "classification" else "regressor"
        raise ConfigError(f"model.estimator {path!r} is not a {kind}, as task {task!r} needs")
    return estimator


def _constructible(estimator_class: type[BaseEstimator]) -> bool:
    try:
        estimator_class()
    except TypeError:  # required constructor arguments (meta-estimators)
        return False
    return True


def accepts_missing_values(estimator: BaseEstimator) -> bool:
    """Whether the estimator takes NaN itself (gradient boosting, LightGBM, XGBoost)."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(estimator).input_tags.allow_nan)
    except (ImportError, AttributeError, TypeError):  # scikit-learn < 1.6, foreign tags
        tags: dict[str, Any] = getattr(estimator, "_more_tags", dict)()
        return bool(tags.get("allow_nan", False))


def needs_scaling(estimator: BaseEstimator, scale: bool | None) -> bool:
    if scale is not None:
        return scale
    inner = getattr(estimator, "estimator", None)  # threshold tuners, calibrators
    target = inner if isinstance(inner, BaseEstimator) else estimator
    return type(target).__module__.startswith(SCALED_MODULES)


def build_estimator(
    task: Task,
    name: str,
    params: dict[str, Any],
    seed: int,
    select_k_best: int | None = None,
    kinds: FeatureKinds | None = None,
    scale: bool | None = None,
) -> Pipeline:
    """The model pipeline: encoding and imputation as the features need, optional feature
    selection, scaling when the estimator needs it, the estimator."""
    estimator = construct_estimator(task, name, params, seed)
    scaled = needs_scaling(estimator, scale)
    impute = not accepts_missing_values(estimator)
    steps: list[tuple[str, Any]] = []
    if kinds is not None and kinds.categorical:
        steps.append(("encode", build_encoder(kinds, impute)))
    elif kinds is not None and impute and kinds.nullable:
        # keep_empty_features: the width never changes, so serving keeps its layout.
        steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
    if select_k_best is not None:
        steps.append(("select", SelectKBest(SELECTION_TESTS[task], k=select_k_best)))
    if scaled:
        steps.append(("scale", StandardScaler()))
    steps.append((MODEL_STEP, estimator))
    return Pipeline(steps)


def build_encoder(kinds: FeatureKinds, impute: bool) -> ColumnTransformer:
    """Numbers (imputed when needed) next to one-hot encoded categories.

    A category not seen in training is encoded as none of the known ones (all zeros), the
    same online, in batch and in the MLflow pyfunc; a missing category is a category of
    its own.
    """
    numeric_nullable = impute and any(name in kinds.nullable for name in kinds.numeric)
    numeric: Any = (
        SimpleImputer(strategy="median", keep_empty_features=True)
        if numeric_nullable
        else "passthrough"
    )
    categories = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [
            ("numeric", numeric, list(kinds.numeric)),
            ("categorical", categories, list(kinds.categorical)),
        ],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def encoded_categories(model: Any) -> frozenset[str]:
    """The features a model pipeline one-hot encodes (its `encode` step's categories)."""
    if not isinstance(model, Pipeline) or "encode" not in model.named_steps:
        return frozenset()
    encoder = model.named_steps["encode"]
    return frozenset(
        str(column)
        for name, _, columns in encoder.transformers
        if name == "categorical"
        for column in columns
    )


def estimator_of(model: Any) -> Any:
    """The estimator at the end of a model pipeline (the model itself otherwise)."""
    if isinstance(model, Pipeline):
        return model.steps[-1][1]
    return model
