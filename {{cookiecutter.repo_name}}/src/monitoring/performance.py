"""Live performance once ground-truth labels arrive, and the concept drift it reveals.

The model's metrics on the labelled predictions of the window (overall and per day) are
compared with its holdout metrics from training, stored as `metric.<name>` tags on the
registered version. A metric more than `max_relative_degradation` worse than at training
is a degradation: the relation between features and label moved (concept drift) when the
features themselves did not drift, or the model is extrapolating when they did.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from src.data.predictions import PREDICTION, PREDICTION_DATE
from src.model.config import Task
from src.model.mlflow_manager import METRIC_TAG_PREFIX
from src.monitoring.config import PerformanceConfig
from src.monitoring.drift import ColumnDrift

LIVE_METRICS: dict[Task, tuple[str, ...]] = {
    "classification": ("accuracy", "f1"),
    "regression": ("rmse", "mae"),
}
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "rmse": False, "mae": False}


@dataclass(frozen=True)
class PerformanceResult:
    task: Task
    labelled_rows: int
    live: dict[str, float]
    training: dict[str, float]
    degraded_metrics: list[str]
    by_day: list[dict[str, Any]]
    label_drift: ColumnDrift | None = None

    @property
    def concept_drift(self) -> bool:
        return bool(self.degraded_metrics)

    def verdict(self) -> str:
        live = ", ".join(f"{name} {value:.4f}" for name, value in self.live.items())
        training = ", ".join(f"{name} {value:.4f}" for name, value in self.training.items())
        state = "DEGRADED" if self.concept_drift else "performance ok"
        return f"{state} on {self.labelled_rows} labelled rows: {live} (training: {training})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "concept_drift": self.concept_drift}


def training_metrics_from_tags(tags: dict[str, str]) -> dict[str, float]:
    metrics = {}
    for key, value in tags.items():
        if key.startswith(METRIC_TAG_PREFIX):
            try:
                metrics[key.removeprefix(METRIC_TAG_PREFIX)] = float(value)
            except ValueError:
                continue
    return metrics


def compute_live_metrics(task: Task, label: pd.Series, prediction: pd.Series) -> dict[str, float]:
    if task == "regression":
        return {
            "rmse": math.sqrt(mean_squared_error(label, prediction)),
            "mae": float(mean_absolute_error(label, prediction)),
        }
    # Binary 0/1 labels score F1 of class 1, as training does; other label sets average classes.
    binary = set(pd.unique(pd.concat([label, prediction]))) <= {0, 1}
    return {
        "accuracy": float(accuracy_score(label, prediction)),
        "f1": float(
            f1_score(label, prediction, average="binary" if binary else "macro", zero_division=0)
        ),
    }


def is_degraded(metric: str, live: float, training: float, tolerance: float) -> bool:
    if HIGHER_IS_BETTER[metric]:
        return live < training - abs(training) * tolerance
    return live > training + abs(training) * tolerance


def evaluate_performance(
    labelled: pd.DataFrame,
    label: str,
    task: Task,
    training: dict[str, float],
    config: PerformanceConfig,
    label_drift: ColumnDrift | None = None,
) -> PerformanceResult:
    """Metrics of `labelled` (rows with both a prediction and a label), overall and by day."""
    names = LIVE_METRICS[task]
    live = compute_live_metrics(task, labelled[label], labelled[PREDICTION])
    by_day = []
    if PREDICTION_DATE in labelled.columns:
        for day, rows in labelled.groupby(PREDICTION_DATE, sort=True):
            day_metrics = compute_live_metrics(task, rows[label], rows[PREDICTION])
            by_day.append({"day": str(day), "rows": len(rows), **day_metrics})
    baseline = {name: training[name] for name in names if name in training}
    degraded = [
        name
        for name in names
        if name in baseline
        and is_degraded(name, live[name], baseline[name], config.max_relative_degradation)
    ]
    return PerformanceResult(
        task=task,
        labelled_rows=len(labelled),
        live=live,
        training=baseline,
        degraded_metrics=degraded,
        by_day=by_day,
        label_drift=label_drift,
    )
