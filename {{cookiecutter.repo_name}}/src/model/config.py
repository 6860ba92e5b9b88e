"""The training configuration (config/training.yaml), typed and checked on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from src.errors import ConfigError
from src.model.metrics import metric_names
from src.settings import load_yaml_config

Task = Literal["classification", "regression"]


def parse_task(value: str) -> Task:
    for task in get_args(Task):
        if value == task:
            return task  # type: ignore[no-any-return]
    raise ConfigError(f"unknown task {value!r}; choose one of: {', '.join(get_args(Task))}")


class StrictModel(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ModelConfig(StrictModel):
    # Import path of a class with scikit-learn's estimator API.
    estimator: str = Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
    params: dict[str, Any] = Field(default_factory=dict)


class PreprocessingConfig(StrictModel):
    select_k_best: int | None = Field(default=None, ge=1)
    scale: bool | None = None


class ParamSpace(StrictModel):
    """One searched hyperparameter: a float or int range, or a list of choices (Optuna
    checks the bounds and names what is wrong)."""

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
