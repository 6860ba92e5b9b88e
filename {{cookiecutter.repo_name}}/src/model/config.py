"""The training configuration (config/training.yaml), typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from src.config import load_yaml_config
from src.errors import ConfigError

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


def parse_task(value: str) -> Task:
    for task in TASKS:
        if value == task:
            return task
    raise ConfigError(f"unknown task {value!r}; choose one of: {', '.join(TASKS)}")


class ModelConfig(BaseModel):
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)


class PromotionConfig(BaseModel):
    gate_metric: str
    higher_is_better: bool
    min_improvement_over_baseline: float = Field(ge=0)
    min_improvement_over_production: float = Field(ge=0)


class TrainingConfig(BaseModel):
    task: Task
    seed: int = 42
    test_size: float = Field(default=0.2, gt=0, lt=1)
    model: ModelConfig
    promotion: PromotionConfig


def load_training_config(path: Path) -> TrainingConfig:
    return load_yaml_config(path, TrainingConfig)
