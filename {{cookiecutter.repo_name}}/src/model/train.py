"""What a model is: its configuration (config/training.yaml, checked on load), its metrics as
scikit-learn scorers (so cross-validation, the holdout, segments and permutation importance
agree), and the configured estimator in one pipeline with everything it learns from data."""

import importlib
import inspect
from collections.abc import Mapping
from typing import Any, Literal, Self, cast, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.base import is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import get_tags

from src.data.feature_store import FeatureView
from src.errors import ConfigError

Task = Literal["classification", "regression"]
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
# Estimators of these modules compare features by magnitude (coefficients, distances):
# they get standardised inputs unless preprocessing.scale says otherwise.
SCALED_MODULES = tuple(
    f"sklearn.{m}" for m in ("linear_model", "svm", "neighbors", "neural_network")
)


def parse_task(value: str) -> Task:
    if value not in get_args(Task):
        raise ConfigError(f"unknown task {value!r}; choose one of: {', '.join(get_args(Task))}")
    return cast(Task, value)


class StrictModel(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ModelConfig(StrictModel):
    estimator: str = Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")  # module.Class
    params: dict[str, Any] = Field(default_factory=dict)
    # Packages besides the estimator's whose types a registered model may hold on load.
    trusted_packages: list[str] = Field(default_factory=list)


class PreprocessingConfig(StrictModel):
    select_k_best: int | None = Field(default=None, ge=1)
    scale: bool | None = None


class ParamSpace(StrictModel):
    # A float or int range, or choices; Optuna checks the bounds and names what is wrong.
    type: Literal["float", "int", "categorical"]
    low: float = 0
    high: float = 0
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    choices: list[Any] = Field(default_factory=list)


class SearchConfig(StrictModel):
    n_trials: int = Field(default=20, ge=1)
    cv_folds: int = Field(default=5, ge=2)
    space: dict[str, ParamSpace] = Field(default_factory=dict)


class EvaluationConfig(StrictModel):
    segment_feature: str | None = None
    segments: int = Field(default=3, ge=2)


class PromotionConfig(StrictModel):
    # The metric the search optimises and the gates compare; its direction is the metric's.
    gate_metric: str
    min_improvement_over_baseline: float = Field(ge=0)
    min_improvement_over_production: float = Field(ge=0)
    # Holdout scores a candidate must reach to be staged (at least, or at most for an error).
    required_holdout_scores: dict[str, float] = Field(default_factory=dict)


class IntegrationConfig(StrictModel):
    sample_rows: int = Field(default=50, ge=1)


class DataConfig(StrictModel):
    max_rows: int = Field(default=1_000_000, ge=1)
    reference_rows: int = Field(default=50_000, ge=1)


class TrainingConfig(StrictModel):
    task: Task
    seed: int = 42
    test_size: float = Field(default=0.2, gt=0, lt=1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    promotion: PromotionConfig
    integration: IntegrationConfig = Field(default_factory=IntegrationConfig)

    @model_validator(mode="after")
    def check_metric_names(self) -> Self:
        names = metric_names(self.task)
        for metric in [self.promotion.gate_metric, *self.promotion.required_holdout_scores]:
            if metric not in names:
                raise ValueError(
                    f"promotion metric {metric!r} is not a {self.task} metric; "
                    f"choose one of: {', '.join(names)}"
                )
        return self

    def with_search(self, **changes: Any) -> Self:
        """A validated copy with some search settings changed (quick runs, tests)."""
        search = {**self.search.model_dump(), **changes}
        return self.model_validate({**self.model_dump(), "search": search})


def metric_names(task: Task) -> list[str]:
    return list(CLASSIFICATION_SCORERS if task == "classification" else REGRESSION_SCORERS)


def scorer_name(task: Task, name: str, labels: pd.Series) -> str:
    if task == "regression":
        return REGRESSION_SCORERS[name]
    binary, other = CLASSIFICATION_SCORERS[name]
    return binary if set(np.unique(labels)) <= {0, 1} else other


def higher_is_better(task: Task, name: str) -> bool:
    return not scorer_name(task, name, pd.Series([0, 1])).startswith("neg_")


def score(
    task: Task,
    model: Any,
    features: pd.DataFrame,
    labels: pd.Series,
    names: list[str] | None = None,
    all_labels: pd.Series | None = None,
) -> dict[str, float]:
    """The named metrics (default: all the model gives); on a segment, undefined ones are NaN."""
    probabilities = task == "regression" or hasattr(model, "predict_proba")
    chosen = names or [n for n in metric_names(task) if probabilities or n not in PROBABILISTIC]
    reference = labels if all_labels is None else all_labels
    scorers = {name: scorer_name(task, name, reference) for name in chosen}
    scoring = check_scoring(model, scoring=scorers, raise_exc=all_labels is None)
    # With raise_exc=False a failure is its text: NaN.
    values = pd.to_numeric(pd.Series(scoring(model, features, labels)), errors="coerce")
    return {n: float(-values[n] if scorers[n].startswith("neg_") else values[n]) for n in chosen}


def construct_estimator(task: Task, path: str, params: Mapping[str, Any], seed: int) -> Any:
    """The estimator `path` (module.Class) names, seeded unless config sets `random_state`."""
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
    """Numbers (imputed if nullable and needed) beside one-hot categories; None if no step."""
    nullable = impute and any(name in view.nullable_features for name in view.numeric_features)
    # keep_empty_features: the width never changes, so serving keeps its layout.
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    if not view.categorical_features:
        return imputer if nullable else None
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [
            ("numeric", imputer if nullable else "passthrough", view.numeric_features),
            ("categorical", encoder, view.categorical_features),
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
    select = config.preprocessing.select_k_best
    # Missing values are imputed for an estimator that refuses them, and for SelectKBest.
    impute = select is not None or not get_tags(estimator).input_tags.allow_nan
    if (encoder := build_encoder(view, impute)) is not None:
        steps.append(("encode", encoder))
    if select is not None:
        test = f_classif if config.task == "classification" else f_regression
        steps.append(("select", SelectKBest(test, k=select)))
    scale = config.preprocessing.scale
    inner = getattr(estimator, "estimator", estimator)  # threshold tuners, calibrators
    if scale or (scale is None and type(inner).__module__.startswith(SCALED_MODULES)):
        steps.append(("scale", StandardScaler()))
    return Pipeline([*steps, ("model", estimator)])
