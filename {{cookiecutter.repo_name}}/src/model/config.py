"""The training configuration (config/training.yaml), typed and checked on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from src.config import load_yaml_config
from src.errors import ConfigError
from src.model.metrics import metric_names

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


def parse_task(value: str) -> Task:
    for task in TASKS:
        if value == task:
            return task
    raise ConfigError(f"unknown task {value!r}; choose one of: {', '.join(TASKS)}")


class StrictModel(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ModelConfig(StrictModel):
    # Import path of a class with scikit-learn's estimator API, e.g.
    # sklearn.linear_model.LogisticRegression or lightgbm.LGBMClassifier.
    estimator: str = Field(pattern=r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
    # Fixed constructor parameters; searched ones (search.space) override them.
    params: dict[str, Any] = Field(default_factory=dict)


class PreprocessingConfig(StrictModel):
    # Feature selection inside the model pipeline: keep the k features with the strongest
    # univariate F-test; null keeps every feature. The model's input stays the whole view.
    select_k_best: int | None = Field(default=None, ge=1)
    # Standardise the features before the estimator: null decides by the estimator
    # (linear models, SVMs, neighbours and neural networks are scaled; trees are not).
    scale: bool | None = None


class ParamSpace(StrictModel):
    """One searched hyperparameter: a float or int range, or a list of choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def check_bounds(self) -> Self:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty `choices` list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs `low` and `high`")
        if self.low >= self.high:
            raise ValueError(f"`low` ({self.low}) must be less than `high` ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled range needs `low` > 0")
        if self.log and self.step is not None:
            raise ValueError("`log` and `step` cannot be combined")
        return self


class PrunerConfig(StrictModel):
    # median: stop a trial whose running CV score is worse than the median of earlier trials
    # at the same fold; successive_halving and hyperband are Optuna's bandit pruners.
    kind: Literal["median", "successive_halving", "hyperband", "none"] = "median"
    n_startup_trials: int = Field(default=5, ge=0)
    n_warmup_steps: int = Field(default=1, ge=0)


class SearchConfig(StrictModel):
    n_trials: int = Field(default=20, ge=1)
    cv_folds: int = Field(default=5, ge=2)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    space: dict[str, ParamSpace] = Field(default_factory=dict)


class EvaluationConfig(StrictModel):
    # Error analysis: the holdout is cut into this many quantile bins of one feature (or
    # its values, when it has that few) and the candidate scored on each.
    # null: the feature with the fewest values among the categorical ones and those with
    # at most `segments` values, else the first feature (so no dataset's column is named).
    segment_feature: str | None = None
    segments: int = Field(default=3, ge=2)


class PromotionConfig(StrictModel):
    # The metric the gates compare; whether higher is better comes from the metric itself.
    gate_metric: str
    min_improvement_over_baseline: float = Field(ge=0)
    min_improvement_over_production: float = Field(ge=0)


class IntegrationConfig(StrictModel):
    # Checks against the model loaded back by the `staging` alias before `production`.
    sample_rows: int = Field(default=50, ge=1)
    latency_budget_ms: float = Field(default=100, gt=0)


class DataConfig(StrictModel):
    # Training reads at most this many labelled rows: a sample seeded by `seed`, drawn by
    # the lake's SQL engine (stratified by label for classification), so the training
    # task's memory is set here and not by the size of the feature store.
    max_rows: int = Field(default=1_000_000, ge=1)
    # Rows of the drift reference stored with each model: a seeded sample of the training
    # rows (all of them when there are fewer).
    reference_rows: int = Field(default=50_000, ge=1)


class TrainingConfig(StrictModel):
    task: Task
    seed: int = 42
    test_size: float = Field(default=0.2, gt=0, lt=1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    evaluation: EvaluationConfig
    promotion: PromotionConfig
    integration: IntegrationConfig = Field(default_factory=IntegrationConfig)

    @model_validator(mode="after")
    def check_gate_metric(self) -> Self:
        names = metric_names(self.task)
        if self.promotion.gate_metric not in names:
            raise ValueError(
                f"promotion.gate_metric {self.promotion.gate_metric!r} is not a {self.task} "
                f"metric; choose one of: {', '.join(names)}"
            )
        return self

    def with_search(self, **changes: Any) -> TrainingConfig:
        """A validated copy with some search settings changed (quick runs, tests)."""
        search = {**self.search.model_dump(), **changes}
        return TrainingConfig.model_validate({**self.model_dump(), "search": search})


def load_training_config(path: Path) -> TrainingConfig:
    return load_yaml_config(path, TrainingConfig)
